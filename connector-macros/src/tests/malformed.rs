//! Malformed input to each expansion function: a `compile_error!` with the expected message,
//! never a panic.

use proc_macro2::TokenStream;
use quote::quote;

use super::{assert_has_error, assert_one_error, errors};
use crate::{expand, stray};

fn connector_args() -> TokenStream {
    quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig }
}

/// A connector impl with `members` inside.
fn connector_with(members: TokenStream) -> TokenStream {
    expand::connector(connector_args(), quote! { impl Chat { #members } })
}

fn job_args() -> TokenStream {
    quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(chat = Chat) }
}

fn job_fn() -> TokenStream {
    quote! {
        async fn post(payload: Requested, io: PostIo<'_>) -> Result<String, JobError> {
            Ok(payload.text)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// #[connector]

#[test]
fn connector_on_garbage() {
    let out = expand::connector(connector_args(), quote! { fn ( ) -> 1 + });
    assert_one_error(&out, "`#[connector]` goes on an `impl` block");
}

#[test]
fn connector_on_a_struct() {
    let out = expand::connector(connector_args(), quote! { struct Chat; });
    assert_one_error(&out, "`#[connector]` goes on an `impl` block");
}

#[test]
fn connector_on_an_empty_item() {
    let out = expand::connector(connector_args(), TokenStream::new());
    assert_one_error(&out, "`#[connector]` goes on an `impl` block");
}

#[test]
fn connector_on_a_trait_impl() {
    let out = expand::connector(connector_args(), quote! { impl Clone for Chat {} });
    assert_one_error(&out, "not a trait impl");
}

#[test]
fn connector_on_a_generic_impl() {
    let out = expand::connector(connector_args(), quote! { impl<T> Chat<T> {} });
    assert_one_error(&out, "a connector cannot be generic");
    let out = expand::connector(connector_args(), quote! { impl Chat<u8> {} });
    assert_one_error(&out, "a connector cannot be generic");
}

#[test]
fn connector_on_a_path_type() {
    let out = expand::connector(connector_args(), quote! { impl crate::Chat {} });
    assert_one_error(&out, "the connector struct's plain name");
}

#[test]
fn connector_without_args() {
    let out = expand::connector(TokenStream::new(), quote! { impl Chat {} });
    // Everything missing is one error, listing what to write.
    assert_one_error(
        &out,
        "`#[connector(..)]` needs `id = \"..\"`, `name = \"..\"`, `version = \"1.0.0\"` and `config = ConfigType`",
    );
}

#[test]
fn connector_with_garbage_args() {
    let args = quote! { id = , name = "Chat", version = "1.0.0", config = ChatConfig };
    let out = expand::connector(args, quote! { impl Chat {} });
    assert_one_error(&out, "expected an expression");
    let out = expand::connector(quote! { "chat" }, quote! { impl Chat {} });
    assert_one_error(&out, "`#[connector(..)]` takes `key = value` arguments: `id`, `name`, `version`, `config`");
    let args = quote! { id = "chat", name = "Chat", version = "1.0.0", config = 42 };
    let out = expand::connector(args, quote! { impl Chat {} });
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn connector_with_a_misspelt_key() {
    let args = quote! { id = "chat", nmae = "Chat", version = "1.0.0", config = ChatConfig };
    let out = expand::connector(args, quote! { impl Chat {} });
    // One mistake, one error: no "Missing field `name`" beside the suggestion.
    assert_one_error(&out, "unknown argument `nmae` of `#[connector(..)]`: did you mean `name`?");
}

#[test]
fn connector_with_a_bad_id_and_version() {
    let args = quote! { id = "my chat", name = "Chat", version = "1.0", config = ChatConfig };
    let out = expand::connector(args, quote! { impl Chat {} });
    assert_has_error(&out, "the connector id `my chat` has the character ' '");
    assert_has_error(&out, "`1.0` is not a semantic version");
    let args = quote! { id = "", name = "Chat", version = "1.0.0", config = ChatConfig };
    let out = expand::connector(args, quote! { impl Chat {} });
    assert_one_error(&out, "the connector id must not be empty");
}

#[test]
fn action_without_parens() {
    let out = connector_with(quote! {
        #[action]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action]` needs arguments");
    let out = connector_with(quote! {
        #[trigger = "x"]
        async fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<P>, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[trigger]` needs arguments");
}

#[test]
fn action_with_empty_parens() {
    let out = connector_with(quote! {
        #[action()]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action(..)]` needs `id = \"..\"` and `name = \"..\"`");
}

#[test]
fn action_with_a_misspelt_key() {
    let out = connector_with(quote! {
        #[action(id = "send", nmae = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "unknown argument `nmae` of `#[action(..)]`: did you mean `name`?");
}

#[test]
fn action_with_three_params() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send, extra: u8) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action]` fns take two parameters");
}

#[test]
fn action_without_params() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send() -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action]` fns take two parameters");
}

#[test]
fn action_with_self() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(&self, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_has_error(&out, "`#[action]` fns take no `self`");
}

#[test]
fn action_not_async() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action]` fns must be `async`: write `async fn send`");
}

#[test]
fn action_generic() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send<T>(ctx: &ActionContext<ChatConfig>, input: T) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[action]` fns cannot be generic");
}

#[test]
fn action_without_a_result() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) { }
    });
    assert_one_error(&out, "an action returns `Result<Output, Error>`");
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Sent { todo!() }
    });
    assert_one_error(&out, "an action returns `Result<Output, Error>`");
}

#[test]
fn trigger_returning_a_result_without_option() {
    let out = connector_with(quote! {
        #[trigger(id = "received", name = "Received")]
        async fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<P, ActionError> { todo!() }
    });
    assert_one_error(&out, "a trigger returns `Result<Option<JobPayload>, Error>`");
}

#[test]
fn trigger_returning_a_bare_option() {
    let out = connector_with(quote! {
        #[trigger(id = "received", name = "Received")]
        async fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option, ActionError> { todo!() }
    });
    assert_one_error(&out, "a trigger returns `Result<Option<JobPayload>, Error>`");
}

#[test]
fn duplicate_member_ids() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        #[action(id = "send", name = "Send again")]
        async fn send_again(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "duplicate action id `send`: `send` uses it already");
}

