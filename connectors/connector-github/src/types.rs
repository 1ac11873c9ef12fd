//! The inputs and outputs of the GitHub actions, typed after GitHub's REST API description
//! (the fields a job needs; unknown fields of an answer are ignored).

use chrono::{DateTime, Utc};
use connector_runtime::prelude::*;

/// A GitHub account: a user, an organization or a bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// The login, like `octocat`.
    pub login: String,
    /// The account's id.
    pub id: u64,
    /// `User`, `Organization` or `Bot`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account's page.
    pub html_url: String,
}

/// A repository, as `GET /repos/{owner}/{repo}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Repository {
    /// The repository's id.
    pub id: u64,
    /// Its name, like `Hello-World`.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Who owns it.
    pub owner: User,
    /// Whether it is private.
    pub private: bool,
    /// Its page.
    pub html_url: String,
    /// Its description, if it has one.
    pub description: Option<String>,
    /// Whether it is a fork.
    pub fork: bool,
    /// The default branch, like `main`.
    pub default_branch: String,
    /// Whether it is archived (read-only).
    pub archived: bool,
    /// The main language GitHub detected, if any.
    pub language: Option<String>,
    /// Open issues and pull requests.
    pub open_issues_count: u64,
    /// Stars.
    pub stargazers_count: u64,
    /// Forks.
    pub forks_count: u64,
    /// Topics.
    #[serde(default)]
    pub topics: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last pushed to.
    pub pushed_at: DateTime<Utc>,
}

/// A label of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Label {
    /// The label's id.
    pub id: u64,
    /// Its name, like `bug`.
    pub name: String,
    /// Its color, six hex digits without `#`.
    pub color: String,
    /// Its description, if it has one.
    pub description: Option<String>,
    /// Whether it is one of the repository's default labels.
    pub default: bool,
}

/// A label on an issue: GitHub documents either its name alone or the label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IssueLabel {
    /// The label's name.
    Name(String),
    /// The label.
    Label {
        /// The label's id.
        #[serde(default)]
        id: Option<u64>,
        /// Its name.
        #[serde(default)]
        name: Option<String>,
        /// Its color, six hex digits.
        #[serde(default)]
        color: Option<String>,
        /// Its description.
        #[serde(default)]
        description: Option<String>,
    },
}

impl IssueLabel {
    /// The label's name, if GitHub gave it.
    pub fn name(&self) -> Option<&str> {
        match self {
            IssueLabel::Name(name) => Some(name),
            IssueLabel::Label { name, .. } => name.as_deref(),
        }
    }
}

/// `open` or `closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed.
    Closed,
}

/// An issue (or a pull request, which GitHub lists among issues).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Issue {
    /// The issue's id.
    pub id: u64,
    /// Its number in the repository.
    pub number: u64,
    /// The title.
    pub title: String,
    /// The description, if any.
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed` (GitHub leaves it out of `pinned` and `unpinned` webhook events).
    #[serde(default)]
    pub state: Option<IssueState>,
    /// Why it was closed (`completed`, `not_planned`, ..), if it was.
    #[serde(default)]
    pub state_reason: Option<String>,
    /// Who opened it (none for a deleted account).
    pub user: Option<User>,
    /// Its labels (GitHub leaves them out of `pinned` and `unpinned` webhook events).
    #[serde(default)]
    pub labels: Vec<IssueLabel>,
    /// Who it is assigned to.
    #[serde(default)]
    pub assignees: Option<Vec<User>>,
    /// Whether conversation on it is locked.
    #[serde(default)]
    pub locked: bool,
    /// How many comments it has.
    pub comments: u64,
    /// Its page.
    pub html_url: String,
    /// Set when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<PullRequestLink>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Issue {
    /// Whether this "issue" is a pull request.
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// The names of its labels.
    pub fn label_names(&self) -> Vec<&str> {
        self.labels.iter().filter_map(IssueLabel::name).collect()
    }
}

/// What marks an issue as a pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PullRequestLink {
    /// The pull request's page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IssueComment {
    /// The comment's id.
    pub id: u64,
    /// Its text (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Who wrote it (none for a deleted account).
    pub user: Option<User>,
    /// Its page.
    pub html_url: String,
    /// The API address of the issue it is on.
    pub issue_url: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Names a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RepoRef {
    /// The owner's login, like `octocat`.
    pub owner: String,
    /// The repository's name, like `Hello-World`.
    pub repo: String,
}

/// Which issues `listIssues` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateFilter {
    /// Open issues (GitHub's default).
    #[default]
    Open,
    /// Closed issues.
    Closed,
    /// Both.
    All,
}

/// Input of `listIssues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListIssues {
    /// The owner's login.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// Which issues (default: open ones).
    #[serde(default)]
    pub state: StateFilter,
    /// Only issues with all of these labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Only issues updated at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// At most this many issues (all of them when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// Keep the pull requests GitHub lists among issues (default: left out).
    #[serde(default)]
    pub include_pull_requests: bool,
}

