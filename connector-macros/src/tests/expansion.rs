//! What the macros generate for a small simple-chat-like connector, its jobs and an event,
//! pretty-printed and compared with the snapshots beside this file.
//!
//! Update after an intended change with `INSTA_UPDATE=always cargo test -p connector-macros`,
//! then read the diff: the generated code should stay readable and use only absolute paths.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand;

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File =
        syn::parse2(tokens.clone()).unwrap_or_else(|error| panic!("the expansion is not Rust ({error}): {tokens}"));
    prettyplease::unparse(&file)
}

#[test]
fn connector_expansion() {
    let args = quote! {
        id = "simple-chat", name = "Simple Chat", version = "1.0.0", config = SimpleChatConfig
    };
    let item = quote! {
        /// Talks to the Simple Chat API.
        impl SimpleChat {
            /// Posts a message to a channel.
            #[action(id = "sendMessage", name = "Send Message")]
            pub async fn send_message(
                ctx: &ActionContext<SimpleChatConfig>,
                input: SendMessage,
            ) -> Result<SentMessage, ActionError> {
                ctx.logger().info("sending");
                Ok(SentMessage { message_id: input.message })
            }

            /// A message was posted in a channel.
            #[trigger(id = "message.received", name = "Message Received")]
            pub async fn message_received(
                ctx: &TriggerContext<SimpleChatConfig>,
                payload: MessageReceived,
            ) -> Result<Option<MessageReceived>, ActionError> {
                Ok(Some(payload))
            }
        }
    };
    insta::assert_snapshot!(pretty(expand::connector(args, item)));
}

#[test]
fn job_on_event_expansion() {
    let args = quote! {
        id = "send-chat-message",
        name = "Send Chat Message",
        version = "1.0.0",
        event = SendMessageEvent,
        integrations(chat = SimpleChat)
    };
    let item = quote! {
        /// Posts the event's message to its channel.
        pub async fn send_chat_message(
            payload: SendMessageEvent,
            io: SendChatMessageIo<'_>,
        ) -> Result<String, JobError> {
            let sent = io
                .chat
                .send_message("send", SendMessage { channel: payload.channel, message: payload.message })
                .await?;
            Ok(sent.message_id)
        }
    };
    insta::assert_snapshot!(pretty(expand::job(args, item)));
}

#[test]
fn job_on_trigger_expansion() {
    let args = quote! {
        id = "acknowledge-message",
        name = "Acknowledge Message",
        version = "1.0.0",
        trigger = SimpleChat::message_received,
        integrations(chat = SimpleChat)
    };
    let item = quote! {
        async fn acknowledge_message(
            payload: MessageReceived,
            io: AcknowledgeMessageIo<'_>,
        ) -> Result<(), JobError> {
            io.logger().info(payload.text);
            Ok(())
        }
    };
    insta::assert_snapshot!(pretty(expand::job(args, item)));
}

#[test]
fn event_expansion() {
    let item = quote! {
        /// Someone asked to post a message.
        #[derive(Serialize, Deserialize, JsonSchema, Event)]
        #[event(name = "manual.send.message")]
        pub struct SendMessageEvent {
            pub channel: String,
            pub message: String,
        }
    };
    insta::assert_snapshot!(pretty(expand::event(item)));
}

#[test]
fn generic_event_expansion() {
    let item = quote! {
        #[event(name = "batch.ready")]
        pub struct Batch<T: Clone> where T: Send {
            pub items: Vec<T>,
        }
    };
    insta::assert_snapshot!(pretty(expand::event(item)));
}

#[test]
fn job_on_schedule_expansion() {
    let args = quote! {
        id = "nightly-report",
        name = "Nightly Report",
        version = "1.0.0",
        cron = "0 3 * * *"
    };
    let item = quote! {
        /// Sums up the day.
        async fn nightly_report(tick: Tick, io: NightlyReportIo<'_>) -> Result<String, JobError> {
            Ok(tick.scheduled_at.to_string())
        }
    };
    insta::assert_snapshot!(pretty(expand::job(args, item)));
}

#[test]
fn polling_trigger_expansion() {
    let args = quote! {
        id = "tracker", name = "Tracker", version = "1.0.0", config = TrackerConfig
    };
    let item = quote! {
        impl Tracker {
            /// Issues opened since the last poll.
            #[trigger(id = "issues.new", name = "New Issues", poll(every = "30s"))]
            pub async fn new_issues(
                ctx: &TriggerContext<TrackerConfig>,
                cursor: Option<u64>,
            ) -> Result<Polled<Issue, u64>, ActionError> {
                Ok(Polled::nothing())
            }
        }
    };
    insta::assert_snapshot!(pretty(expand::connector(args, item)));
}

/// What a connector with a mistake expands to: its block as written, the error inside
/// `__ERRORS`, and the stubs keyed by it.
#[test]
fn connector_fallback_expansion() {
    let args = quote! {
        id = "simple-chat", name = "Simple Chat", version = "1.0.0", config = SimpleChatConfig
    };
    let item = quote! {
        impl SimpleChat {
            #[action(id = "sendMessage", nmae = "Send Message")]
            pub async fn send_message(
                ctx: &ActionContext<SimpleChatConfig>,
                input: SendMessage,
            ) -> Result<SentMessage, ActionError> {
                Ok(SentMessage { message_id: input.message })
            }

            #[trigger(id = "message.received", name = "Message Received")]
            pub async fn message_received(
                ctx: &TriggerContext<SimpleChatConfig>,
                payload: MessageReceived,
            ) -> Result<Option<MessageReceived>, ActionError> {
                Ok(Some(payload))
            }
        }
    };
    insta::assert_snapshot!(pretty(expand::connector(args, item)));
}

/// What a job with a mistake expands to.
#[test]
fn job_fallback_expansion() {
    let args = quote! {
        id = "send-chat-message",
        name = "Send Chat Message",
        version = "1.0.0",
        event = SendMessageEvent,
        integrations(chat = SimpleChat)
    };
    let item = quote! {
        pub fn send_chat_message(payload: SendMessageEvent, io: SendChatMessageIo<'_>) -> Result<String, JobError> {
            Ok(payload.message)
        }
    };
    insta::assert_snapshot!(pretty(expand::job(args, item)));
}
