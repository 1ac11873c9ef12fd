//! The jobs, unit-tested: their actions answered by the test, no chat service, no store on disk.

use chrono::Utc;
use connector_runtime::testing::JobTest;
use connector_runtime::{ActionError, RunStatus, Secret};
use simple_chat::SimpleChatConfig;
use simple_chat::connector::{ChannelInfo, MessageReceived, SentMessage, SimpleChat};
use simple_chat::jobs::{
    AcknowledgeMessageJob, GetChannelInfoEvent, GetChatChannelInfoJob, MessageProcessed, SendChatMessageJob,
    SendMessageEvent,
};

fn chat() -> connector_runtime::Integration<SimpleChat> {
    // Nothing listens there: every action the tests reach is mocked.
    SimpleChat::init(SimpleChatConfig::new(Secret::new("test-key")).base_url("http://127.0.0.1:9"))
}

fn general(members: u32) -> ChannelInfo {
    ChannelInfo { name: "General".into(), member_count: members, topic: None, found: true }
}

#[tokio::test(start_paused = true)]
async fn send_chat_message_posts_the_events_message() {
    let run = JobTest::new(SendChatMessageJob)
        .connector(chat())
        .mock(SimpleChat::SEND_MESSAGE, |input| {
            Ok(SentMessage {
                message_id: format!("m-{}", input.message.len()),
                channel: input.channel,
                timestamp: Utc::now(),
            })
        })
        .run(SendMessageEvent { channel: "general".into(), message: "hello".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    assert_eq!(run.output::<MessageProcessed>().message_id, "m-5");
    assert_eq!(run.step_keys(), ["send-message-action"]);
    let calls = run.calls(SimpleChat::SEND_MESSAGE);
    assert_eq!((calls[0].channel.as_str(), calls[0].message.as_str()), ("general", "hello"));
}

#[tokio::test(start_paused = true)]
async fn a_refused_post_fails_the_run_with_the_services_reason() {
    let run = JobTest::new(SendChatMessageJob)
        .connector(chat())
        .mock(SimpleChat::SEND_MESSAGE, |_| {
            Err(ActionError::Rejected { status: 404, message: "no such channel".into() })
        })
        .run(SendMessageEvent { channel: "nowhere".into(), message: "hi".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Failed);
    assert!(run.error().unwrap().contains("no such channel"), "{:?}", run.error());
}

#[tokio::test(start_paused = true)]
async fn get_chat_channel_info_returns_what_the_service_says() {
    let run = JobTest::new(GetChatChannelInfoJob)
        .connector(chat())
        .mock(SimpleChat::GET_CHANNEL_INFO, |input| {
            assert_eq!(input.channel_id, "general");
            Ok(general(42))
        })
        .run(GetChannelInfoEvent { channel_id: "general".into() })
        .await
        .unwrap();
    assert_eq!(run.output::<ChannelInfo>(), general(42));
}

#[tokio::test(start_paused = true)]
async fn acknowledge_message_answers_with_the_member_count() {
    let run = JobTest::new(AcknowledgeMessageJob)
        .connector(chat())
        .mock(SimpleChat::GET_CHANNEL_INFO, |_| Ok(general(7)))
        .mock(SimpleChat::SEND_MESSAGE, |input| {
            Ok(SentMessage { message_id: "ack-1".into(), channel: input.channel, timestamp: Utc::now() })
        })
        .run(MessageReceived {
            channel: "general".into(),
            sender: "ada".into(),
            text: "hi".into(),
            timestamp: Utc::now(),
        })
        .await
        .unwrap();
    assert_eq!(run.output::<String>(), "ack-1");
    assert_eq!(run.step_keys(), ["channel", "acknowledge"]);
    assert_eq!(run.calls(SimpleChat::SEND_MESSAGE)[0].message, "ada said \"hi\" to 7 members");
}
