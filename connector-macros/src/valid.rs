//! The validate step: every rule rustc cannot check, on the parsed model, in one place. Each
//! rule adds a spanned error on the user's own token and says what to write instead; nothing
//! here generates code or changes the model.

use std::collections::HashMap;

use proc_macro2::Span;
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Ident, ReturnType};

use crate::ast::connector::{Connector, Kind, Member};
use crate::ast::event::Event;
use crate::ast::job::{Job, Trigger};
use crate::ast::{MaybeFn, borrows, ok_type};
use crate::attr::connector::RateLimitArgs;
use crate::attr::member::MemberArgs;
use crate::attr::member::{RetryArgs, WebhookArgs};
use crate::attr::value::{Int, Str};
use crate::error::Errors;
use crate::names;

/// The runtime's default `RetryPolicy::DEFAULT.max_delay`, for the rule that a minimum delay is
/// not longer than the maximum one (`tests/ui.rs` checks the two agree).
const DEFAULT_MAX_DELAY_MILLIS: u64 = 60_000;

/// The constants of the `Connector` trait: a member constant of the same name would hide them.
const CONNECTOR_CONSTS: [&str; 7] = ["ID", "NAME", "VERSION", "DESCRIPTION", "TYPE_NAME", "RATE_LIMIT", "HAS_CHECK"];

// ---------------------------------------------------------------------------------------------
// #[connector]

pub fn connector(connector: &Connector, errors: &mut Errors) {
    let args = &connector.args;
    id("connector", &args.id, errors);
    not_empty("connector", "name", &args.name, errors);
    version(&args.version, errors);
    if let Some(limit) = &args.rate_limit {
        rate_limit(limit, errors);
    }
    for member in &connector.members {
        self::member(member, errors);
    }
    unique_ids(connector, errors);
    generated_names(connector, errors);
}

fn rate_limit(limit: &RateLimitArgs, errors: &mut Errors) {
    let positive = |value: &Option<Int>, what: &str, errors: &mut Errors| {
        if let Some(value) = value {
            at_least_one(value, what, errors);
            fits_u32(value, errors);
        }
    };
    positive(
        &limit.per_second,
        "`per_second` is how many requests may start each second: use 1 or more, or leave it out for no limit",
        errors,
    );
    positive(&limit.burst, "`burst` is how many requests may go at once after a quiet spell: use 1 or more", errors);
    positive(
        &limit.concurrency,
        "`concurrency` is how many requests may be in flight at once: use 1 or more, or leave it out for no limit",
        errors,
    );
    if let (Some(burst), None) = (&limit.burst, &limit.per_second) {
        errors.at(
            burst.span,
            "`burst` shapes `per_second`: give `per_second` too, like `rate_limit(per_second = 10, burst = 20)`",
        );
    }
}

fn member(member: &Member, errors: &mut Errors) {
    let what = match member.kind {
        Kind::Action => "action",
        Kind::Trigger | Kind::Poll => "trigger",
    };
    id(what, &member.args.id, errors);
    not_empty(what, "name", &member.args.name, errors);
    signature(member, errors);
    let args = &member.args;
    match member.kind {
        Kind::Action => {
            if let Some(webhook) = &args.webhook {
                errors.at(webhook.span(), "`webhook` is for triggers: an action calls the service, it is not called");
            }
            if let Some(poll) = &args.poll {
                errors.at(poll.span(), "`poll` is for triggers: an action is called by jobs, it does not poll");
            }
            if let Some(destructive) = args.destructive.as_ref().filter(|flag| flag.0)
                && MemberArgs::flag(&args.read_only)
            {
                errors.at(
                    destructive.span(),
                    "a `read_only` action changes nothing, so it destroys nothing: remove `destructive` or `read_only`",
                );
            }
        }
        Kind::Trigger | Kind::Poll => {
            if let Some(retry) = &args.retry {
                errors.at(retry.span(), "`retry` is for actions: a trigger runs once per delivery");
            }
            for (name, hint) in args.hints() {
                if let Some(hint) = hint {
                    errors.at(
                        hint.span(),
                        format!("`{name}` is for actions: it tells callers what calling the action does"),
                    );
                }
            }
        }
    }
    if member.kind == Kind::Poll {
        match &args.poll {
            Some(poll) => at_least_a_millisecond(&poll.every, "a polling trigger's interval", errors),
            None => errors.at(
                member.name().span(),
                "this trigger returns `Polled<..>`, so it is a polling trigger: say how often it polls, like \
                 `#[trigger(.., poll(every = \"30s\"))]`",
            ),
        }
        if let (Some(webhook), Some(_)) = (&args.webhook, &args.poll) {
            errors
                .at(webhook.span(), "a trigger either receives webhooks or polls: remove `webhook(..)` or `poll(..)`");
        }
    }
    if let Some(retry) = &args.retry {
        self::retry(retry, errors);
    }
    if let (Some(webhook), Kind::Trigger) = (&args.webhook, member.kind) {
        self::webhook(webhook, errors);
    }
}

