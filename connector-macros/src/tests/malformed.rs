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
    // Every rule runs on the whole model: three mistakes, three errors.
    assert_has_error(&out, "`#[action]` fns must be `async`");
    assert_has_error(&out, "a trigger returns `Result<Option<JobPayload>, Error>`");
    assert_has_error(&out, "the action id must not be empty");
    assert_eq!(errors(&out).len(), 3, "{:#?}", errors(&out));
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
    assert!(text.contains("visitor . poll"), "{text}");
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

// ---------------------------------------------------------------------------------------------
// Values of the wrong kind, unknown and repeated keys

#[test]
fn values_of_the_wrong_kind_say_what_to_write() {
    let cases = [
        (quote! { id = 5, name = "Chat", version = "1.0.0", config = ChatConfig }, "expected a string: `id = \"..\"`"),
        (
            quote! { id = "chat", name = true, version = "1.0.0", config = ChatConfig },
            "expected a string: `name = \"..\"`",
        ),
        (
            quote! { id = "chat", name = "Chat", version = 1, config = ChatConfig },
            "expected a string: `version = \"..\"`",
        ),
        (
            quote! { id = "chat", name = "Chat", version = "1.0.0", config = "ChatConfig" },
            "expected a type: `config = MyType`",
        ),
        (
            quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig, check = 5 },
            "expected a path to a fn: `check = Self::my_fn`",
        ),
        (
            quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig, rate_limit(per_second = "10") },
            "expected a whole number: `per_second = 3`",
        ),
        (
            quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig, rate_limit(per_second = -1) },
            "`per_second` cannot be negative",
        ),
    ];
    for (args, expected) in cases {
        assert_one_error(&expand::connector(args, quote! { impl Chat {} }), expected);
    }
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send", retry(jitter = 1, factor = "2"))]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_has_error(&out, "expected `true` or `false`: `jitter = true`");
    assert_has_error(&out, "expected a number: `factor = 2.0`");
    let args = quote! { id = "post", name = "Post", version = "1.0.0", every = 30, concurrency = "4" };
    let out = expand::job(args, job_fn());
    assert_has_error(&out, "expected a duration: `every = \"30s\"`");
    assert_has_error(&out, "expected a whole number: `concurrency = 3`");
    let out = connector_with(quote! {
        #[trigger(id = "x", name = "X", webhook(github(secret = config.secret)))]
        async fn x(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<P>, ActionError> { todo!() }
    });
    assert_one_error(&out, "expected the name of a config field: `secret = webhook_secret`");
}

#[test]
fn an_unknown_key_without_a_close_match_lists_the_keys() {
    let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, zzz = 1 };
    let out = expand::job(args, job_fn());
    assert_one_error(
        &out,
        "unknown argument `zzz` of `#[job(..)]`: it takes `id`, `name`, `version`, `description`, `event`, `trigger`, \
         `cron`, `every`, `integrations(..)`, `retry(..)` and `concurrency`",
    );
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send", retry(attempts = 3))]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "unknown argument `attempts` of `retry(..)`: did you mean `max_attempts`?");
}

#[test]
fn a_key_given_twice() {
    let args = quote! { id = "chat", id = "chat2", name = "Chat", version = "1.0.0", config = ChatConfig };
    assert_one_error(&expand::connector(args, quote! { impl Chat {} }), "`id` is given twice in `#[connector(..)]`");
}

// ---------------------------------------------------------------------------------------------
// Rules on values