#[test]
fn an_action_and_a_trigger_may_share_an_id() {
    let out = connector_with(quote! {
        #[action(id = "message", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        #[trigger(id = "message", name = "Received")]
        async fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<P>, ActionError> { todo!() }
    });
    assert_eq!(errors(&out), Vec::<String>::new());
}

#[test]
fn member_named_like_a_generated_fn() {
    let out = connector_with(quote! {
        #[action(id = "init", name = "Init")]
        async fn init(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`init` is generated by `#[connector]`");
}

#[test]
fn member_with_a_bad_id() {
    let out = connector_with(quote! {
        #[action(id = "send/message", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "the action id `send/message` has the character '/'");
}

#[test]
fn every_member_error_is_reported_at_once() {
    let out = connector_with(quote! {
        #[action(id = "", name = "Send")]
        fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        #[trigger(id = "received", name = "Received")]
        async fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<P, ActionError> { todo!() }
    });
    // Signatures are checked while parsing; ids wait for a parsed model.
    assert_has_error(&out, "`#[action]` fns must be `async`");
    assert_has_error(&out, "a trigger returns `Result<Option<JobPayload>, Error>`");
}

#[test]
fn connector_errors_keep_the_users_impl_without_member_attributes() {
    let out = connector_with(quote! {
        #[action(id = "", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "the action id must not be empty");
    let text = out.to_string();
    assert!(text.contains("impl Chat"), "{text}");
    assert!(text.contains("async fn send"), "{text}");
    assert!(!text.contains("# [action"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// #[job]

#[test]
fn job_on_garbage() {
    let out = expand::job(job_args(), quote! { struct Post; });
    assert_one_error(&out, "`#[job]` goes on an `async fn(payload, io) -> Result<T, E>`");
    let out = expand::job(job_args(), quote! { async fn ( ) -> });
    assert_one_error(&out, "`#[job]` goes on an `async fn");
    let out = expand::job(job_args(), TokenStream::new());
    assert_one_error(&out, "`#[job]` goes on an `async fn");
}

#[test]
fn job_without_args() {
    let out = expand::job(TokenStream::new(), job_fn());
    assert_one_error(&out, "`#[job(..)]` needs `id = \"..\"`, `name = \"..\"` and `version = \"1.0.0\"`");
}

#[test]
fn job_with_event_and_trigger() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, trigger = Chat::received };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "a job has one trigger, and this one has `event = ..` and `trigger = ..`: keep one of them");
}

#[test]
fn job_without_a_trigger() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0" };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "a job needs a trigger");
}

#[test]
fn job_trigger_without_a_connector() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", trigger = received };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "name the connector and its trigger fn");
}

#[test]
fn job_integration_without_a_value() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(chat) };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "expected `key = ConnectorType`, like `chat = SimpleChat`");
}

#[test]
fn job_integration_with_a_literal_value() {
    let args =
        quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(chat = "SimpleChat") };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "expected `key = ConnectorType`");
}

#[test]
fn job_integration_named_io() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(io = Chat) };
    let out = expand::job(args, job_fn());
    // The generated io struct has no field of its own, so `io` is a key like any other.
    assert_eq!(errors(&out), Vec::<String>::new());
}

