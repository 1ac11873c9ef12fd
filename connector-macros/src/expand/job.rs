//! `#[job]`: the `{Name}Job` marker with its `Job` impl, and `{Name}Io`, the type of the fn's
//! `io` parameter, from a validated model.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Path;
use syn::spanned::Spanned;

use super::{millis, retry_policy};
use crate::ast::job::{Job, Trigger};
use crate::attr::job::IntegrationArg;
use crate::names;

pub fn generate(job: &Job) -> TokenStream {
    let function = job.function;
    let user = function.to_tokens_keeping(|_| true);
    let (vis, name) = (&function.vis, &function.sig.ident);
    let marker = &job.marker;
    let (Some(payload), Some(output), Some(trigger)) = (&job.payload, &job.output, job.triggers.first()) else {
        return user;
    };
    let args = &job.args;
    let (id, job_name, version, description) =
        (&args.id.value, &args.name.value, &args.version.value, &job.description);
    let integrations = &args.integrations.0;

    let (trigger_type, scheduled, checks) = match trigger {
        Trigger::Event(event, key) => {
            let (checks, checked) = event_check(event, *key);
            (quote_spanned! {event.span()=> ::connector_runtime::OnEvent<#checked> }, None, checks)
        }
        Trigger::Connector { written, connector: Some(connector), function } => {
            (connector_trigger(written, connector, function), None, TokenStream::new())
        }
        Trigger::Connector { connector: None, .. } => return user,
        Trigger::Cron(expression) => {
            let expression = expression.trim();
            let schedule = quote! { ::connector_runtime::Schedule::Cron(#expression) };
            (on_schedule(marker), Some(schedule), TokenStream::new())
        }
        Trigger::Every(every) => {
            let every = millis(every);
            let schedule = quote! { ::connector_runtime::Schedule::Every(#every) };
            (on_schedule(marker), Some(schedule), TokenStream::new())
        }
    };
    // A scheduled job's payload is a `Tick`: `run` takes `<OnSchedule<Self> as JobTrigger>::Payload`,
    // so any other payload type is reported on the user's parameter, as for events and triggers.
    let scheduled = scheduled.map(|schedule| {
        quote! {
            impl ::connector_runtime::ScheduledJob for #marker {
                const SCHEDULE: ::connector_runtime::Schedule = #schedule;
            }
        }
    });

    let refs = integrations.iter().map(|IntegrationArg { key, connector }| {
        let key_text = key_text(key);
        quote! { ::connector_runtime::__private::IntegrationRef::of::<#connector>(#key_text) }
    });
    let retry = args.retry.as_ref().map(|retry| {
        let policy = retry_policy(retry);
        quote! { const RETRY: ::core::option::Option<::connector_runtime::RetryPolicy> = #policy; }
    });
    let concurrency = args.concurrency.as_ref().map(|n| {
        let n = usize::try_from(n.value).unwrap_or(usize::MAX);
        quote! { const CONCURRENCY: ::core::option::Option<usize> = ::core::option::Option::Some(#n); }
    });
    let marker_doc = names::doc_attrs(&format!("The `{id}` job: register it with `Engine::builder().job({marker})`."));
    let (io_item, io_impls, io_value) = io_struct(job);

    // Spanned on the user's fn: an error about the future (not `Send`) points at it, and a
    // conversion error on the error type (no `Into<JobError>`) at that type.
    let convert = quote_spanned! {function.error_span()=>
        ::connector_runtime::__private::job_result(result)
    };
    let run = quote_spanned! {name.span()=>
        async fn run(
            payload: #payload,
            io: &::connector_runtime::Io,
        ) -> ::core::result::Result<#output, ::connector_runtime::JobError> {
            let io = #io_value;
            let result = #name(payload, io).await;
            #convert
        }
    };
    quote! {
        #user

        #marker_doc
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #marker;

        #io_item

        const _: () = {
            #checks
            #io_impls

            impl ::connector_runtime::Job for #marker {
                type Trigger = #trigger_type;
                type Output = #output;
                const ID: &'static str = #id;
                const NAME: &'static str = #job_name;
                const VERSION: &'static str = #version;
                const DESCRIPTION: &'static str = #description;
                #retry
                #concurrency

                fn integrations() -> ::std::vec::Vec<::connector_runtime::IntegrationRef> {
                    ::std::vec::Vec::from([#(#refs),*])
                }

                #run
            }

            #scheduled
        };
    }
}

/// The check that `event = E` names a `#[derive(Event)]` type, and `E` as the job names it.
///
/// `E` is named `<E as __Checked<__EVENT>>::Type`, which is `E` itself once `__EVENT` is
/// evaluated; evaluating it checks `E: Event` with a `const fn` spanned on the user's type. A
/// type without the derive is then one error there, with the trait's message, and the
/// projection keyed by the failed constant is an error to rustc, so the bound on the job's
/// trigger and its payload's type are not reported again.
fn event_check(event: &Path, key: Span) -> (TokenStream, TokenStream) {
    let check = quote_spanned! {key=> const fn is_event<T: ::connector_runtime::Event>() {} };
    let call = quote_spanned! {event.span()=> is_event::<#event>(); };
    let checks = quote! {
        // `pub`, though no one can name it: the job's trigger type, public, goes through it.
        pub trait __Checked<const KEY: u64> {
            type Type: ?Sized;
        }
        impl<T: ?Sized, const KEY: u64> __Checked<KEY> for T {
            type Type = T;
        }
        const __EVENT: u64 = {
            #check
            #call
            0
        };
    };
    let checked = quote_spanned! {event.span()=> <#event as __Checked<__EVENT>>::Type };
    (checks, checked)
}

/// An integration's key as its manifest and the run's registry name it: `r#type` is `type`.
fn key_text(key: &syn::Ident) -> String {
    key.to_string().trim_start_matches("r#").to_owned()
}

fn on_schedule(marker: &syn::Ident) -> TokenStream {
    quote! { ::connector_runtime::OnSchedule<#marker> }
}

/// `OnTriggerFn<SimpleChat, KEY>`, where evaluating `KEY` checks what `trigger = ..` names:
/// a fn of the connector (`let _ = SimpleChat::message_received`: a misspelt one is rustc's
/// "no function" with its similar-name hint), and a `#[trigger]` fn, not an action or a helper
/// (a panic in const evaluation: one error, with this message, on the user's path). The failed
/// constant silences what would follow from it (the `JobTriggerFn` bound, the payload type).
fn connector_trigger(written: &Path, connector: &Path, function: &syn::Ident) -> TokenStream {
    let name = function.to_string();
    let name = name.trim_start_matches("r#");
    let connector_text = connector.to_token_stream().to_string().replace(' ', "");
    let action = format!(
        "`{name}` is an action of `{connector_text}`, not a trigger: a job is started by a `#[trigger]` fn \
         (`trigger = {connector_text}::some_trigger`), an `event`, a `cron` or an `every`; call actions from the job \
         through its `io`"
    );
    let other = format!(
        "`{name}` is not a `#[trigger]` fn of `{connector_text}`: `trigger = ..` names a fn marked `#[trigger(..)]` \
         in its `#[connector]` impl block"
    );
    let members = quote_spanned! {written.span()=> <#connector as ::connector_runtime::__private::Members> };
    // The panics point at the fn's name, the part of the path that is wrong.
    let panic_action = quote_spanned! {function.span()=> ::core::panic!(#action) };
    let panic_other = quote_spanned! {function.span()=> ::core::panic!(#other) };
    quote_spanned! {written.span()=>
        ::connector_runtime::OnTriggerFn<
            #connector,
            {
                let _ = #written;
                const KEY: u64 = ::connector_runtime::__private::fn_key(#name);
                if !::connector_runtime::__private::has_key(#members::TRIGGERS, KEY) {
                    if ::connector_runtime::__private::has_key(#members::ACTIONS, KEY) {
                        #panic_action;
                    }
                    #panic_other;
                }
                KEY
            },
        >
    }
}

/// The `io` type (an item beside the job), its impls (inside the job's `const _`), and the
/// expression that builds it in `run` from `io: &Io`.
///
/// With integrations it is a struct of one public client field per integration, and derefs to
/// the run's `Io` through the first client: there is no field of its own for rustc to list
/// among "available fields" when the job names an integration it did not declare. Without any
/// it is the run's `&Io` itself.
fn io_struct(job: &Job) -> (TokenStream, TokenStream, TokenStream) {
    let (vis, io, id) = (&job.function.vis, &job.io, &job.args.id.value);
    let integrations = &job.args.integrations.0;
    let Some(first) = integrations.first() else {
        let doc = names::doc_attrs(&format!(
            "The `io` of the `{id}` job: the run's [`Io`](::connector_runtime::Io), for its logger and id. Declare integrations in `#[job(integrations(key = Connector))]` to get a typed client field for each."
        ));
        let item = quote! {
            #doc
            #vis type #io<'io> = &'io ::connector_runtime::Io;
        };
        return (item, TokenStream::new(), quote! { io });
    };
    let doc = names::doc_attrs(&format!(
        "The `io` of the `{id}` job: one typed client field per integration declared in `integrations(..)`; derefs to [`Io`](::connector_runtime::Io) for the run's logger and id."
    ));
    let fields = integrations.iter().map(|IntegrationArg { key, connector }| {
        let doc =
            names::doc_attrs(&format!("The `{key}` integration: a typed client of each action of the connector."));
        quote! {
            #doc
            pub #key: <#connector as ::connector_runtime::__private::ConnectorMembers>::Client<'io>,
        }
    });
    let clients = integrations.iter().map(|IntegrationArg { key, connector }| {
        let key_text = key_text(key);
        quote! { #key: io.client::<#connector>(#key_text)?, }
    });
    let first = &first.key;
    let item = quote! {
        #doc
        #vis struct #io<'io> {
            #(#fields)*
        }
    };
    let impls = quote! {
        impl<'io> ::core::ops::Deref for #io<'io> {
            type Target = ::connector_runtime::Io;
            fn deref(&self) -> &::connector_runtime::Io {
                ::core::convert::AsRef::<::connector_runtime::Io>::as_ref(&self.#first)
            }
        }
    };
    (item, impls, quote! { #io { #(#clients)* } })
}
