//! Webhook payloads: the four supported events typed after GitHub's webhook examples, the body
//! as the trigger receives it ([`Delivery`]), and what jobs receive ([`GitHubEvent`]), chosen by
//! the `X-GitHub-Event` header.

use chrono::{DateTime, Utc};
use connector_runtime::prelude::*;

use crate::types::{Issue, IssueComment, User};

/// The repository a webhook event happened in (the fields every event carries the same way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventRepository {
    /// The repository's id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Whether it is private.
    pub private: bool,
    /// Who owns it.
    pub owner: User,
    /// Its page.
    pub html_url: String,
    /// The default branch, when GitHub says.
    #[serde(default)]
    pub default_branch: Option<String>,
}

/// The GitHub App installation a delivery is for (deliveries to an app carry it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InstallationRef {
    /// The installation's id: what the connector's `installationId` is.
    pub id: u64,
}

/// An `issues` event: an issue was opened, edited, labeled, closed, ..
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IssuesEvent {
    /// What happened: `opened`, `edited`, `closed`, `reopened`, `labeled`, `assigned`, ..
    pub action: String,
    /// The issue, as it is now.
    pub issue: Issue,
    /// The repository.
    pub repository: EventRepository,
    /// Who did it.
    pub sender: User,
    /// The label added or removed (`labeled`, `unlabeled`).
    #[serde(default)]
    pub label: Option<EventLabel>,
    /// The user assigned or unassigned (`assigned`, `unassigned`).
    #[serde(default)]
    pub assignee: Option<User>,
    /// The app installation, for deliveries to a GitHub App.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// The label of a `labeled` or `unlabeled` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventLabel {
    /// The label's name.
    pub name: String,
    /// Its color.
    #[serde(default)]
    pub color: Option<String>,
}

/// An `issue_comment` event: a comment on an issue or pull request was created, edited or
/// deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IssueCommentEvent {
    /// `created`, `edited` or `deleted`.
    pub action: String,
    /// The issue (or pull request) commented on.
    pub issue: Issue,
    /// The comment.
    pub comment: IssueComment,
    /// The repository.
    pub repository: EventRepository,
    /// Who did it.
    pub sender: User,
    /// The app installation, for deliveries to a GitHub App.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// Who a commit's author or committer is, or who pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GitActor {
    /// The name in the commit.
    pub name: String,
    /// The email in the commit, when there is one.
    #[serde(default)]
    pub email: Option<String>,
    /// The GitHub login, when GitHub knows it.
    #[serde(default)]
    pub username: Option<String>,
}

/// A commit of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushCommit {
    /// The commit's SHA.
    pub id: String,
    /// Its message.
    pub message: String,
    /// When it was authored.
    pub timestamp: DateTime<Utc>,
    /// Its page.
    pub url: String,
    /// Its author.
    pub author: GitActor,
    /// Whether the commit is new to the repository.
    #[serde(default)]
    pub distinct: bool,
    /// Files added.
    #[serde(default)]
    pub added: Vec<String>,
    /// Files removed.
    #[serde(default)]
    pub removed: Vec<String>,
    /// Files changed.
    #[serde(default)]
    pub modified: Vec<String>,
}

/// A `push` event: commits were pushed to a branch or tag, or a ref was created or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PushEvent {
    /// The ref pushed to, like `refs/heads/main`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The SHA it pointed at before (zeros for a new ref).
    pub before: String,
    /// The SHA it points at now (zeros for a deleted ref).
    pub after: String,
    /// Whether the push created the ref.
    pub created: bool,
    /// Whether the push deleted the ref.
    pub deleted: bool,
    /// Whether it was a force push.
    pub forced: bool,
    /// A page comparing `before` and `after`.
    pub compare: String,
    /// The commits pushed (at most 2048), oldest first.
    pub commits: Vec<PushCommit>,
    /// The newest commit, if any.
    pub head_commit: Option<PushCommit>,
    /// Who pushed.
    pub pusher: GitActor,
    /// The repository.
    pub repository: EventRepository,
    /// Who did it.
    pub sender: User,
    /// The app installation, for deliveries to a GitHub App.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// One end of a pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestRef {
    /// `owner:branch`.
    pub label: String,
    /// The branch.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit it is at.
    pub sha: String,
}