#[test]
fn rate_limits_of_zero() {
    for (limit, expected) in [
        (quote! { per_second = 0 }, "`per_second` is how many requests may start each second: use 1 or more"),
        (
            quote! { per_second = 10, burst = 0 },
            "`burst` is how many requests may go at once after a quiet spell: use 1 or more",
        ),
        (quote! { concurrency = 0 }, "`concurrency` is how many requests may be in flight at once: use 1 or more"),
        (quote! { burst = 5 }, "`burst` shapes `per_second`: give `per_second` too"),
        (quote! { per_second = 4294967296 }, "`4294967296` is too large: use at most 4294967295"),
    ] {
        let args = quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig, rate_limit(#limit) };
        assert_one_error(&expand::connector(args, quote! { impl Chat {} }), expected);
    }
    let args = quote! { id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig, rate_limit(per_second = 1, burst = 1, concurrency = 1) };
    assert_eq!(errors(&expand::connector(args, quote! { impl Chat {} })), Vec::<String>::new());
}

#[test]
fn retry_rules() {
    for (retry, expected) in [
        (quote! { max_attempts = 0 }, "`max_attempts` counts the first attempt too: use 1 or more"),
        (
            quote! { factor = 0.5 },
            "`factor` is what each delay is multiplied by to give the next: use a number of at least 1.0",
        ),
        (quote! { factor = 1e999 }, "`factor` is what each delay is multiplied by"),
        (quote! { min_delay = "10s", max_delay = "1s" }, "`min_delay = \"10s\"` is longer than `max_delay = \"1s\"`"),
        (
            quote! { min_delay = "2m" },
            "`min_delay = \"2m\"` is longer than the default `max_delay` of 1m: set `max_delay` too",
        ),
        (quote! { timeout = "0ms" }, "an attempt's `timeout` must be at least 1ms, not `0ms`"),
    ] {
        let out = connector_with(quote! {
            #[action(id = "send", name = "Send", retry(#retry))]
            async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        });
        assert_one_error(&out, expected);
        let args = quote! { id = "post", name = "Post", version = "1.0.0", event = Requested, retry(#retry) };
        assert_one_error(&expand::job(args, job_fn()), expected);
    }
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send", retry(max_attempts = 3, factor = 2, min_delay = "1s", max_delay = "1s", jitter, timeout = "5s"))]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_eq!(errors(&out), Vec::<String>::new());
    assert!(out.to_string().contains("factor : 2f64"), "{out}");
}

#[test]
fn webhook_rules() {
    let trigger = |webhook: TokenStream| {
        connector_with(quote! {
            #[trigger(id = "x", name = "X", webhook(#webhook))]
            async fn x(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<P>, ActionError> { todo!() }
        })
    };
    for (webhook, expected) in [
        (quote! { github(secret = s), stripe(secret = s) }, "a webhook has one signature scheme"),
        (
            quote! { github(secret = s, tolerance = "5m") },
            "GitHub signs no timestamp, so `github(..)` has no `tolerance`",
        ),
        (quote! { stripe(secret = s, tolerance = "0s") }, "a signature's `tolerance` must be at least 1ms"),
        (quote! { hmac_sha256(header = " ", secret = s) }, "`header` names the header carrying the signature"),
        (
            quote! { github(secret = s), subscribe = Self::subscribe },
            "needs both `subscribe = Self::f` and `unsubscribe = Self::g`",
        ),
        (quote! { hmac_sha256(secret = s) }, "`hmac_sha256(..)` needs `header = \"X-Signature\"`"),
        (quote! { github(secret = s), unsigned }, "a webhook with a signature scheme is not `unsigned`"),
        (quote! { unsignd }, "did you mean `unsigned`?"),
    ] {
        assert_one_error(&trigger(webhook), expected);
    }
    let out = trigger(quote! { github(secret = s), subscribe = Self::subscribe, unsubscribe = Self::unsubscribe });
    assert_eq!(errors(&out), Vec::<String>::new());
    assert!(out.to_string().contains("visitor . trigger"), "{out}");
    assert!(out.to_string().contains("Some ((| integration , url |"), "the subscription goes to the engine: {out}");
    let out = trigger(quote! { unsigned });
    assert_eq!(errors(&out), Vec::<String>::new());
    assert!(out.to_string().contains("const UNSIGNED : bool = true"), "{out}");
    assert!(!trigger(quote! { unsigned = false }).to_string().contains("UNSIGNED"));
}

#[test]
fn stored_types_cannot_borrow() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: &str) -> Result<Cow<'static, str>, ActionError> { todo!() }
    });
    assert_one_error(&out, "this input is stored with the run and read back, so it cannot borrow");
    let out = connector_with(quote! {
        #[trigger(id = "x", name = "X")]
        async fn x(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<Item<'a>>, ActionError> { todo!() }
    });
    assert_one_error(&out, "this output is stored with the run and read back, so it cannot borrow");
}

// ---------------------------------------------------------------------------------------------
// Members

#[test]
fn one_fn_is_one_member() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        #[trigger(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "a fn is one member: keep one `#[action]` or `#[trigger]`");
}