/// The fn's shape: `async`, not generic, no `self`, two parameters, the kind's return type, and
/// owned types where values are stored.
fn signature(member: &Member, errors: &mut Errors) {
    let function = member.function;
    let attr = member.kind.attr();
    let sig = &function.sig;
    common_shape(function, &format!("`#[{attr}]`"), errors);
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.spanning(receiver, format!("`#[{attr}]` fns take no `self`: remove it"));
    }
    let (context, what) = match member.kind {
        Kind::Action => ("ctx: &ActionContext<Config>", "its input"),
        Kind::Trigger => ("ctx: &TriggerContext<Config>", "the service's payload"),
        Kind::Poll => ("ctx: &TriggerContext<Config>", "`cursor: Option<Cursor>`"),
    };
    if member.input.is_none() {
        errors.at(function.params_span(), format!("`#[{attr}]` fns take two parameters: `{context}` and {what}"));
    }
    if member.output.is_none() {
        let expected = match member.kind {
            Kind::Action => "an action returns `Result<Output, Error>`",
            Kind::Trigger => "a trigger returns `Result<Option<JobPayload>, Error>` (`None` ignores the delivery)",
            Kind::Poll => {
                "a polling trigger returns `Result<Polled<Item, Cursor>, Error>`: the new items with their ids, and \
                 the cursor to poll from next"
            }
        };
        let span = match (&sig.output, ok_type(&sig.output)) {
            (ReturnType::Default, _) => sig.ident.span(),
            (ReturnType::Type(_, ty), None) => ty.span(),
            // `Result<T, E>` with the wrong `T`: point at `T`.
            (ReturnType::Type(..), Some(ok)) => ok.span(),
        };
        errors.at(span, expected);
    }
    let stored = match member.kind {
        Kind::Action => [(&member.input, "input"), (&member.output, "output")],
        Kind::Trigger => [(&member.input, "payload"), (&member.output, "output")],
        Kind::Poll => [(&member.output, "item"), (&member.cursor, "cursor")],
    };
    for (ty, role) in stored {
        if let Some(ty) = ty
            && borrows(ty)
        {
            errors.spanning(
                ty,
                format!(
                    "this {role} is stored with the run and read back, so it cannot borrow: use an owned type (`String`, not `&str`)"
                ),
            );
        }
    }
}

/// `async`, not generic: what every fn the macros wrap must be.
fn common_shape(function: &MaybeFn, attr: &str, errors: &mut Errors) {
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        errors.spanning(&sig.fn_token, format!("{attr} fns must be `async`: write `async fn {}`", sig.ident));
    }
    if !sig.generics.params.is_empty() {
        errors.spanning(&sig.generics, format!("{attr} fns cannot be generic"));
    }
}

fn retry(retry: &RetryArgs, errors: &mut Errors) {
    if let Some(attempts) = &retry.max_attempts {
        at_least_one(attempts, "`max_attempts` counts the first attempt too: use 1 or more", errors);
        fits_u32(attempts, errors);
    }
    if let Some(factor) = &retry.factor
        && !(factor.value.is_finite() && factor.value >= 1.0)
    {
        errors.at(
            factor.span,
            "`factor` is what each delay is multiplied by to give the next: use a number of at least 1.0, like 2.0",
        );
    }
    if let Some(min) = &retry.min_delay {
        let max = retry.max_delay.as_ref().map_or(DEFAULT_MAX_DELAY_MILLIS, |max| max.millis);
        if min.millis > max {
            let message = match &retry.max_delay {
                Some(max_delay) => format!(
                    "`min_delay = \"{}\"` is longer than `max_delay = \"{}\"`: the first delay cannot exceed the longest",
                    min.text, max_delay.text
                ),
                None => format!(
                    "`min_delay = \"{}\"` is longer than the default `max_delay` of {}: set `max_delay` too",
                    min.text,
                    crate::duration::text(DEFAULT_MAX_DELAY_MILLIS)
                ),
            };
            errors.at(min.span, message);
        }
    }
    if let Some(timeout) = &retry.timeout {
        at_least_a_millisecond(timeout, "an attempt's `timeout`", errors);
    }
}