#[test]
fn job_integration_declared_twice() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, integrations(chat = Chat, chat = Other) };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "integration `chat` is declared twice");
}

#[test]
fn job_with_a_bad_id_and_version() {
    let args = quote! { id = "post job", name = "Post", version = "v1", event = Requested };
    let out = expand::job(args, job_fn());
    assert_has_error(&out, "the job id `post job` has the character ' '");
    assert_has_error(&out, "`v1` is not a semantic version");
    assert_eq!(errors(&out).len(), 2);
}

#[test]
fn job_not_async() {
    let out = expand::job(
        job_args(),
        quote! { fn post(payload: Requested, io: PostIo<'_>) -> Result<String, JobError> { todo!() } },
    );
    assert_one_error(&out, "`#[job]` fns must be `async`: write `async fn post`");
}

#[test]
fn job_with_one_param() {
    let out =
        expand::job(job_args(), quote! { async fn post(payload: Requested) -> Result<String, JobError> { todo!() } });
    assert_one_error(&out, "`#[job]` fns take two parameters");
}

#[test]
fn job_with_three_params() {
    let out = expand::job(
        job_args(),
        quote! { async fn post(payload: Requested, io: PostIo<'_>, extra: u8) -> Result<String, JobError> { todo!() } },
    );
    assert_one_error(&out, "`#[job]` fns take two parameters");
}

#[test]
fn job_with_a_wrong_io_type() {
    let out = expand::job(
        job_args(),
        quote! { async fn post(payload: Requested, io: &Io) -> Result<String, JobError> { todo!() } },
    );
    assert_one_error(&out, "write `io: PostIo<'_>`");
}

#[test]
fn job_without_a_result() {
    let out = expand::job(job_args(), quote! { async fn post(payload: Requested, io: PostIo<'_>) { } });
    assert_one_error(&out, "a job returns `Result<T, E>`");
    let out =
        expand::job(job_args(), quote! { async fn post(payload: Requested, io: PostIo<'_>) -> String { todo!() } });
    assert_one_error(&out, "a job returns `Result<T, E>`");
}

#[test]
fn job_errors_keep_the_users_fn() {
    let args = quote! { id = "", name = "Post", version = "1.0.0", event = Requested };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "the job id must not be empty");
    assert!(out.to_string().contains("async fn post"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// #[job(cron = ..)] / #[job(every = ..)]

fn tick_fn() -> TokenStream {
    quote! {
        async fn post(tick: Tick, io: PostIo<'_>) -> Result<(), JobError> {
            Ok(())
        }
    }
}

#[test]
fn job_with_cron_and_event() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, cron = "*/5 * * * *" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "a job has one trigger, and this one has `event = ..` and `cron = ..`: keep one of them");
}

#[test]
fn job_with_every_kind_of_trigger() {
    let args = quote! {
        id = "post", name = "Post", version = "1.0.0",
        event = Requested, trigger = Chat::received, cron = "* * * * *", every = "1m"
    };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "this one has `event = ..`, `trigger = ..`, `cron = ..` and `every = ..`: keep one of them");
}

#[test]
fn job_with_cron_and_every() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = "* * * * *", every = "1m" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "this one has `cron = ..` and `every = ..`");
}

#[test]
fn job_with_an_empty_cron() {
    for cron in ["", "   "] {
        let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = #cron };
        let out = expand::job(args, tick_fn());
        assert_one_error(&out, "the cron expression is empty: a cron expression has 5 fields");
    }
}

#[test]
fn job_with_a_cron_of_the_wrong_length() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = "*/5 * * *" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "`*/5 * * *` has 4 fields: a cron expression has 5 fields");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = "0 0 0 * * * 2030 x" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "has 8 fields");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = "@hourly *" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "`@hourly *` is an alias followed by more fields");
}

#[test]
fn job_with_a_cron_that_is_not_a_string() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron = 5 };
    let out = expand::job(args, tick_fn());
    assert_eq!(errors(&out).len(), 1, "{out}");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", cron };
    let out = expand::job(args, tick_fn());
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn job_with_a_bad_interval() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", every = "5 parsecs" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "`5 parsecs` is not a duration");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", every = "0s" };
    let out = expand::job(args, tick_fn());
    assert_one_error(&out, "a job's interval must be at least 1ms, not `0s`");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", every = 30 };
    let out = expand::job(args, tick_fn());
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn scheduled_jobs_expand_without_errors() {
    for schedule in [quote! { cron = "*/5 * * * *" }, quote! { cron = "@daily" }, quote! { every = "30s" }] {
        let args = quote! { id = "post", name = "Post", version = "1.0.0", #schedule };
        let out = expand::job(args, tick_fn());
        assert!(errors(&out).is_empty(), "{out}");
        let text = out.to_string();
        assert!(text.contains("OnSchedule < PostJob >"), "{text}");
        assert!(text.contains("impl :: connector_runtime :: ScheduledJob for PostJob"), "{text}");
    }
}

// ---------------------------------------------------------------------------------------------
// #[trigger(poll(..))]

#[test]
fn polling_trigger_expands_without_errors() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert!(errors(&out).is_empty(), "{out}");
    let text = out.to_string();
    assert!(text.contains("PollFn"), "{text}");
    assert!(text.contains("fn poll_entries"), "{text}");
    assert!(text.contains("JobTriggerFn"), "{text}");
}

#[test]
fn polling_trigger_without_every() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll())]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "`poll(..)` needs `every = \"30s\"`");
}

