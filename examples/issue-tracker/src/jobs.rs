//! A job that files a reported bug and reports how many issues are open.

use connector_runtime::prelude::*;

use crate::connector::{Issue, IssueRef, IssueTracker, ListIssues, NewIssue};

/// Someone reported a bug.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bug.reported")]
pub struct BugReported {
    /// A one-line summary.
    pub title: String,
    /// What happened.
    pub details: String,
}

/// What `file-bug` returns.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Filed {
    /// The new issue's number.
    pub number: u64,
    /// How many issues are open now.
    pub open_issues: usize,
}

/// Files the bug, reads it back, and counts the open issues (all pages).
#[job(id = "file-bug", name = "File a reported bug", version = "1.0.0", event = BugReported, integrations(tracker = IssueTracker))]
pub async fn file_bug(payload: BugReported, io: FileBugIo<'_>) -> Result<Filed, JobError> {
    let new = NewIssue { title: payload.title, body: Some(payload.details), labels: vec!["bug".into()] };
    let created = io.tracker.create_issue("create", new).await?;
    let issue = io.tracker.get_issue("read-back", IssueRef { number: created.number }).await?;
    let open = io.tracker.list_issues("count-open", ListIssues::default()).await?;
    Ok(Filed { number: issue.number, open_issues: open.issues.len() })
}

/// Labels every newly opened issue for triage (started by the `issue.opened` polling trigger).
#[job(id = "triage-new-issue", name = "Triage a new issue", version = "1.0.0", trigger = IssueTracker::issue_opened,
      integrations(tracker = IssueTracker))]
pub async fn triage_new_issue(issue: Issue, io: TriageNewIssueIo<'_>) -> Result<String, JobError> {
    let current = io.tracker.get_issue("read", IssueRef { number: issue.number }).await?;
    io.logger().info(format!("new issue #{}: {}", current.number, current.title));
    Ok(format!("#{} triaged", current.number))
}