fn webhook(webhook: &WebhookArgs, errors: &mut Errors) {
    let schemes = [
        webhook.github.as_ref().map(|s| s.span()),
        webhook.stripe.as_ref().map(|s| s.span()),
        webhook.standard.as_ref().map(|s| s.span()),
        webhook.hmac_sha256.as_ref().map(|s| s.span()),
        webhook.verify.as_ref().map(|s| s.span()),
    ];
    if let Some(second) = schemes.iter().flatten().nth(1) {
        errors.at(
            *second,
            "a webhook has one signature scheme: keep one of `github`, `stripe`, `standard`, `hmac_sha256`, `verify`",
        );
    }
    if let Some(unsigned) = webhook.unsigned.as_ref().filter(|flag| flag.0)
        && schemes.iter().flatten().next().is_some()
    {
        errors.at(
            unsigned.span(),
            "a webhook with a signature scheme is not `unsigned`: remove `unsigned`, or the scheme if nobody signs its deliveries",
        );
    }
    if let Some(github) = &webhook.github
        && let Some(tolerance) = &github.tolerance
    {
        errors.at(tolerance.span, "GitHub signs no timestamp, so `github(..)` has no `tolerance`: remove it");
    }
    for scheme in [&webhook.stripe, &webhook.standard].into_iter().flatten() {
        if let Some(tolerance) = &scheme.tolerance {
            at_least_a_millisecond(tolerance, "a signature's `tolerance`", errors);
        }
    }
    if let Some(hmac) = &webhook.hmac_sha256
        && hmac.header.trim().is_empty()
    {
        errors
            .at(hmac.header.span, "`header` names the header carrying the signature, like `header = \"X-Signature\"`");
    }
    match (&webhook.subscribe, &webhook.unsubscribe) {
        (Some(_), Some(_)) | (None, None) => {}
        (Some(given), None) | (None, Some(given)) => errors.at(
            given.span(),
            "a webhook that registers itself needs both `subscribe = Self::f` and `unsubscribe = Self::g`",
        ),
    }
}

/// Ids must be unique among a connector's actions, and among its triggers (an action and a
/// trigger may share one). Members under different `#[cfg]`s may share an id: at most one of
/// them is compiled.
fn unique_ids(connector: &Connector, errors: &mut Errors) {
    let mut seen: HashMap<(bool, String, String), &Ident> = HashMap::new();
    for member in &connector.members {
        let key = (member.kind.is_trigger(), member.args.id.value.clone(), cfg_key(&member.cfgs));
        if let Some(first) = seen.get(&key) {
            errors.at(
                member.args.id.span,
                format!(
                    "duplicate {} id `{}`: `{first}` uses it already; ids must be unique within a connector",
                    if member.kind.is_trigger() { "trigger" } else { "action" },
                    member.args.id.value
                ),
            );
        } else {
            seen.insert(key, member.name());
        }
    }
}

