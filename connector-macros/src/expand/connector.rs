//! `#[connector]`: the `Connector` impl, `init`, the typed client, one constant and one
//! `ActionFn`/`TriggerFn`/`PollFn` impl per member, from a validated model.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use super::{cfg_attrs, retry_policy, signature_scheme, subscription};
use crate::ast::ImplBlock;
use crate::ast::connector::{Connector, Kind, Member, member_attr};
use crate::names;

/// The user's block, then everything generated. Helpers (the members' keys and the checks of
/// their types) live in `const _: () = { .. };`, out of the user's namespace.
pub fn generate(block: &ImplBlock, connector: &Connector) -> TokenStream {
    let user = block.to_tokens_keeping(|attr| member_attr(attr).is_none());
    let ty = &connector.ty;
    let client = client_name(ty);
    let client_struct = client_struct(ty, &client);
    let keys = connector.members.iter().map(|member| member_key_const(member, member.attr_span));
    let init = init(connector);
    let constants = connector.members.iter().map(|member| member_const(ty, member));
    let connector_impl = connector_impl(connector);
    let members = members_impl(ty, &client, &connector.members);
    let client_impl = client_impl(ty, &client, &connector.members);
    let member_impls = connector.members.iter().map(|member| member_impl(ty, member));
    quote! {
        #user

        #client_struct

        const _: () = {
            #(#keys)*

            impl #ty {
                #init
                #(#constants)*
            }

            #connector_impl

            #members

            #client_impl

            #(#member_impls)*
        };
    }
}

/// `SimpleChatClient`.
pub fn client_name(ty: &Ident) -> Ident {
    let name = ty.to_string();
    names::ident(&format!("{}Client", name.trim_start_matches("r#")), ty.span())
}

/// The client struct, the same in an expansion and a fallback.
pub fn client_struct(ty: &Ident, client: &Ident) -> TokenStream {
    let doc = names::doc_attrs(&format!(
        "The typed client of the [`{ty}`] connector: one method per action, each run as a step of the job's run.\n\nJobs reach it through their `io` (`io.chat.send_message(\"step-key\", input)`)."
    ));
    quote! {
        #doc
        #[derive(Clone, Copy)]
        pub struct #client<'io> {
            io: &'io ::connector_runtime::Io,
            integration: &'io ::connector_runtime::Integration<#ty>,
            retry: ::core::option::Option<::connector_runtime::RetryPolicy>,
        }
    }
}

/// The client's `AsRef<Io>` (a job's `io` reaches the run through its first client) and
/// `with_retry`, the same in an expansion and a fallback.
pub fn client_common(client: &Ident) -> (TokenStream, TokenStream) {
    let as_ref = quote! {
        impl<'io> ::core::convert::AsRef<::connector_runtime::Io> for #client<'io> {
            fn as_ref(&self) -> &::connector_runtime::Io {
                self.io
            }
        }
    };
    let with_retry = quote! {
        /// This client with a retry policy for its calls, over the actions' and the job's.
        pub fn with_retry(self, policy: ::connector_runtime::RetryPolicy) -> Self {
            #client { retry: ::core::option::Option::Some(policy), ..self }
        }
    };
    (as_ref, with_retry)
}

/// The name of a member's key constant: `__KEY_SEND_MESSAGE`. No local of the generated code
/// can shadow it (a fn parameter named like the member would).
fn key_name(member: &Member) -> Ident {
    let name = member.name();
    names::ident(&format!("__KEY_{}", names::screaming_snake(&name.to_string())), name.span())
}

