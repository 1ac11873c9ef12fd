//! `#[job]`: parse the fn and its arguments, validate, expand into the `{Name}Job` marker with
//! its `Job` impl and the `{Name}Io` struct the fn's `io` parameter names.

use darling::Error;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Path, ReturnType, Type};

use crate::args::{self, IntegrationArg, JobArgs};
use crate::connector::{error_type_span, first_type_argument};
use crate::names;
use crate::policy;
use crate::schedule::{self, JobSchedule};

/// The job, as this crate models it.
struct JobDef {
    args: JobArgs,
    function: ItemFn,
    trigger: TriggerSource,
    payload: Type,
    output: Type,
    /// Where the fn names its error type (`E` of `Result<T, E>`): a conversion error lands here.
    error_span: Span,
    marker: Ident,
    io: Ident,
    description: String,
    /// `Some(RetryPolicy { .. })` from `retry(..)`.
    retry: Option<TokenStream>,
}

/// What starts the job.
enum TriggerSource {
    /// `event = SendMessage`
    Event(Path),
    /// `trigger = SimpleChat::message_received`: the path as written, and the connector's path.
    Connector { written: Path, connector: Path, function: Ident },
    /// `cron = ".."` or `every = ".."`.
    Schedule(JobSchedule),
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(error) => {
            let error = syn::Error::new(error.span(), "`#[job]` goes on an `async fn(payload, io) -> Result<T, E>`")
                .to_compile_error();
            return quote! { #error #item };
        }
    };
    match parse(args, function.clone()).and_then(|def| validate(&def).map(|()| def)) {
        Ok(def) => generate(&def),
        Err(errors) => {
            let errors = errors.write_errors();
            quote! { #function #errors }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// parse

fn parse(args: TokenStream, function: ItemFn) -> darling::Result<JobDef> {
    let mut errors = Error::accumulator();
    let args = errors.handle(args::parse::<JobArgs>(args));
    let trigger = args.as_ref().and_then(|args| errors.handle(trigger_source(args)));
    let signature = errors.handle(signature(&function));
    let retry =
        args.as_ref().and_then(|args| args.retry.as_ref()).and_then(|retry| errors.handle(policy::retry_policy(retry)));
    errors.finish()?;
    let (Some(args), Some(trigger), Some((payload, output))) = (args, trigger, signature) else {
        return Err(Error::custom("internal: job parts missing without an error"));
    };
    let name = &function.sig.ident;
    let description = args.description.clone().unwrap_or_else(|| names::doc_text(&function.attrs));
    Ok(JobDef {
        marker: names::generated("", name, "Job", name.span()),
        io: names::generated("", name, "Io", name.span()),
        args,
        trigger,
        payload,
        output,
        error_span: error_type_span(&function.sig.output),
        description,
        function,
        retry,
    })
}

fn trigger_source(args: &JobArgs) -> darling::Result<TriggerSource> {
    // Each trigger given, by key, with the span of its value.
    let given: Vec<(&str, Span)> = [
        args.event.as_ref().map(|event| ("event", event.span())),
        args.trigger.as_ref().map(|trigger| ("trigger", trigger.span())),
        args.cron.as_ref().map(|cron| ("cron", cron.span())),
        args.every.as_ref().map(|every| ("every", every.span())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let [_, (_, second), ..] = given.as_slice() {
        let keys: Vec<String> = given.iter().map(|(key, _)| format!("`{key} = ..`")).collect();
        let (last, rest) = keys.split_last().unwrap_or((&keys[0], &[]));
        return Err(Error::custom(format!(
            "a job has one trigger, and this one has {} and {last}: keep one of them",
            rest.join(", ")
        ))
        .with_span(second));
    }
    if let Some(event) = &args.event {
        return Ok(TriggerSource::Event(event.clone()));
    }
    if let Some(trigger) = &args.trigger {
        return connector_trigger(trigger);
    }
    if let Some(cron) = &args.cron {
        return schedule::cron(cron).map(TriggerSource::Schedule);
    }
    if let Some(every) = &args.every {
        let millis = schedule::every(every, "a job's interval")?;
        return Ok(TriggerSource::Schedule(JobSchedule::Every(millis)));
    }
    Err(Error::custom(
        "a job needs a trigger: `event = EventType` (a `#[derive(Event)]` type), `trigger = Connector::trigger_fn`, \
         `cron = \"*/5 * * * *\"` or `every = \"30s\"`",
    ))
}

/// `a::SimpleChat::message_received` -> connector `a::SimpleChat`, fn `message_received`.
fn connector_trigger(written: &Path) -> darling::Result<TriggerSource> {
    let mut connector = written.clone();
    let function = match connector.segments.pop() {
        Some(last) if !connector.segments.is_empty() => last.ident,
        _ => {
            return Err(Error::custom(
                "name the connector and its trigger fn: `trigger = SimpleChat::message_received`",
            )
            .with_span(written));
        }
    };
    // Drop the `::` the popped segment leaves behind.
    connector.segments.pop_punct();
    Ok(TriggerSource::Connector { written: written.clone(), connector, function })
}

/// Checks the fn's shape and returns its payload and output types.
fn signature(function: &ItemFn) -> darling::Result<(Type, Type)> {
    let sig = &function.sig;
    let mut errors = Error::accumulator();
    if sig.asyncness.is_none() {
        errors.push(
            Error::custom(format!("`#[job]` fns must be `async`: write `async fn {}`", sig.ident))
                .with_span(&sig.fn_token),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(Error::custom("`#[job]` fns cannot be generic").with_span(&sig.generics));
    }
    let io_name = names::generated("", &sig.ident, "Io", sig.ident.span());
    let typed: Vec<&Type> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(receiver) => {
                errors.push(Error::custom("`#[job]` fns take no `self`").with_span(receiver));
                None
            }
        })
        .collect();
    let payload = match typed.as_slice() {
        [payload, io] => {
            let io_ok = matches!(io, Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == io_name));
            if !io_ok {
                errors.push(
                    Error::custom(format!(
                        "the `io` parameter's type is generated by `#[job]`: write `io: {io_name}<'_>`"
                    ))
                    .with_span(&type_name_span(io)),
                );
            }
            Some((*payload).clone())
        }
        _ => {
            let span = if sig.inputs.is_empty() { sig.ident.span() } else { sig.inputs.span() };
            errors.push(
                Error::custom(format!("`#[job]` fns take two parameters: the payload and `io: {io_name}<'_>`"))
                    .with_span(&span),
            );
            None
        }
    };
    let output = match &sig.output {
        ReturnType::Type(_, ty) => match first_type_argument(ty) {
            Some(ok) => Some(ok.clone()),
            None => {
                errors.push(Error::custom("a job returns `Result<T, E>`").with_span(&**ty));
                None
            }
        },
        ReturnType::Default => {
            errors.push(Error::custom("a job returns `Result<T, E>`").with_span(&sig.ident));
            None
        }
    };
    errors.finish()?;
    match (payload, output) {
        (Some(payload), Some(output)) => Ok((payload, output)),
        _ => Err(Error::custom("internal: signature missing without an error")),
    }
}

/// The span of a type's name: `Io` in `&connector_runtime::Io`. An error can carry one token's
/// span only, and the name says more than a leading `&` or crate name.
fn type_name_span(ty: &Type) -> Span {
    match ty {
        Type::Reference(reference) => type_name_span(&reference.elem),
        Type::Path(path) => path.path.segments.last().map_or_else(|| ty.span(), |last| last.ident.span()),
        other => other.span(),
    }
}

// ---------------------------------------------------------------------------------------------
// validate

fn validate(def: &JobDef) -> darling::Result<()> {
    let mut errors = Error::accumulator();
    errors.handle(args::check_id("job", &def.args.id));
    errors.handle(args::check_version(&def.args.version));
    if let Some(concurrency) = &def.args.concurrency
        && **concurrency == 0
    {
        errors.push(
            Error::custom("`concurrency` is how many runs may execute at once: use 1 or more")
                .with_span(&concurrency.span()),
        );
    }
    errors.finish()
}

// ---------------------------------------------------------------------------------------------
// expand

fn generate(def: &JobDef) -> TokenStream {
    let function = &def.function;
    let (vis, name) = (&function.vis, &function.sig.ident);
    let (marker, io, payload, output) = (&def.marker, &def.io, &def.payload, &def.output);
    let (id, job_name, version, description) =
        (def.args.id.as_str(), &def.args.name, def.args.version.as_str(), &def.description);
    let integrations = &def.args.integrations.0;

    let trigger = match &def.trigger {
        TriggerSource::Event(event) => {
            quote_spanned! {event.span()=> ::connector_runtime::OnEvent<#event> }
        }
        TriggerSource::Connector { written, connector, function } => {
            let name = function.to_string();
            let name = name.trim_start_matches("r#");
            // The key names the user's fn too: a misspelt trigger is then reported once, as a
            // missing fn (with rustc's "similar name" hint), and the failed constant silences
            // the follow-up errors about `TriggerFn` not being implemented.
            quote_spanned! {written.span()=>
                ::connector_runtime::OnTriggerFn<
                    #connector,
                    { let _ = #written; ::connector_runtime::__private::fn_key(#name) },
                >
            }
        }
        TriggerSource::Schedule(_) => quote! { ::connector_runtime::OnSchedule<#marker> },
    };
    // A scheduled job's payload is a `Tick`: `run` takes `<OnSchedule<Self> as JobTrigger>::Payload`,
    // so any other payload type is reported on the user's parameter, as for events and triggers.
    let scheduled = match &def.trigger {
        TriggerSource::Schedule(schedule) => {
            let schedule = schedule.expand();
            Some(quote! {
                impl ::connector_runtime::ScheduledJob for #marker {
                    const SCHEDULE: ::connector_runtime::Schedule = #schedule;
                }
            })
        }
        _ => None,
    };

    let fields = integrations.iter().map(|IntegrationArg { key, connector }| {
        let doc =
            names::doc_attrs(&format!("The `{key}` integration: a typed client of each action of the connector."));
        quote! {
            #doc
            pub #key: <#connector as ::connector_runtime::__private::ConnectorMembers>::Client<'io>,
        }
    });
    let clients = integrations.iter().map(|IntegrationArg { key, connector }| {
        let key_text = key.to_string();
        quote! { #key: io.client::<#connector>(#key_text)?, }
    });
    let refs = integrations.iter().map(|IntegrationArg { key, connector }| {
        let key_text = key.to_string();
        quote! { ::connector_runtime::__private::IntegrationRef::of::<#connector>(#key_text) }
    });

    let retry = def.retry.as_ref().map(|policy| {
        quote! { const RETRY: ::core::option::Option<::connector_runtime::RetryPolicy> = #policy; }
    });
    let concurrency = def.args.concurrency.as_ref().map(|n| {
        let n = **n;
        quote! { const CONCURRENCY: ::core::option::Option<usize> = ::core::option::Option::Some(#n); }
    });
    let marker_doc = names::doc_attrs(&format!("The `{id}` job: register it with `Engine::builder().job({marker})`."));
    let io_doc = names::doc_attrs(&format!(
        "The `io` of the `{id}` job: one typed client field per integration; derefs to [`Io`](::connector_runtime::Io) for the run's logger and id."
    ));

    // Spanned on the user's fn, so an error about the future (not `Send`) points at it, and a
    // conversion error on the error type (no `Into<JobError>`) at that type.
    let convert = quote_spanned! {def.error_span=>
        ::connector_runtime::__private::job_result(result)
    };
    let run = quote_spanned! {name.span()=>
        async fn run(
            payload: #payload,
            io: &::connector_runtime::Io,
        ) -> ::core::result::Result<#output, ::connector_runtime::JobError> {
            let io = #io { #(#clients)* io };
            let result = #name(payload, io).await;
            #convert
        }
    };
    quote! {
        #function

        #marker_doc
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #marker;

        #io_doc
        #vis struct #io<'io> {
            #(#fields)*
            io: &'io ::connector_runtime::Io,
        }

        impl<'io> ::core::ops::Deref for #io<'io> {
            type Target = ::connector_runtime::Io;
            fn deref(&self) -> &::connector_runtime::Io {
                self.io
            }
        }

        impl ::connector_runtime::Job for #marker {
            type Trigger = #trigger;
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
    }
}