/// Names the macro generates must not clash with the user's, or with each other.
fn generated_names(connector: &Connector, errors: &mut Errors) {
    for other in &connector.others {
        if *other == "init" {
            errors.spanning(
                other,
                format!(
                    "`init` is generated by `#[connector]` (`{}::init(config)` makes an instance): give this fn \
                     another name",
                    connector.ty
                ),
            );
        }
    }
    let mut constants: HashMap<(String, String), &Ident> = HashMap::new();
    for member in &connector.members {
        let name = member.name();
        let text = name.to_string();
        let text = text.trim_start_matches("r#");
        if text == "init" || text == "client" {
            errors.spanning(
                name,
                format!("`{text}` is generated by `#[connector]`; give the {} fn another name", member.kind.attr()),
            );
        }
        if member.kind == Kind::Action && text == "with_retry" {
            errors.spanning(
                name,
                "every client has a `with_retry` method (`io.chat.with_retry(policy)`), so no action can be called \
                 that: give the fn another name",
            );
        }
        let constant = names::screaming_snake(text);
        if CONNECTOR_CONSTS.contains(&constant.as_str()) {
            errors.spanning(
                name,
                format!(
                    "`#[connector]` names each member with a constant, and `{}::{constant}` would hide the connector's \
                     own `Connector::{constant}`: give the fn another name",
                    connector.ty
                ),
            );
            continue;
        }
        if let Some(other) = connector.others.iter().find(|other| **other == constant.as_str()) {
            errors.spanning(
                other,
                format!(
                    "`{constant}` is the constant `#[connector]` generates for the `{text}` {}: give this item another \
                     name",
                    member.kind.attr()
                ),
            );
        }
        if let Some(first) = constants.get(&(constant.clone(), cfg_key(&member.cfgs))) {
            errors.spanning(
                name,
                format!(
                    "`{first}` and `{text}` would both be named by the constant `{}::{constant}`: rename one of them",
                    connector.ty
                ),
            );
        } else {
            constants.insert((constant, cfg_key(&member.cfgs)), name);
        }
    }
}

/// The `#[cfg]`s of a member as one comparable text.
fn cfg_key(cfgs: &[Attribute]) -> String {
    cfgs.iter().map(|attr| attr.to_token_stream().to_string()).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------------
// #[job]

pub fn job(job: &Job, errors: &mut Errors) {
    let args = &job.args;
    id("job", &args.id, errors);
    not_empty("job", "name", &args.name, errors);
    version(&args.version, errors);
    if let Some(concurrency) = &args.concurrency {
        at_least_one(concurrency, "`concurrency` is how many runs may execute at once: use 1 or more", errors);
        fits_u32(concurrency, errors);
    }
    if let Some(retry) = &args.retry {
        self::retry(retry, errors);
    }
    triggers(job, errors);
    let mut keys: HashMap<String, &Ident> = HashMap::new();
    for integration in &args.integrations.0 {
        if keys.insert(integration.key.to_string(), &integration.key).is_some() {
            errors.spanning(&integration.key, format!("integration `{}` is declared twice", integration.key));
        }
    }
    job_signature(job, errors);
}

fn triggers(job: &Job, errors: &mut Errors) {
    match job.triggers.as_slice() {
        [] => errors.at(
            Span::call_site(),
            "a job needs a trigger: `event = EventType` (a `#[derive(Event)]` type), `trigger = Connector::trigger_fn`, \
             `cron = \"*/5 * * * *\"` or `every = \"30s\"`",
        ),
        [only] => trigger(only, errors),
        [_, second, ..] => {
            let keys: Vec<String> = job.triggers.iter().map(|trigger| format!("`{} = ..`", trigger.key())).collect();
            let (last, rest) = keys.split_last().map_or((String::new(), &[][..]), |(last, rest)| (last.clone(), rest));
            errors.at(
                second.span(),
                format!("a job has one trigger, and this one has {} and {last}: keep one of them", rest.join(", ")),
            );
        }
    }
}

fn trigger(trigger: &Trigger, errors: &mut Errors) {
    match trigger {
        Trigger::Event(..) => {}
        Trigger::Connector { written, connector: None, .. } => {
            errors.spanning(written, "name the connector and its trigger fn: `trigger = SimpleChat::message_received`")
        }
        Trigger::Connector { .. } => {}
        Trigger::Cron(expression) => cron(expression, errors),
        Trigger::Every(every) => at_least_a_millisecond(every, "a job's interval", errors),
    }
}

/// A cron expression's shape: not empty, 5 to 7 fields or an `@alias`. The engine parses it in
/// full when it is built, and says there what is wrong with a field.
fn cron(expression: &Str, errors: &mut Errors) {
    let text = expression.trim();
    let fields = text.split_whitespace().count();
    let problem = if text.is_empty() {
        Some("the cron expression is empty".to_owned())
    } else if text.starts_with('@') {
        (fields != 1).then(|| format!("`{text}` is an alias followed by more fields"))
    } else if !(5..=7).contains(&fields) {
        Some(format!("`{text}` has {fields} field{}", if fields == 1 { "" } else { "s" }))
    } else {
        None
    };
    if let Some(problem) = problem {
        errors.at(
            expression.span,
            format!(
                "{problem}: a cron expression has 5 fields, `minute hour day-of-month month day-of-week` (like \
                 \"*/5 * * * *\"), or 6 with seconds first, or 7 with a year last, or is an alias like \"@hourly\""
            ),
        );
    }
}

fn job_signature(job: &Job, errors: &mut Errors) {
    let function = job.function;
    let sig = &function.sig;
    common_shape(function, "`#[job]`", errors);
    if let Some(FnArg::Receiver(receiver)) = sig.inputs.first() {
        errors.spanning(receiver, "`#[job]` fns take no `self`");
    }
    let io = &job.io;
    match (&job.payload, &job.io_param, function.param_types().len()) {
        (Some(_), Some(param), 2) => {
            let named =
                matches!(param, syn::Type::Path(path) if path.path.segments.last().is_some_and(|s| s.ident == *io));
            if !named {
                errors.at(
                    type_name_span(param),
                    format!("the `io` parameter's type is generated by `#[job]`: write `io: {io}<'_>`"),
                );
            }
        }
        _ => errors
            .at(function.params_span(), format!("`#[job]` fns take two parameters: the payload and `io: {io}<'_>`")),
    }
    if job.output.is_none() {
        match &sig.output {
            ReturnType::Type(_, ty) => errors.spanning(ty, "a job returns `Result<T, E>`"),
            ReturnType::Default => errors.at(sig.ident.span(), "a job returns `Result<T, E>`"),
        }
    }
}

/// The span of a type's name: `Io` in `&connector_runtime::Io`. An error carries one token's
/// span, and the name says more than a leading `&` or crate name.
fn type_name_span(ty: &syn::Type) -> Span {
    match ty {
        syn::Type::Reference(reference) => type_name_span(&reference.elem),
        syn::Type::Path(path) => path.path.segments.last().map_or_else(|| ty.span(), |last| last.ident.span()),
        other => other.span(),
    }
}

// ---------------------------------------------------------------------------------------------
// #[derive(Event)]

pub fn event(event: &Event, errors: &mut Errors) {
    id("event", &event.name, errors);
}

// ---------------------------------------------------------------------------------------------
// values

/// Ids of connectors, actions, triggers, jobs and events: `[A-Za-z0-9._-]+`.
fn id(what: &str, id: &Str, errors: &mut Errors) {
    if id.is_empty() {
        errors.at(id.span, format!("the {what} id must not be empty"));
    } else if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        errors.at(
            id.span,
            format!(
                "the {what} id `{}` has the character {bad:?}; ids use only letters, digits, `.`, `_` and `-`",
                id.value
            ),
        );
    }
}

