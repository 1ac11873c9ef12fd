//! `#[connector]`: parse the impl block and its `#[action]`/`#[trigger]` fns, validate the
//! rules rustc cannot see, expand into the `Connector` impl, the member impls and the typed client.

use std::collections::HashMap;

use darling::Error;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, GenericArgument, Ident, ImplItem, ImplItemFn, ItemImpl, PathArguments, ReturnType, Type};

use crate::args::{self, ConnectorArgs, MemberArgs};
use crate::names;
use crate::policy;
use crate::schedule::{self, PollTrigger};

/// What kind of member a fn is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Action,
    Trigger,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Action => "action",
            Kind::Trigger => "trigger",
        }
    }
}

/// The connector, as this crate models it.
struct ConnectorDef {
    args: ConnectorArgs,
    ty: Ident,
    description: String,
    members: Vec<Member>,
}

/// One `#[action]` or `#[trigger]` fn.
struct Member {
    kind: Kind,
    args: MemberArgs,
    fn_name: Ident,
    /// The fn's visibility, given to its constant and client method: a `pub` action is
    /// callable from other modules and crates, a private one only beside the connector.
    vis: syn::Visibility,
    doc: String,
    /// The action's input, or the payload the service sends a trigger.
    input: Type,
    /// The action's output, or what a trigger hands its jobs.
    output: Type,
    /// Where the fn names its error type (`E` of `Result<T, E>`): a conversion error lands here.
    error_span: Span,
    /// `Some(RetryPolicy { .. })` from `retry(..)`.
    retry: Option<TokenStream>,
    /// Triggers: the body of `TriggerFn::signature`, and `.with_subscription(..)` if any.
    webhook: Option<(TokenStream, Option<TokenStream>)>,
    /// Polling triggers (`poll(every = ..)`): the interval and the cursor type. For them `input`
    /// is the cursor parameter's type and `output` the item type.
    poll: Option<PollTrigger>,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            let message = "`#[connector]` goes on an `impl` block of the connector's struct: `#[connector(..)] impl SimpleChat { .. }`";
            let error = syn::Error::new(error.span(), message).to_compile_error();
            return quote! { #error #item };
        }
    };
    // The members' attributes come off first, so the user's impl is emitted clean even on error.
    let members = take_members(&mut item);
    match parse(args, &item, members).and_then(|def| validate(&def).map(|()| def)) {
        Ok(def) => {
            let generated = generate(&def);
            quote! { #item #generated }
        }
        Err(errors) => {
            let errors = errors.write_errors();
            quote! { #item #errors }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// parse

/// Removes `#[action(..)]`/`#[trigger(..)]` from the impl's fns; returns each fn with its attribute.
fn take_members(item: &mut ItemImpl) -> Vec<(ImplItemFn, Kind, Attribute)> {
    let mut members = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(function) = impl_item else {
            continue;
        };
        let mut found = None;
        function.attrs.retain(|attr| match member_kind(attr) {
            Some(kind) if found.is_none() => {
                found = Some((kind, attr.clone()));
                false
            }
            _ => true,
        });
        if let Some((kind, attr)) = found {
            members.push((function.clone(), kind, attr));
        }
    }
    members
}

fn member_kind(attr: &Attribute) -> Option<Kind> {
    let last = attr.path().segments.last()?;
    match last.ident.to_string().as_str() {
        "action" => Some(Kind::Action),
        "trigger" => Some(Kind::Trigger),
        _ => None,
    }
}

fn parse(
    args: TokenStream,
    item: &ItemImpl,
    members: Vec<(ImplItemFn, Kind, Attribute)>,
) -> darling::Result<ConnectorDef> {
    let mut errors = Error::accumulator();
    let args = errors.handle(args::parse::<ConnectorArgs>(args));
    let ty = errors.handle(connector_type(item));
    let members: Vec<Member> = members
        .into_iter()
        .filter_map(|(function, kind, attr)| errors.handle(parse_member(function, kind, &attr)))
        .collect();
    errors.finish()?;
    let (Some(args), Some(ty)) = (args, ty) else {
        return Err(Error::custom("internal: arguments missing without an error"));
    };
    let description = args.description.clone().unwrap_or_else(|| names::doc_text(&item.attrs));
    Ok(ConnectorDef { args, ty, description, members })
}

fn connector_type(item: &ItemImpl) -> darling::Result<Ident> {
    if let Some((path, _)) = &item.trait_ {
        return Err(Error::custom(
            "`#[connector]` goes on an inherent impl (`impl SimpleChat { .. }`), not a trait impl",
        )
        .with_span(path));
    }
    if !item.generics.params.is_empty() {
        return Err(Error::custom("a connector cannot be generic").with_span(&item.generics));
    }
    match &*item.self_ty {
        Type::Path(path) if path.qself.is_none() && path.path.segments.len() == 1 => {
            let segment = &path.path.segments[0];
            if segment.arguments.is_empty() {
                return Ok(segment.ident.clone());
            }
            Err(Error::custom("a connector cannot be generic").with_span(&segment.arguments))
        }
        other => {
            Err(Error::custom("`#[connector]` needs the connector struct's plain name here, like `impl SimpleChat`")
                .with_span(other))
        }
    }
}

fn parse_member(function: ImplItemFn, kind: Kind, attr: &Attribute) -> darling::Result<Member> {
    let mut errors = Error::accumulator();
    let member_args = match &attr.meta {
        syn::Meta::List(list) => errors.handle(args::parse_at::<MemberArgs>(list.tokens.clone(), list.path.span())),
        other => {
            errors.push(
                Error::custom(format!("`#[{0}]` needs arguments: `#[{0}(id = \"..\", name = \"..\")]`", kind.attr()))
                    .with_span(other),
            );
            None
        }
    };
    // A polling trigger has its own signature: one with `poll(..)`, or returning `Polled<..>`
    // (then missing `poll(..)` is the one mistake reported).
    let poll_args = member_args.as_ref().and_then(|args| args.poll.as_ref());
    let returns_polled = returns_polled(&function.sig.output);
    let polling = kind == Kind::Trigger && (poll_args.is_some() || returns_polled);
    let signature = errors.handle(member_signature(kind, polling, &function));
    let poll_every = match poll_args {
        Some(poll) if kind == Kind::Action => {
            errors.push(
                Error::custom("`poll` is for triggers: an action is called by jobs, it does not poll")
                    .with_span(&poll.span()),
            );
            None
        }
        Some(poll) => errors.handle(schedule::every(&poll.every, "a polling trigger's interval")),
        None => {
            if kind == Kind::Trigger && member_args.is_some() && returns_polled {
                errors.push(
                    Error::custom(
                        "this trigger returns `Polled<..>`, so it is a polling trigger: say how often it polls, \
                         like `#[trigger(.., poll(every = \"30s\"))]`",
                    )
                    .with_span(&function.sig.ident),
                );
            }
            None
        }
    };
    if poll_args.is_some()
        && let Some(webhook) = member_args.as_ref().and_then(|args| args.webhook.as_ref())
    {
        errors.push(
            Error::custom("a trigger either receives webhooks or polls: remove `webhook(..)` or `poll(..)`")
                .with_span(&webhook.span()),
        );
    }
    let retry = match member_args.as_ref().and_then(|args| args.retry.as_ref()) {
        Some(retry) if kind == Kind::Trigger => {
            errors.push(
                Error::custom("`retry` is for actions: a trigger runs once per delivery").with_span(&retry.span()),
            );
            None
        }
        Some(retry) => errors.handle(policy::retry_policy(retry)),
        None => None,
    };
    let webhook = match member_args.as_ref().and_then(|args| args.webhook.as_ref()) {
        Some(webhook) if kind == Kind::Action => {
            errors.push(
                Error::custom("`webhook` is for triggers: an action calls the service, it is not called")
                    .with_span(&webhook.span()),
            );
            None
        }
        Some(webhook) => {
            let signature = errors.handle(crate::webhook::signature(webhook));
            let subscription = errors.handle(crate::webhook::subscription(webhook));
            signature.zip(subscription)
        }
        None => None,
    };
    errors.finish()?;
    let (Some(args), Some((input, output, cursor))) = (member_args, signature) else {
        return Err(Error::custom("internal: member missing without an error"));
    };
    let poll = match (poll_every, cursor) {
        (Some(millis), Some(cursor)) => Some(PollTrigger { millis, cursor }),
        _ => None,
    };
    Ok(Member {
        retry,
        webhook,
        poll,
        kind,
        args,
        doc: names::doc_text(&function.attrs),
        fn_name: function.sig.ident.clone(),
        vis: function.vis.clone(),
        error_span: error_type_span(&function.sig.output),
        input,
        output,
    })
}

/// Whether the fn returns `Result<Polled<..>, E>`: the shape of a polling trigger.
fn returns_polled(output: &ReturnType) -> bool {
    match output {
        ReturnType::Type(_, ty) => first_type_argument(ty).is_some_and(|ok| schedule::polled_types(ok).is_some()),
        ReturnType::Default => false,
    }
}

/// Checks the fn's shape and returns its input and output types, and a polling trigger's cursor
/// type.
fn member_signature(kind: Kind, polling: bool, function: &ImplItemFn) -> darling::Result<(Type, Type, Option<Type>)> {
    let sig = &function.sig;
    let attr = kind.attr();
    let mut errors = Error::accumulator();
    if sig.asyncness.is_none() {
        errors.push(
            Error::custom(format!("`#[{attr}]` fns must be `async`: write `async fn {}`", sig.ident))
                .with_span(&sig.fn_token),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.push(Error::custom(format!("`#[{attr}]` fns cannot be generic")).with_span(&sig.generics));
    }
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.push(Error::custom(format!("`#[{attr}]` fns take no `self`: remove it")).with_span(receiver));
    }
    let (context, what) = match kind {
        Kind::Action => ("ctx: &ActionContext<Config>", "its input"),
        Kind::Trigger if polling => ("ctx: &TriggerContext<Config>", "`cursor: Option<Cursor>`"),
        Kind::Trigger => ("ctx: &TriggerContext<Config>", "the service's payload"),
    };
    let typed: Vec<&Type> = sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let input = match typed.as_slice() {
        [_, input] => Some((*input).clone()),
        _ => {
            let span = if sig.inputs.is_empty() { sig.ident.span() } else { sig.inputs.span() };
            errors.push(
                Error::custom(format!("`#[{attr}]` fns take two parameters: `{context}` and {what}")).with_span(&span),
            );
            None
        }
    };
    let output = if polling {
        errors.handle(poll_output(&sig.output, &sig.ident)).map(|(item, cursor)| (item, Some(cursor)))
    } else {
        errors.handle(member_output(kind, &sig.output, &sig.ident)).map(|output| (output, None))
    };
    errors.finish()?;
    match (input, output) {
        (Some(input), Some((output, cursor))) => Ok((input, output, cursor)),
        _ => Err(Error::custom("internal: signature missing without an error")),
    }
}

/// A polling trigger's item and cursor types, from `Result<Polled<Item, Cursor>, E>`.
fn poll_output(output: &ReturnType, name: &Ident) -> darling::Result<(Type, Type)> {
    let expected = "a polling trigger returns `Result<Polled<Item, Cursor>, Error>`: the new items with their ids, \
                    and the cursor to poll from next";
    let ReturnType::Type(_, ty) = output else {
        return Err(Error::custom(expected).with_span(name));
    };
    let ok = first_type_argument(ty).ok_or_else(|| Error::custom(expected).with_span(&**ty))?;
    let (item, cursor) = schedule::polled_types(ok).ok_or_else(|| Error::custom(expected).with_span(ok))?;
    Ok((item.clone(), cursor.clone()))
}

fn member_output(kind: Kind, output: &ReturnType, name: &Ident) -> darling::Result<Type> {
    let expected = match kind {
        Kind::Action => "an action returns `Result<Output, Error>`",
        Kind::Trigger => "a trigger returns `Result<Option<JobPayload>, Error>` (`None` ignores the delivery)",
    };
    let ReturnType::Type(_, ty) = output else {
        return Err(Error::custom(expected).with_span(name));
    };
    let ok = first_type_argument(ty).ok_or_else(|| Error::custom(expected).with_span(&**ty))?;
    match kind {
        Kind::Action => Ok(ok.clone()),
        Kind::Trigger => match ok {
            Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == "Option") => {
                first_type_argument(ok).cloned().ok_or_else(|| Error::custom(expected).with_span(ok))
            }
            _ => Err(Error::custom(expected).with_span(ok)),
        },
    }
}

/// The span of `E` in `-> Result<T, E>`; of the return type when it has no second argument.
pub fn error_type_span(output: &ReturnType) -> Span {
    let ReturnType::Type(_, ty) = output else {
        return Span::call_site();
    };
    let error = match &**ty {
        Type::Path(path) => match path.path.segments.last().map(|last| &last.arguments) {
            Some(PathArguments::AngleBracketed(arguments)) => arguments
                .args
                .iter()
                .filter_map(|argument| match argument {
                    GenericArgument::Type(ty) => Some(ty),
                    _ => None,
                })
                .nth(1),
            _ => None,
        },
        _ => None,
    };
    error.map_or_else(|| ty.span(), Spanned::span)
}

/// `T` in `Result<T, E>`, `ActionResult<T>` or `Option<T>`.
pub fn first_type_argument(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let PathArguments::AngleBracketed(arguments) = &path.path.segments.last()?.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// validate

fn validate(def: &ConnectorDef) -> darling::Result<()> {
    let mut errors = Error::accumulator();
    errors.handle(args::check_id("connector", &def.args.id));
    errors.handle(args::check_version(&def.args.version));
    let mut seen: HashMap<(bool, &str), &Ident> = HashMap::new();
    for member in &def.members {
        let what = member.kind.attr();
        errors.handle(args::check_id(what, &member.args.id));
        if let Some(first) = seen.insert((member.kind == Kind::Action, member.args.id.as_str()), &member.fn_name) {
            errors.push(
                Error::custom(format!(
                    "duplicate {what} id `{}`: `{first}` uses it already; ids must be unique within a connector",
                    member.args.id.as_str()
                ))
                .with_span(&member.args.id.span()),
            );
        }
        if member.fn_name == "init" || member.fn_name == "client" {
            errors.push(
                Error::custom(format!("`{}` is generated by `#[connector]`; give the fn another name", member.fn_name))
                    .with_span(&member.fn_name),
            );
        }
    }
    errors.finish()
}

// ---------------------------------------------------------------------------------------------
// expand

fn generate(def: &ConnectorDef) -> TokenStream {
    let ty = &def.ty;
    let config = &def.args.config;
    let client = format_ident!("{}Client", ty);
    let (id, name, version, description) =
        (def.args.id.as_str(), &def.args.name, def.args.version.as_str(), &def.description);
    let type_name = ty.to_string();

    let actions: Vec<_> = def.members.iter().filter(|m| m.kind == Kind::Action).collect();
    let triggers: Vec<_> = def.members.iter().filter(|m| m.kind == Kind::Trigger).collect();
    let action_types = actions.iter().map(|m| member_type(ty, m));
    // The engine walks the members in declaration order and boxes each one once.
    let visits = def.members.iter().map(|member| {
        let key = member_key(member);
        match (member.kind, &member.poll) {
            (Kind::Action, _) => quote! { visitor.action::<#key>(); },
            (Kind::Trigger, Some(_)) => quote! { visitor.poll::<#key>(); },
            (Kind::Trigger, None) => {
                let subscription = member.webhook.as_ref().and_then(|(_, subscription)| subscription.as_ref());
                let subscription = match subscription {
                    Some(pair) => quote! { ::core::option::Option::Some(#pair) },
                    None => quote! { ::core::option::Option::None },
                };
                quote! { visitor.trigger::<#key>(#subscription); }
            }
        }
    });
    let trigger_manifests = triggers.iter().map(|member| {
        let member_type = member_type(ty, member);
        match member.poll {
            Some(_) => quote! { ::connector_runtime::__private::TriggerManifest::of_poll::<#member_type>() },
            None => quote! { ::connector_runtime::__private::TriggerManifest::of::<#member_type>() },
        }
    });
    let job_trigger_impls = triggers.iter().map(|member| job_trigger_impl(ty, member));
    let member_impls = def.members.iter().map(|member| member_impl(def, member));
    let member_consts = def.members.iter().map(|member| member_const(ty, member));
    let client_methods = actions.iter().map(|member| client_method(ty, member));
    let client_doc = format!(
        "The typed client of the [`{type_name}`] connector: one method per action, each run as a step of the job's run.\n\nJobs reach it through their `io` (`io.chat.send_message(\"step-key\", input)`)."
    );
    let auth = def.args.auth.as_ref().map(|auth| {
        quote! {
            fn auth(config: &#config) -> ::connector_runtime::client::Auth {
                #auth(config)
            }
        }
    });
    let check = def.args.check.as_ref().map(|check| {
        quote! {
            const HAS_CHECK: bool = true;

            async fn check(
                ctx: &::connector_runtime::ConnectorContext<#config>,
            ) -> ::core::result::Result<(), ::connector_runtime::ActionError> {
                ::connector_runtime::__private::action_result(#check(ctx).await)
            }
        }
    });
    let rate_limit = def.args.rate_limit.as_ref().map(|limit| {
        let limit = policy::rate_limit(limit);
        quote! { const RATE_LIMIT: ::connector_runtime::RateLimit = #limit; }
    });
    let init_doc = names::doc_attrs(&format!(
        "An instance of the `{id}` connector with this config, to register with the engine."
    ));
    let client_doc = names::doc_attrs(&client_doc);

    quote! {
        impl #ty {
            #init_doc
            pub fn init(config: #config) -> ::connector_runtime::Integration<#ty> {
                ::connector_runtime::Integration::new(config)
            }
        }

        impl ::connector_runtime::Connector for #ty {
            type Config = #config;
            const ID: &'static str = #id;
            const NAME: &'static str = #name;
            const VERSION: &'static str = #version;
            const DESCRIPTION: &'static str = #description;
            const TYPE_NAME: &'static str = #type_name;
            #rate_limit

            fn actions() -> ::std::vec::Vec<::connector_runtime::__private::ActionManifest> {
                ::std::vec::Vec::from([#(::connector_runtime::__private::ActionManifest::of::<#action_types>()),*])
            }

            fn triggers() -> ::std::vec::Vec<::connector_runtime::__private::TriggerManifest> {
                ::std::vec::Vec::from([#(#trigger_manifests),*])
            }

            #auth
            #check
        }

        impl ::connector_runtime::__private::ConnectorMembers for #ty {
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

        #client_doc
        #[derive(Clone, Copy)]
        pub struct #client<'io> {
            io: &'io ::connector_runtime::Io,
            integration: &'io ::connector_runtime::Integration<#ty>,
            retry: ::core::option::Option<::connector_runtime::RetryPolicy>,
        }

        impl<'io> #client<'io> {
            /// This client with a retry policy for its calls, over the actions' and the job's.
            pub fn with_retry(self, policy: ::connector_runtime::RetryPolicy) -> Self {
                #client { retry: ::core::option::Option::Some(policy), ..self }
            }

            #(#client_methods)*
        }

        impl #ty {
            #(#member_consts)*
        }

        #(#member_impls)*

        #(#job_trigger_impls)*
    }
}

/// `impl JobTriggerFn<KEY> for SimpleChat`: what a job started by the trigger receives, for a
/// webhook and a polling trigger alike (`#[job(trigger = SimpleChat::message_received)]`).
fn job_trigger_impl(ty: &Ident, member: &Member) -> TokenStream {
    let (key, output, id) = (member_key(member), &member.output, member.args.id.as_str());
    quote! {
        impl ::connector_runtime::__private::JobTriggerFn<#key> for #ty {
            type Output = #output;
            const ID: &'static str = #id;
        }
    }
}

/// `pub const SEND_MESSAGE: ActionOf<SimpleChat, ..>`: names the member in ordinary code
/// (`integration.call(SimpleChat::SEND_MESSAGE, input)`, `engine.deliver(SimpleChat::MESSAGE_RECEIVED, p)`).
fn member_const(ty: &Ident, member: &Member) -> TokenStream {
    let vis = &member.vis;
    let name = Ident::new(&names::screaming_snake(&member.fn_name.to_string()), member.fn_name.span());
    let member_type = member_type(ty, member);
    let doc =
        format!("The `{}` {} (the `{}` fn), as a value.", member.args.id.as_str(), member.kind.attr(), member.fn_name);
    let doc = names::doc_attrs(&doc);
    quote! {
        #doc
        #vis const #name: #member_type = <#member_type>::new();
    }
}

/// `{ fn_key("send_message") }`: the const argument that names a member among its connector's.
///
/// Spanned on the user's fn name: rustc prints an unevaluated const argument as its source text,
/// so diagnostics read `ActionFn<send_message>` rather than quoting the whole attribute.
fn member_key(member: &Member) -> TokenStream {
    let name = member.fn_name.to_string();
    let name = name.trim_start_matches("r#");
    quote_spanned! {member.fn_name.span()=> { ::connector_runtime::__private::fn_key(#name) } }
}

/// `ActionOf<SimpleChat, { fn_key("send_message") }>`, or `TriggerOf<..>`.
fn member_type(ty: &Ident, member: &Member) -> TokenStream {
    let key = member_key(member);
    match member.kind {
        Kind::Action => quote! { ::connector_runtime::ActionOf<#ty, #key> },
        Kind::Trigger if member.poll.is_some() => quote! { ::connector_runtime::PollOf<#ty, #key> },
        Kind::Trigger => quote! { ::connector_runtime::TriggerOf<#ty, #key> },
    }
}

/// `impl ActionFn<KEY> for SimpleChat` (or `TriggerFn`): on the connector type itself, so the
/// impl is as visible as the connector and may name every type the connector can.
fn member_impl(def: &ConnectorDef, member: &Member) -> TokenStream {
    if let Some(poll) = &member.poll {
        return poll_impl(def, member, poll);
    }
    let ty = &def.ty;
    let (input, output, function) = (&member.input, &member.output, &member.fn_name);
    let description = member.args.description.clone().unwrap_or_else(|| member.doc.clone());
    let (id, name) = (member.args.id.as_str(), &member.args.name);
    let key = member_key(member);
    let retry = member.retry.as_ref().map(|policy| {
        quote! { const RETRY: ::core::option::Option<::connector_runtime::RetryPolicy> = #policy; }
    });
    let signature = member.webhook.as_ref().map(|(signature, _)| {
        quote! {
            fn signature(
                config: &::std::sync::Arc<<Self as ::connector_runtime::Connector>::Config>,
            ) -> ::core::option::Option<::connector_runtime::__private::SignatureScheme> {
                #signature
            }
        }
    });
    // No separate bound checks: the trait's own bounds on `Input`/`Output` (`Payload`/`Output`)
    // already report a missing derive on the user's type, and a second check only repeats it.
    let (member_trait, input_name, result) = match member.kind {
        Kind::Action => (
            quote! { ::connector_runtime::__private::ActionFn<#key> },
            quote! { Input },
            quote_spanned! {function.span()=> ::core::result::Result<#output, ::connector_runtime::ActionError> },
        ),
        Kind::Trigger => (
            quote! { ::connector_runtime::__private::TriggerFn<#key> },
            quote! { Payload },
            quote_spanned! {function.span()=> ::core::result::Result<::core::option::Option<#output>, ::connector_runtime::ActionError> },
        ),
    };
    // Spanned on the user's fn, so an error about the future (not `Send`) points at it, and a
    // conversion error on the error type (no `Into<ActionError>`) at that type.
    let convert = quote_spanned! {member.error_span=>
        ::connector_runtime::__private::action_result(result)
    };
    let run = quote_spanned! {function.span()=>
        async fn run(
            ctx: &::connector_runtime::ConnectorContext<<#ty as ::connector_runtime::Connector>::Config>,
            input: #input,
        ) -> #result {
            let result = #ty::#function(ctx, input).await;
            #convert
        }
    };
    quote! {
        impl #member_trait for #ty {
            type #input_name = #input;
            type Output = #output;
            const ID: &'static str = #id;
            const NAME: &'static str = #name;
            const DESCRIPTION: &'static str = #description;
            #retry
            #signature

            #run
        }
    }
}

/// `impl PollFn<KEY> for Tracker`: a polling trigger, on the connector type like `TriggerFn`.
fn poll_impl(def: &ConnectorDef, member: &Member, poll: &PollTrigger) -> TokenStream {
    let ty = &def.ty;
    let (item, cursor, function) = (&member.output, &poll.cursor, &member.fn_name);
    let description = member.args.description.clone().unwrap_or_else(|| member.doc.clone());
    let (id, name, millis) = (member.args.id.as_str(), &member.args.name, poll.millis);
    let key = member_key(member);
    let convert = quote_spanned! {member.error_span=>
        ::connector_runtime::__private::action_result(result)
    };
    // Spanned on the user's cursor parameter: a cursor type other than `Polled`'s is reported there.
    let cursor_argument = quote_spanned! {member.input.span()=> cursor };
    let mut callee = ty.clone();
    callee.set_span(function.span());
    let run = quote_spanned! {function.span()=>
        async fn poll(
            ctx: &::connector_runtime::ConnectorContext<<#ty as ::connector_runtime::Connector>::Config>,
            cursor: ::core::option::Option<#cursor>,
        ) -> ::core::result::Result<::connector_runtime::Polled<#item, #cursor>, ::connector_runtime::ActionError> {
            let result = #callee::#function(ctx, #cursor_argument).await;
            #convert
        }
    };
    quote! {
        impl ::connector_runtime::__private::PollFn<#key> for #ty {
            type Item = #item;
            type Cursor = #cursor;
            const ID: &'static str = #id;
            const NAME: &'static str = #name;
            const DESCRIPTION: &'static str = #description;
            const EVERY: ::core::time::Duration = ::core::time::Duration::from_millis(#millis);

            #run
        }
    }
}

fn client_method(ty: &Ident, member: &Member) -> TokenStream {
    let (input, output, function, vis) = (&member.input, &member.output, &member.fn_name, &member.vis);
    let id = member.args.id.as_str();
    let action = member_type(ty, member);
    let mut doc = member.doc.clone();
    if !doc.is_empty() {
        doc.push_str("\n\n");
    }
    doc.push_str(&format!(
        "Calls the `{id}` action as the step `key` of this run: recorded with its input and output, and never run twice under one key."
    ));
    let doc = names::doc_attrs(&doc);
    // Spanned on the user's fn name, so "go to definition" on a client call lands on the action.
    quote_spanned! {function.span()=>
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