/// A pull request, as webhook events carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequest {
    /// The pull request's id.
    pub id: u64,
    /// Its number in the repository.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// The title.
    pub title: String,
    /// The description, if any.
    #[serde(default)]
    pub body: Option<String>,
    /// Who opened it (none for a deleted account).
    pub user: Option<User>,
    /// Its page.
    pub html_url: String,
    /// The branch it comes from.
    pub head: PullRequestRef,
    /// The branch it goes into.
    pub base: PullRequestRef,
    /// Whether it is a draft.
    #[serde(default)]
    pub draft: bool,
    /// Whether it was merged.
    #[serde(default)]
    pub merged: Option<bool>,
    /// When it was merged, if it was.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A `pull_request` event: a pull request was opened, synchronized, closed, ..
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestEvent {
    /// What happened: `opened`, `synchronize`, `closed`, `reopened`, `labeled`, ..
    pub action: String,
    /// The pull request's number.
    pub number: u64,
    /// The pull request, as it is now.
    pub pull_request: PullRequest,
    /// The repository.
    pub repository: EventRepository,
    /// Who did it.
    pub sender: User,
    /// The app installation, for deliveries to a GitHub App.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// What jobs started by the webhook receive: one of the supported events, named as GitHub
/// names it in `X-GitHub-Event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", content = "payload", rename_all = "snake_case")]
pub enum GitHubEvent {
    /// `issues`.
    Issues(Box<IssuesEvent>),
    /// `issue_comment`.
    IssueComment(Box<IssueCommentEvent>),
    /// `push`.
    Push(Box<PushEvent>),
    /// `pull_request`.
    PullRequest(Box<PullRequestEvent>),
}

impl GitHubEvent {
    /// The events the webhook passes on to jobs, by their `X-GitHub-Event` names.
    pub const SUPPORTED: [&str; 4] = ["issues", "issue_comment", "push", "pull_request"];

    /// The event's name, as in `X-GitHub-Event`.
    pub fn name(&self) -> &'static str {
        match self {
            GitHubEvent::Issues(_) => "issues",
            GitHubEvent::IssueComment(_) => "issue_comment",
            GitHubEvent::Push(_) => "push",
            GitHubEvent::PullRequest(_) => "pull_request",
        }
    }

    /// The repository the event happened in.
    pub fn repository(&self) -> &EventRepository {
        match self {
            GitHubEvent::Issues(event) => &event.repository,
            GitHubEvent::IssueComment(event) => &event.repository,
            GitHubEvent::Push(event) => &event.repository,
            GitHubEvent::PullRequest(event) => &event.repository,
        }
    }

    /// Reads a delivery's body as the event `name` (the `X-GitHub-Event` header): `None` for
    /// an event this connector does not pass on (`ping`, `star`, ..), an error naming the field
    /// for a body that does not fit the event's type.
    pub fn from_delivery(name: &str, body: serde_json::Value) -> Result<Option<GitHubEvent>, serde_json::Error> {
        fn parse<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<Box<T>, serde_json::Error> {
            serde_json::from_value(body).map(Box::new)
        }
        Ok(Some(match name {
            "issues" => GitHubEvent::Issues(parse(body)?),
            "issue_comment" => GitHubEvent::IssueComment(parse(body)?),
            "push" => GitHubEvent::Push(parse(body)?),
            "pull_request" => GitHubEvent::PullRequest(parse(body)?),
            _ => return Ok(None),
        }))
    }
}

/// A webhook delivery's body, as the trigger receives it: the supported events' types tried in
/// turn, anything else kept as it came. The `X-GitHub-Event` header, not this guess, decides
/// which event it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Delivery {
    /// A body with `issue` and `comment`.
    IssueComment(Box<IssueCommentEvent>),
    /// A body with `pull_request` and `number`.
    PullRequest(Box<PullRequestEvent>),
    /// A body with `issue`.
    Issues(Box<IssuesEvent>),
    /// A body with `ref`, `before`, `after` and `commits`.
    Push(Box<PushEvent>),
    /// Any other event (`ping`, `star`, ..), which the trigger ignores.
    Other(serde_json::Map<String, serde_json::Value>),
}

impl Delivery {
    /// The event `name` (the `X-GitHub-Event` header) from this body; see
    /// [`GitHubEvent::from_delivery`].
    pub fn into_event(self, name: &str) -> Result<Option<GitHubEvent>, serde_json::Error> {
        let guessed = match self {
            Delivery::IssueComment(event) => GitHubEvent::IssueComment(event),
            Delivery::PullRequest(event) => GitHubEvent::PullRequest(event),
            Delivery::Issues(event) => GitHubEvent::Issues(event),
            Delivery::Push(event) => GitHubEvent::Push(event),
            Delivery::Other(body) => return GitHubEvent::from_delivery(name, serde_json::Value::Object(body)),
        };
        if guessed.name() == name {
            return Ok(Some(guessed));
        }
        if !GitHubEvent::SUPPORTED.contains(&name) {
            return Ok(None);
        }
        // The header names another supported event: read the body as that one.
        let body = match guessed {
            GitHubEvent::Issues(event) => serde_json::to_value(event),
            GitHubEvent::IssueComment(event) => serde_json::to_value(event),
            GitHubEvent::Push(event) => serde_json::to_value(event),
            GitHubEvent::PullRequest(event) => serde_json::to_value(event),
        }?;
        GitHubEvent::from_delivery(name, body)
    }
}