fn not_empty(what: &str, key: &str, value: &Str, errors: &mut Errors) {
    if value.trim().is_empty() {
        errors.at(value.span, format!("the {what}'s `{key}` is shown to people: it must not be empty"));
    }
}

/// Semantic versions, `MAJOR.MINOR.PATCH[-pre][+build]`.
fn version(version: &Str, errors: &mut Errors) {
    if !is_semver(version) {
        errors.at(
            version.span,
            format!(
                "`{}` is not a semantic version: write `MAJOR.MINOR.PATCH`, like `1.0.0` (see https://semver.org)",
                version.value
            ),
        );
    }
}

fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
    };
    let identifiers = |text: &str| {
        text.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    numbers.len() == 3
        && numbers.iter().all(|part| numeric(part))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

fn at_least_one(value: &Int, message: &str, errors: &mut Errors) {
    if value.value == 0 {
        errors.at(value.span, message);
    }
}

fn fits_u32(value: &Int, errors: &mut Errors) {
    if value.value > u64::from(u32::MAX) {
        errors.at(value.span, format!("`{}` is too large: use at most {}", value.value, u32::MAX));
    }
}

fn at_least_a_millisecond(duration: &crate::attr::value::Duration, what: &str, errors: &mut Errors) {
    if duration.millis == 0 {
        errors.at(duration.span, format!("{what} must be at least 1ms, not `{}`", duration.text));
    }
}

#[cfg(test)]
mod tests {
    use super::is_semver;

    #[test]
    fn semver() {
        for ok in ["1.0.0", "0.1.2", "10.20.30", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc-1+x"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["", "1", "1.0", "1.0.0.0", "01.0.0", "1.0.x", "v1.0.0", "1.0.0-", "1.0.0+", "1..0"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