/// `{ __KEY_SEND_MESSAGE }`, the const argument naming a member, spanned on the fn's name: rustc
/// prints an unevaluated const argument as its source text, so its messages read
/// `ActionFn<send_message>`.
fn key(member: &Member) -> TokenStream {
    let name = key_name(member);
    quote_spanned! {member.name().span()=> { #name } }
}

/// `const __KEY_SEND_MESSAGE: u64 = { checks; fn_key("send_message") };`
///
/// The checks call a `const fn` bounded by the trait a member's type must implement, spanned on
/// the user's type: a missing derive is reported there once, with the trait's message (and "required
/// by a bound" on the member's attribute), and the key it leaves unevaluated silences every impl
/// keyed by it, where the same bound would fail again (a trigger's payload is its `Payload`, its
/// `Output` and its job's `Output` at once).
fn member_key_const(member: &Member, attr_span: Span) -> TokenStream {
    let name = key_name(member);
    let text = member.name().to_string();
    let text = text.trim_start_matches("r#");
    let cfgs = cfg_attrs(&member.cfgs);
    let mut bounds = Vec::new();
    let mut checks = Vec::new();
    let mut check = |check: &str, bound: &str, ty: &Option<Type>| {
        if let Some(ty) = ty {
            let check = Ident::new(check, attr_span);
            if !bounds.iter().any(|(name, _): &(Ident, Ident)| *name == check) {
                bounds.push((check.clone(), Ident::new(bound, attr_span)));
            }
            checks.push(quote_spanned! {ty.span()=> #check::<#ty>(); });
        }
    };
    match member.kind {
        Kind::Action => {
            check("action_input", "ActionInput", &member.input);
            check("action_output", "ActionOutput", &member.output);
        }
        Kind::Trigger => {
            check("payload", "Payload", &member.input);
            if !same_type(&member.input, &member.output) {
                check("payload", "Payload", &member.output);
            }
        }
        Kind::Poll => {
            check("payload", "Payload", &member.output);
            check("poll_cursor", "PollCursor", &member.cursor);
        }
    }
    let fns = bounds.iter().map(|(check, bound)| {
        quote_spanned! {attr_span=> const fn #check<T: ::connector_runtime::#bound>() {} }
    });
    quote! {
        #cfgs
        const #name: u64 = {
            #(#fns)*
            #(#checks)*
            ::connector_runtime::__private::fn_key(#text)
        };
    }
}

/// Whether two types are written alike (then one check covers both).
fn same_type(a: &Option<Type>, b: &Option<Type>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => quote!(#a).to_string() == quote!(#b).to_string(),
        _ => false,
    }
}

fn init(connector: &Connector) -> TokenStream {
    let (ty, config) = (&connector.ty, &connector.args.config.0);
    let doc = names::doc_attrs(&format!(
        "An instance of the `{}` connector with this config, to register with the engine.",
        connector.args.id.value
    ));
    quote! {
        #doc
        pub fn init(config: #config) -> ::connector_runtime::Integration<#ty> {
            ::connector_runtime::Integration::new(config)
        }
    }
}

/// `pub const SEND_MESSAGE: ActionOf<SimpleChat, { fn_key("send_message") }>`: names the member
/// in ordinary code (`integration.call(SimpleChat::SEND_MESSAGE, input)`). Its key is written
/// out, not the checked constant's name, so the type reads well in the docs; the two are equal.
fn member_const(ty: &Ident, member: &Member) -> TokenStream {
    let vis = &member.function.vis;
    let name = names::constant(member.name());
    let text = member.name().to_string();
    let text = text.trim_start_matches("r#");
    let key = quote_spanned! {member.name().span()=> { ::connector_runtime::__private::fn_key(#text) } };
    let member_type = member_type(ty, member.kind, &key);
    let cfgs = cfg_attrs(&member.cfgs);
    let doc = names::doc_attrs(&format!(
        "The `{}` {} (the `{}` fn), as a value.",
        member.args.id.value,
        member.kind.attr(),
        member.name()
    ));
    quote! {
        #cfgs
        #doc
        #vis const #name: #member_type = <#member_type>::new();
    }
}

/// `ActionOf<SimpleChat, KEY>`, `TriggerOf<..>` or `PollOf<..>`.
pub fn member_type(ty: &Ident, kind: Kind, key: &TokenStream) -> TokenStream {
    match kind {
        Kind::Action => quote! { ::connector_runtime::ActionOf<#ty, #key> },
        Kind::Trigger => quote! { ::connector_runtime::TriggerOf<#ty, #key> },
        Kind::Poll => quote! { ::connector_runtime::PollOf<#ty, #key> },
    }
}

fn connector_impl(connector: &Connector) -> TokenStream {
    let args = &connector.args;
    let (ty, config) = (&connector.ty, &args.config.0);
    let (id, name, version, description) =
        (&args.id.value, &args.name.value, &args.version.value, &connector.description);
    let type_name = ty.to_string();
    let members = &connector.members;
    let list = |wanted: &dyn Fn(&Member) -> bool, item: &dyn Fn(&Member) -> TokenStream| {
        let items = members.iter().filter(|member| wanted(member)).map(|member| {
            let cfgs = cfg_attrs(&member.cfgs);
            let item = item(member);
            quote! { #cfgs #item }
        });
        quote! { ::std::vec::Vec::from([#(#items),*]) }
    };
    let actions = list(&|m| m.kind == Kind::Action, &|m| {
        let member_type = member_type(ty, m.kind, &key(m));
        quote! { ::connector_runtime::__private::ActionManifest::of::<#member_type>() }
    });
    let triggers = list(&|m| m.kind.is_trigger(), &|m| {
        let member_type = member_type(ty, m.kind, &key(m));
        match m.kind {
            Kind::Poll => quote! { ::connector_runtime::__private::TriggerManifest::of_poll::<#member_type>() },
            _ => quote! { ::connector_runtime::__private::TriggerManifest::of::<#member_type>() },
        }
    });
    let rate_limit = args.rate_limit.as_ref().map(|limit| {
        let option = |value: &Option<crate::attr::value::Int>| match value {
            Some(n) => {
                let n = u32::try_from(n.value).unwrap_or(u32::MAX);
                quote! { ::core::option::Option::Some(#n) }
            }
            None => quote! { ::core::option::Option::None },
        };
        let (per_second, burst, concurrency) =
            (option(&limit.per_second), option(&limit.burst), option(&limit.concurrency));
        quote! {
            const RATE_LIMIT: ::connector_runtime::RateLimit = ::connector_runtime::RateLimit {
                per_second: #per_second, burst: #burst, concurrency: #concurrency,
            };
        }
    });
    let auth = args.auth.as_ref().map(|auth| {
        let auth = &auth.0;
        quote! {
            fn auth(config: &#config) -> ::connector_runtime::client::Auth {
                #auth(config)
            }
        }
    });
    let check = args.check.as_ref().map(|check| {
        let check = &check.0;
        quote! {
            const HAS_CHECK: bool = true;

            async fn check(
                ctx: &::connector_runtime::ConnectorContext<#config>,
            ) -> ::core::result::Result<(), ::connector_runtime::ActionError> {
                ::connector_runtime::__private::action_result(#check(ctx).await)
            }
        }
    });
    quote! {
        impl ::connector_runtime::Connector for #ty {
            type Config = #config;
            const ID: &'static str = #id;
            const NAME: &'static str = #name;
            const VERSION: &'static str = #version;
            const DESCRIPTION: &'static str = #description;
            const TYPE_NAME: &'static str = #type_name;
            #rate_limit

            fn actions() -> ::std::vec::Vec<::connector_runtime::__private::ActionManifest> {
                #actions
            }

            fn triggers() -> ::std::vec::Vec<::connector_runtime::__private::TriggerManifest> {
                #triggers
            }

            #auth
            #check
        }
    }
}

/// The engine's side of the connector: the keys of its actions and triggers (for a job's check
/// of `trigger = ..`), its typed client, and the walk over its members the engine registers them
/// by, each boxed once.
fn members_impl(ty: &Ident, client: &Ident, members: &[Member]) -> TokenStream {
    let keys = |wanted: fn(Kind) -> bool| {
        let keys = members.iter().filter(|member| wanted(member.kind)).map(|member| {
            let cfgs = cfg_attrs(&member.cfgs);
            let name = member.name().to_string();
            let name = name.trim_start_matches("r#");
            quote! { #cfgs ::connector_runtime::__private::fn_key(#name) }
        });
        quote! { &[#(#keys),*] }
    };
    let (actions, triggers) = (keys(|kind| kind == Kind::Action), keys(Kind::is_trigger));
    let visits = members.iter().map(|member| {
        let (cfgs, key) = (cfg_attrs(&member.cfgs), key(member));
        let visit = match member.kind {
            Kind::Action => quote! { visitor.action::<#key>(); },
            Kind::Poll => quote! { visitor.poll::<#key>(); },
            Kind::Trigger => {
                let subscription = match member.args.webhook.as_ref().and_then(subscription) {
                    Some(pair) => quote! { ::core::option::Option::Some(#pair) },
                    None => quote! { ::core::option::Option::None },
                };
                quote! { visitor.trigger::<#key>(#subscription); }
            }
        };
        quote! { #cfgs #visit }
    });
    quote! {
        #[doc(hidden)]
        impl ::connector_runtime::__private::ConnectorMembers for #ty {
            const ACTIONS: &'static [u64] = #actions;
            const TRIGGERS: &'static [u64] = #triggers;
            type Client<'io> = #client<'io>;

            fn client<'io>(
                io: &'io ::connector_runtime::Io,
                integration: &'io ::connector_runtime::Integration<Self>,
            ) -> #client<'io> {
                #client { io, integration, retry: ::core::option::Option::None }
            }

            fn visit<V: ::connector_runtime::__private::MemberVisitor<Self>>(visitor: &mut V) {
                #(#visits)*
            }
        }
    }
}

fn client_impl(ty: &Ident, client: &Ident, members: &[Member]) -> TokenStream {
    let (as_ref, with_retry) = client_common(client);
    let methods = members.iter().filter(|member| member.kind == Kind::Action).map(|member| client_method(ty, member));
    quote! {
        #as_ref

        impl<'io> #client<'io> {
            #with_retry

            #(#methods)*
        }
    }
}

fn client_method(ty: &Ident, member: &Member) -> TokenStream {
    let (Some(input), Some(output)) = (&member.input, &member.output) else {
        return TokenStream::new();
    };
    let (function, vis) = (member.name(), &member.function.vis);
    let action = member_type(ty, member.kind, &key(member));
    let cfgs = cfg_attrs(&member.cfgs);
    let mut doc = member.doc.clone();
    if !doc.is_empty() {
        doc.push_str("\n\n");
    }
    doc.push_str(&format!(
        "Calls the `{}` action as the step `key` of this run: recorded with its input and output, and never run twice under one key.",
        member.args.id.value
    ));
    let doc = names::doc_attrs(&doc);
    // Spanned on the user's fn name, so "go to definition" on a client call lands on the action.
    quote_spanned! {function.span()=>
        #cfgs
        #doc
        // An action may be used only by id (a CLI, an MCP tool) and never through a job's io.
        #[allow(dead_code)]
        #vis async fn #function(
            &self,
            key: &str,
            input: #input,
        ) -> ::core::result::Result<#output, ::connector_runtime::StepError> {
            self.io.call_with::<#action>(self.integration, key, input, self.retry).await
        }
    }
}

/// `impl ActionFn<KEY> for SimpleChat` (or `TriggerFn`, `PollFn`), and a trigger's
/// `JobTriggerFn`: on the connector type itself, so the impl is as visible as the connector and
/// may name every type the connector can.
fn member_impl(ty: &Ident, member: &Member) -> TokenStream {
    let (Some(input), Some(output)) = (&member.input, &member.output) else {
        return TokenStream::new();
    };
    let function = member.name();
    let key = key(member);
    let cfgs = cfg_attrs(&member.cfgs);
    let (id, name, description) = (&member.args.id.value, &member.args.name.value, member.description());
    // Spanned on the user's error type: a conversion error (no `Into<ActionError>`) lands there.
    let convert = quote_spanned! {member.function.error_span()=>
        ::connector_runtime::__private::action_result(result)
    };
    let config = quote! { <#ty as ::connector_runtime::Connector>::Config };
    let job_trigger = member.kind.is_trigger().then(|| {
        quote! {
            #cfgs
            impl ::connector_runtime::__private::JobTriggerFn<#key> for #ty {
                type Output = #output;
                const ID: &'static str = #id;
            }
        }
    });
    let member_impl = match member.kind {
        Kind::Action => {
            let retry = member.args.retry.as_ref().map(|retry| {
                let policy = retry_policy(retry);
                quote! { const RETRY: ::core::option::Option<::connector_runtime::RetryPolicy> = #policy; }
            });
            let args = &member.args;
            let [read_only, idempotent] =
                [&args.read_only, &args.idempotent].map(crate::attr::member::MemberArgs::flag);
            let destructive = match args.destructive.as_ref().map(|flag| flag.0) {
                Some(destructive) => quote! { ::core::option::Option::Some(#destructive) },
                None => quote! { ::core::option::Option::None },
            };
            let hints = (read_only || args.destructive.is_some() || idempotent).then(|| {
                quote! {
                    const HINTS: ::connector_runtime::ActionHints =
                        ::connector_runtime::ActionHints::new(#read_only, #destructive, #idempotent);
                }
            });
            // Spanned on the user's fn: an error about the future (not `Send`) points at it.
            let run = quote_spanned! {function.span()=>
                async fn run(
                    ctx: &::connector_runtime::ConnectorContext<#config>,
                    input: #input,
                ) -> ::core::result::Result<#output, ::connector_runtime::ActionError> {
                    let result = #ty::#function(ctx, input).await;
                    #convert
                }
            };
            quote! {
                #cfgs
                impl ::connector_runtime::__private::ActionFn<#key> for #ty {
                    type Input = #input;
                    type Output = #output;
                    const ID: &'static str = #id;
                    const NAME: &'static str = #name;
                    const DESCRIPTION: &'static str = #description;
                    #retry
                    #hints

                    #run
                }
            }
        }
        Kind::Trigger => {
            let signature = member.args.webhook.as_ref().map(|webhook| {
                let scheme = signature_scheme(webhook);
                quote! {
                    fn signature(
                        config: &::std::sync::Arc<#config>,
                    ) -> ::core::option::Option<::connector_runtime::__private::SignatureScheme> {
                        #scheme
                    }
                }
            });
            let unsigned = member
                .args
                .webhook
                .as_ref()
                .and_then(|webhook| webhook.unsigned.as_ref())
                .filter(|flag| flag.0)
                .map(|_| quote! { const UNSIGNED: bool = true; });
            let run = quote_spanned! {function.span()=>
                async fn run(
                    ctx: &::connector_runtime::ConnectorContext<#config>,
                    input: #input,
                ) -> ::core::result::Result<::core::option::Option<#output>, ::connector_runtime::ActionError> {
                    let result = #ty::#function(ctx, input).await;
                    #convert
                }
            };
            quote! {
                #cfgs
                impl ::connector_runtime::__private::TriggerFn<#key> for #ty {
                    type Payload = #input;
                    type Output = #output;
                    const ID: &'static str = #id;
                    const NAME: &'static str = #name;
                    const DESCRIPTION: &'static str = #description;
                    #signature
                    #unsigned

                    #run
                }
            }
        }
        Kind::Poll => {
            let (Some(cursor), Some(poll)) = (&member.cursor, &member.args.poll) else {
                return TokenStream::new();
            };
            let millis = poll.every.millis;
            // Spanned on the user's cursor parameter: a cursor type other than `Polled`'s is
            // reported there.
            let cursor_argument = quote_spanned! {input.span()=> cursor };
            let mut callee = ty.clone();
            callee.set_span(function.span());
            let run = quote_spanned! {function.span()=>
                async fn poll(
                    ctx: &::connector_runtime::ConnectorContext<#config>,
                    cursor: ::core::option::Option<#cursor>,
                ) -> ::core::result::Result<::connector_runtime::Polled<#output, #cursor>, ::connector_runtime::ActionError> {
                    let result = #callee::#function(ctx, #cursor_argument).await;
                    #convert
                }
            };
            quote! {
                #cfgs
                impl ::connector_runtime::__private::PollFn<#key> for #ty {
                    type Item = #output;
                    type Cursor = #cursor;
                    const ID: &'static str = #id;
                    const NAME: &'static str = #name;
                    const DESCRIPTION: &'static str = #description;
                    const EVERY: ::core::time::Duration = ::core::time::Duration::from_millis(#millis);

                    #run
                }
            }
        }
    };
    quote! { #member_impl #job_trigger }
}
