//! The issue-tracker connector: OAuth2 client credentials, a credential check, and a paginated
//! list — nothing chat-shaped, to show the DSL is general.

use chrono::{DateTime, Utc};
use connector_runtime::Polled;
use connector_runtime::client::Pages;
use connector_runtime::client::{Auth, OAuth2};
use connector_runtime::prelude::*;
use futures::{StreamExt, TryStreamExt};

/// Config of the issue-tracker connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackerConfig {
    /// Where the tracker's API lives.
    pub base_url: String,
    /// The OAuth2 token endpoint.
    pub token_url: String,
    /// The OAuth2 client id.
    pub client_id: String,
    /// The OAuth2 client secret.
    pub client_secret: Secret,
}

/// An issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The issue's number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// The description, if any.
    pub body: Option<String>,
    /// Labels.
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
}

/// Input of `createIssue`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct NewIssue {
    /// The title (not empty).
    pub title: String,
    /// The description.
    #[serde(default)]
    pub body: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Names one issue.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct IssueRef {
    /// The issue's number.
    pub number: u64,
}

/// Input of `listIssues`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ListIssues {
    /// `open` (default), `closed` or `all`.
    #[serde(default)]
    pub state: Option<String>,
    /// At most this many (all when unset).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Output of `listIssues`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IssueList {
    /// The issues, by number.
    pub issues: Vec<Issue>,
}

/// The issue tracker.
pub struct IssueTracker;

/// An issue tracker with OAuth2 client credentials and a paginated issue list.
#[connector(
    id = "issue-tracker",
    name = "Issue Tracker",
    version = "0.1.0",
    config = TrackerConfig,
    auth = Self::auth,
    check = Self::check,
    rate_limit(concurrency = 8)
)]
impl IssueTracker {
    /// Client credentials against the tracker's token endpoint; the HTTP helper refreshes the
    /// token before it expires and again if the service refuses it.
    fn auth(config: &TrackerConfig) -> Auth {
        Auth::oauth2(OAuth2::client_credentials(&config.token_url, &config.client_id, config.client_secret.clone()))
    }

    /// A cheap authenticated call: one issue of the list.
    async fn check(ctx: &ActionContext<TrackerConfig>) -> Result<(), ActionError> {
        ctx.http().get(format!("{}/api/issues?per_page=1", ctx.config().base_url)).send().await?;
        Ok(())
    }

    /// Opens an issue.
    #[action(id = "createIssue", name = "Create Issue")]
    pub async fn create_issue(ctx: &ActionContext<TrackerConfig>, input: NewIssue) -> Result<Issue, ActionError> {
        ctx.http().post(format!("{}/api/issues", ctx.config().base_url)).json(&input).send_json().await
    }

    /// Reads one issue.
    #[action(id = "getIssue", name = "Get Issue")]
    pub async fn get_issue(ctx: &ActionContext<TrackerConfig>, input: IssueRef) -> Result<Issue, ActionError> {
        ctx.http().get(format!("{}/api/issues/{}", ctx.config().base_url, input.number)).send_json().await
    }

    /// Closes an issue.
    #[action(id = "closeIssue", name = "Close Issue")]
    pub async fn close_issue(ctx: &ActionContext<TrackerConfig>, input: IssueRef) -> Result<Issue, ActionError> {
        let url = format!("{}/api/issues/{}", ctx.config().base_url, input.number);
        ctx.http().patch(url).json(&serde_json::json!({ "state": "closed" })).send_json().await
    }

    /// Issues opened since the last poll: the cursor is the highest issue number seen.
    #[trigger(id = "issue.opened", name = "Issue Opened", poll(every = "2s"))]
    pub async fn issue_opened(
        ctx: &TriggerContext<TrackerConfig>,
        cursor: Option<u64>,
    ) -> Result<Polled<Issue, u64>, ActionError> {
        let seen = cursor.unwrap_or(0);
        let issues: Vec<Issue> = ctx
            .http()
            .get(format!("{}/api/issues", ctx.config().base_url))
            .query(&[("state", "all"), ("per_page", "100")])
            .paginate::<Issue>(Pages::link_header())
            .try_filter(|issue| futures::future::ready(issue.number > seen))
            .try_collect()
            .await?;
        let newest = issues.iter().map(|issue| issue.number).max().unwrap_or(seen);
        Ok(Polled::from_items(issues, |issue| issue.number).with_cursor(newest))
    }

    /// Lists issues, following the `Link` header through every page.
    #[action(id = "listIssues", name = "List Issues")]
    pub async fn list_issues(ctx: &ActionContext<TrackerConfig>, input: ListIssues) -> Result<IssueList, ActionError> {
        let state = input.state.unwrap_or_else(|| "open".into());
        let pages = ctx
            .http()
            .get(format!("{}/api/issues", ctx.config().base_url))
            .query(&[("state", state.as_str()), ("per_page", "100")])
            .paginate::<Issue>(Pages::link_header());
        let issues: Vec<Issue> = match input.limit {
            Some(limit) => pages.take(limit).try_collect().await?,
            None => pages.try_collect().await?,
        };
        Ok(IssueList { issues })
    }
}
