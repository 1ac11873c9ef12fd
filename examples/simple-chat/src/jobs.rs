//! Two jobs started by events (send a message, read a channel), and one started by the
//! connector's `message.received` trigger.

use connector_runtime::prelude::*;

use crate::connector::{ChannelInfo, GetChannelInfo, MessageReceived, SendMessage, SimpleChat};

/// Someone asked to post a message.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "manual.send.message")]
pub struct SendMessageEvent {
    /// The channel to post in.
    pub channel: String,
    /// The message text.
    pub message: String,
}

/// Someone asked about a channel.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "manual.get.channel.info")]
#[serde(rename_all = "camelCase")]
pub struct GetChannelInfoEvent {
    /// The channel's id.
    pub channel_id: String,
}

/// What `send-chat-message` returns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageProcessed {
    /// Always `message_processed`.
    pub status: String,
    /// The posted message's id.
    pub message_id: String,
}

/// Posts the event's message to its channel.
#[job(
    id = "send-chat-message",
    name = "Send Chat Message to Custom Service",
    version = "1.0.0",
    event = SendMessageEvent,
    integrations(chat = SimpleChat)
)]
pub async fn send_chat_message(
    payload: SendMessageEvent,
    io: SendChatMessageIo<'_>,
) -> Result<MessageProcessed, JobError> {
    let sent = io
        .chat
        .send_message("send-message-action", SendMessage { channel: payload.channel, message: payload.message })
        .await?;
    io.logger().info(format!("Message sent successfully! Message ID: {}", sent.message_id));
    Ok(MessageProcessed { status: "message_processed".into(), message_id: sent.message_id })
}

/// Looks a channel up and logs what it finds.
#[job(
    id = "get-chat-channel-info",
    name = "Get Custom Chat Channel Info",
    version = "1.0.0",
    event = GetChannelInfoEvent,
    integrations(chat = SimpleChat)
)]
pub async fn get_chat_channel_info(
    payload: GetChannelInfoEvent,
    io: GetChatChannelInfoIo<'_>,
) -> Result<ChannelInfo, JobError> {
    let info = io
        .chat
        .get_channel_info("get-channel-info-step", GetChannelInfo { channel_id: payload.channel_id.clone() })
        .await?;
    if info.found {
        io.logger().info(format!("Channel Name: {}", info.name));
        io.logger().info(format!("Members: {}", info.member_count));
        if let Some(topic) = &info.topic {
            io.logger().info(format!("Topic: {topic}"));
        }
    } else {
        io.logger().warn(format!("Channel with ID {} not found.", payload.channel_id));
    }
    Ok(info)
}

/// Answers every received message with the channel's member count.
#[job(
    id = "acknowledge-message",
    name = "Acknowledge Received Messages",
    version = "1.0.0",
    trigger = SimpleChat::message_received,
    integrations(chat = SimpleChat)
)]
pub async fn acknowledge_message(payload: MessageReceived, io: AcknowledgeMessageIo<'_>) -> Result<String, JobError> {
    let info = io.chat.get_channel_info("channel", GetChannelInfo { channel_id: payload.channel.clone() }).await?;
    let reply = format!("{} said \"{}\" to {} members", payload.sender, payload.text, info.member_count);
    let sent =
        io.chat.send_message("acknowledge", SendMessage { channel: payload.channel, message: reply.clone() }).await?;
    Ok(sent.message_id)
}