#[test]
fn members_in_cfg_attr_are_not_seen() {
    let out = connector_with(quote! {
        #[cfg_attr(feature = "chat", action(id = "send", name = "Send"))]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`#[connector]` reads `#[action]` and `#[trigger]` before `cfg_attr` is applied");
}

#[test]
fn member_attributes_on_other_items() {
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        const SEND: u8 = 1;
        #[trigger(id = "t", name = "T")]
        type Payload = u8;
    });
    assert_has_error(&out, "`#[action]` goes on an `async fn` of this block, not on a const");
    assert_has_error(&out, "`#[trigger]` goes on an `async fn` of this block, not on a type");
    assert_eq!(errors(&out).len(), 2);
    // Both attributes are removed, so `#[action]` itself does not report them again.
    assert!(!out.to_string().contains("# [action"), "{out}");
}

#[test]
fn cfg_gated_members_carry_their_cfgs() {
    let out = connector_with(quote! {
        #[cfg(feature = "a")]
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        #[cfg(not(feature = "a"))]
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    // Same id and name under exclusive cfgs: at most one is compiled.
    assert_eq!(errors(&out), Vec::<String>::new());
    let text = out.to_string();
    // The user's fn, then the key, the constant, the manifest and entry list elements, the
    // member list, the client method and the impl: eight for each of the two.
    assert_eq!(text.matches("# [cfg (feature = \"a\")]").count(), 8, "{text}");
    assert_eq!(text.matches("# [cfg (not (feature = \"a\"))]").count(), 8, "{text}");
}

// ---------------------------------------------------------------------------------------------
// The fallback

#[test]
fn a_broken_connector_still_has_its_stubs() {
    let out = connector_with(quote! {
        #[action(id = "send", nmae = "Send")]
        pub async fn send_message(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
        #[trigger(id = "received", name = "Received")]
        fn received(ctx: &TriggerContext<ChatConfig>, p: P) -> Result<Option<P>, ActionError> { todo!() }
    });
    assert_has_error(&out, "unknown argument `nmae`");
    assert_has_error(&out, "`#[trigger]` fns must be `async`");
    let text = out.to_string();
    for stub in [
        "impl :: connector_runtime :: Connector for Chat",
        "pub struct ChatClient",
        "pub fn init",
        "pub const SEND_MESSAGE",
        "const RECEIVED",
        "pub async fn send_message",
        "impl :: connector_runtime :: __private :: ConnectorMembers for Chat",
        "const __ERRORS : u64",
    ] {
        assert!(text.contains(stub), "no `{stub}` in {text}");
    }
}

#[test]
fn the_fallback_does_not_repeat_the_users_names() {
    let out = connector_with(quote! {
        fn init() {}
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> { todo!() }
    });
    assert_one_error(&out, "`init` is generated by `#[connector]`");
    assert_eq!(out.to_string().matches("fn init").count(), 1, "{out}");
}

#[test]
fn a_broken_job_still_has_its_stubs() {
    let args = quote! { id = "post", nmae = "Post", version = "1.0.0", event = Requested };
    let out = expand::job(args, job_fn());
    assert_one_error(&out, "unknown argument `nmae` of `#[job(..)]`: did you mean `name`?");
    let text = out.to_string();
    for stub in ["struct PostJob", "struct PostIo", "impl :: connector_runtime :: Job for PostJob", "async fn post"] {
        assert!(text.contains(stub), "no `{stub}` in {text}");
    }
}

#[test]
fn a_broken_event_still_implements_event() {
    let out = expand::event(quote! { #[event(name = "bad name")] struct Requested; });
    assert_one_error(&out, "the event id `bad name` has the character ' '");
    assert!(out.to_string().contains("impl :: connector_runtime :: Event for Requested"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Bodies are tokens

#[test]
fn a_half_typed_body_still_expands() {
    // The macros never parse fn bodies: rustc reports what is wrong inside one, and everything
    // around it (the client, the constants, rust-analyzer's completions) is still generated.
    let out = connector_with(quote! {
        #[action(id = "send", name = "Send")]
        async fn send(ctx: &ActionContext<ChatConfig>, input: Send) -> Result<Sent, ActionError> {
            let sent = ctx.http().post(,) = ;
            input.
        }
    });
    assert_eq!(errors(&out), Vec::<String>::new());
    assert!(out.to_string().contains("impl :: connector_runtime :: Connector for Chat"), "{out}");
    let out = expand::job(
        job_args(),
        quote! { async fn post(payload: Requested, io: PostIo<'_>) -> Result<String, JobError> { io.chat. } },
    );
    assert_eq!(errors(&out), Vec::<String>::new());
    assert!(out.to_string().contains("impl :: connector_runtime :: Job for PostJob"), "{out}");
}