#[test]
fn polling_trigger_with_a_bad_interval() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "soon"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "`soon` is not a duration");
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "0ms"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "a polling trigger's interval must be at least 1ms");
}

#[test]
fn polling_trigger_with_a_misspelt_key() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(evrey = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "unknown argument `evrey` of `poll(..)`: did you mean `every`?");
}

#[test]
fn polling_trigger_not_returning_polled() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Option<Item>, ActionError> { todo!() }
    });
    assert_one_error(&out, "a polling trigger returns `Result<Polled<Item, Cursor>, Error>`");
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item>, ActionError> { todo!() }
    });
    assert_one_error(&out, "a polling trigger returns `Result<Polled<Item, Cursor>, Error>`");
}

#[test]
fn polling_trigger_without_a_cursor_parameter() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "fns take two parameters: `ctx: &TriggerContext<Config>` and `cursor: Option<Cursor>`");
}

#[test]
fn trigger_returning_polled_without_poll() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New")]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "this trigger returns `Polled<..>`, so it is a polling trigger");
}

#[test]
fn polling_trigger_with_a_webhook() {
    let out = connector_with(quote! {
        #[trigger(id = "new", name = "New", poll(every = "30s"), webhook(github(secret = secret)))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "a trigger either receives webhooks or polls");
}

#[test]
fn action_with_poll() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send", poll(every = "30s"))]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`poll` is for triggers");
}

#[test]
fn polling_trigger_with_broken_args_is_one_error() {
    // The arguments do not parse; the `Polled` return type still marks it as a polling trigger,
    // so its signature is not reported as a malformed webhook trigger on top.
    let out = connector_with(quote! {
        #[trigger(id = "new", nmae = "New", poll(every = "30s"))]
        async fn new_items(ctx: &TriggerContext<ChatConfig>, cursor: Option<u64>) -> Result<Polled<Item, u64>, ActionError> { todo!() }
    });
    assert_one_error(&out, "unknown argument `nmae` of `#[trigger(..)]`: did you mean `name`?");
}

// ---------------------------------------------------------------------------------------------
// #[derive(Event)]

#[test]
fn event_on_garbage() {
    let out = expand::event(quote! { struct });
    assert_eq!(errors(&out).len(), 1, "{out}");
    let out = expand::event(TokenStream::new());
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn event_without_a_name() {
    let out = expand::event(quote! { struct Requested { text: String } });
    assert_one_error(&out, "`#[derive(Event)]` needs the event's name: add `#[event(name = \"..\")]`");
    let out = expand::event(quote! { #[event] struct Requested { text: String } });
    assert_eq!(errors(&out).len(), 1, "{out}");
}

#[test]
fn event_with_a_bad_name() {
    let out = expand::event(quote! { #[event(name = "chat requested")] struct Requested; });
    assert_one_error(&out, "the event id `chat requested` has the character ' '");
    let out = expand::event(quote! { #[event(name = "")] struct Requested; });
    assert_one_error(&out, "the event id must not be empty");
}

#[test]
fn event_with_an_unknown_key() {
    let out = expand::event(quote! { #[event(name = "chat.requested", nmae = "x")] struct Requested; });
    assert_one_error(&out, "unknown argument `nmae` of `#[event(..)]`: did you mean `name`?");
}

// ---------------------------------------------------------------------------------------------
// #[action] / #[trigger] outside #[connector]

#[test]
fn stray_member_attributes() {
    for kind in ["action", "trigger"] {
        let item = quote! { async fn send(ctx: &ActionContext<C>, input: I) -> Result<O, ActionError> { todo!() } };
        let out = stray::expand(kind, quote! { id = "send", name = "Send" }, item);
        assert_one_error(
            &out,
            &format!(
                "`#[{kind}]` is read by the `#[connector(..)]` of the `impl` block around it. If this block has no `#[connector]`, add it"
            ),
        );
        // The fn itself is kept, so its body still type-checks and nothing else cascades.
        assert!(out.to_string().contains("async fn send"), "{out}");
    }
}