impl ListIssues {
    /// The open issues of `owner/repo`, pull requests left out.
    pub fn open(owner: impl Into<String>, repo: impl Into<String>) -> Self {
        ListIssues {
            owner: owner.into(),
            repo: repo.into(),
            state: StateFilter::Open,
            labels: Vec::new(),
            since: None,
            limit: None,
            include_pull_requests: false,
        }
    }
}

/// Output of `listIssues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IssueList {
    /// The issues, in GitHub's order (newest first).
    pub issues: Vec<Issue>,
}

/// Input of `createIssue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewIssue {
    /// The owner's login.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The title.
    pub title: String,
    /// The description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Labels to put on it (dropped by GitHub without push access).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// Logins to assign it to (dropped by GitHub without push access).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<String>,
}

/// Input of `createIssueComment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewComment {
    /// The owner's login.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The issue's (or pull request's) number.
    pub issue_number: u64,
    /// The comment (Markdown).
    pub body: String,
}

/// Input of `addLabels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AddLabels {
    /// The owner's login.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The issue's (or pull request's) number.
    pub issue_number: u64,
    /// The labels to add to those it has (at least one).
    pub labels: Vec<String>,
}

/// Output of `addLabels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LabelList {
    /// Every label the issue has now.
    pub labels: Vec<Label>,
}

/// Where a check run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    InProgress,
    /// Done (a conclusion is required).
    Completed,
    /// Waiting (GitHub Actions only).
    Waiting,
    /// Requested (GitHub Actions only).
    Requested,
    /// Pending (GitHub Actions only).
    Pending,
}

/// How a completed check run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    /// Passed.
    Success,
    /// Failed.
    Failure,
    /// Neither.
    Neutral,
    /// Cancelled.
    Cancelled,
    /// Skipped.
    Skipped,
    /// Took too long.
    TimedOut,
    /// Needs someone to act (give `details_url`).
    ActionRequired,
    /// Outdated (set by GitHub).
    Stale,
    /// Set by GitHub.
    StartupFailure,
}

/// A check run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckOutput {
    /// The title.
    pub title: String,
    /// A summary (Markdown).
    pub summary: String,
    /// The details (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Input of `createCheckRun`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewCheckRun {
    /// The owner's login.
    pub owner: String,
    /// The repository's name.
    pub repo: String,
    /// The check's name, like `code-coverage`.
    pub name: String,
    /// The commit it checks.
    pub head_sha: String,
    /// Where it is (default `queued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CheckStatus>,
    /// How it ended (required with `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    /// Where the integrator's own page for it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// The integrator's own id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
}

/// A check run, as GitHub answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckRun {
    /// The check run's id.
    pub id: u64,
    /// The check's name.
    pub name: String,
    /// The commit it checks.
    pub head_sha: String,
    /// Where it is.
    pub status: CheckStatus,
    /// How it ended, once completed.
    pub conclusion: Option<CheckConclusion>,
    /// Its page, if it has one.
    pub html_url: Option<String>,
    /// The integrator's own page for it.
    pub details_url: Option<String>,
    /// The integrator's own id for it.
    pub external_id: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it completed.
    pub completed_at: Option<DateTime<Utc>>,
}
