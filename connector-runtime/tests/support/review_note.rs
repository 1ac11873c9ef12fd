//! A job that logs, then waits for a token: a run that stays unfinished until its token is
//! completed or it is cancelled (`#[path]`-included by the server's tests that need one).
#![allow(dead_code)]

use std::time::Duration;

use connector_runtime::prelude::*;

/// A note someone filed: starts `review-note`.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "note.filed")]
pub struct NoteFiled {
    pub text: String,
}

/// What the review's token is completed with.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    pub ok: bool,
}

/// Logs, then waits for the token `{run}:review` for an hour; its output is the approval.
#[job(id = "review-note", name = "Review note", version = "1.0.0", event = NoteFiled)]
pub async fn review_note(payload: NoteFiled, io: ReviewNoteIo<'_>) -> Result<bool, JobError> {
    io.logger().info(format!("reviewing {}", payload.text));
    let approval: Approval = io.wait_for_token("review", Duration::from_secs(3600)).await?;
    Ok(approval.ok)
}
