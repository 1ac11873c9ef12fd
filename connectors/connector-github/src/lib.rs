//! A GitHub connector for typed-connectors: authenticated by a token or as a GitHub App
//! (a JWT signed with the app's private key, exchanged for an installation token that is
//! cached until shortly before it expires); repositories, issues (every page, following the
//! `Link` header), comments, labels and check runs; and one webhook route for `issues`,
//! `issue_comment`, `push` and `pull_request`, signed with `X-Hub-Signature-256`, deduplicated
//! by `X-GitHub-Delivery` and dispatched by `X-GitHub-Event`. GitHub's rate-limit answers
//! (`x-ratelimit-remaining: 0` with `x-ratelimit-reset`, `retry-after`) pause the connector
//! until the reset, and the engine retries the step then. Requests go through the runtime's
//! request helper: an instance's rate limit
//! ([`Integration::with_rate_limit`](connector_runtime::Integration::with_rate_limit)) and the
//! step's `Idempotency-Key` apply to them.
//!
//! ```no_run
//! use connector_github::{GitHub, GitHubConfig, GitHubEvent, NewComment};
//! use connector_runtime::prelude::*;
//!
//! /// Thanks whoever opens an issue.
//! #[job(id = "welcome-issue", name = "Welcome a new issue", version = "1.0.0",
//!       trigger = GitHub::webhook, integrations(github = GitHub))]
//! async fn welcome_issue(event: GitHubEvent, io: WelcomeIssueIo<'_>) -> Result<(), JobError> {
//!     let GitHubEvent::Issues(opened) = event else { return Ok(()) };
//!     if opened.action != "opened" {
//!         return Ok(());
//!     }
//!     let repository = &opened.repository;
//!     io.github
//!         .create_issue_comment("thank", NewComment {
//!             owner: repository.owner.login.clone(),
//!             repo: repository.name.clone(),
//!             issue_number: opened.issue.number,
//!             body: "Thanks! We will look at it soon.".into(),
//!         })
//!         .await?;
//!     Ok(())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // As a GitHub App; `GitHubConfig::token(..)` for a personal access token.
//! let config = GitHubConfig::app("123456", 42_000_001, Secret::new(std::env::var("GITHUB_APP_KEY")?))
//!     .webhook_secret(Secret::new(std::env::var("GITHUB_WEBHOOK_SECRET")?));
//! let engine = Engine::builder().connector(GitHub::init(config)).job(WelcomeIssueJob).build()?;
//! // Deliveries go to POST /webhooks/github/webhook on the engine's server.
//! # let _ = engine; Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod auth;
mod events;
pub mod http;
mod types;

use connector_runtime::prelude::*;
use futures::{Stream, TryStreamExt};
use reqwest::Method;

pub use events::{
    Delivery, EventLabel, EventRepository, GitActor, GitHubEvent, InstallationRef, IssueCommentEvent, IssuesEvent,
    PullRequest, PullRequestEvent, PullRequestRef, PushCommit, PushEvent,
};
pub use types::{
    AddLabels, CheckConclusion, CheckOutput, CheckRun, CheckStatus, Issue, IssueComment, IssueLabel, IssueList,
    IssueState, Label, LabelList, ListIssues, NewCheckRun, NewComment, NewIssue, PullRequestLink, RepoRef, Repository,
    StateFilter, User,
};

/// Config of the GitHub connector: a token, or a GitHub App's id, installation and key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubConfig {
    /// A token sent as it is (a personal access token, or any token GitHub issued); when set,
    /// the app fields are not used.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The GitHub App's id (or its client id), the JWT's issuer.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The app installation to act as (in the installation's settings URL, or in a webhook
    /// delivery's `installation.id`).
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// The app's private key, the PEM file GitHub generated (PKCS#1 or PKCS#8).
    #[serde(default)]
    pub private_key: Option<Secret>,
    /// Where the API lives (default `https://api.github.com`; GitHub Enterprise Server:
    /// `https://HOST/api/v3`).
    #[serde(default = "GitHubConfig::public_api_url")]
    pub api_url: String,
    /// The webhook's secret, as entered in its settings; only the webhook trigger needs it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// The `User-Agent` GitHub requires (default `typed-connectors-github`).
    #[serde(default = "GitHubConfig::default_user_agent")]
    pub user_agent: String,
    /// The installation token and rate-limit pause the instance keeps (not config).
    #[serde(skip)]
    pub(crate) shared: auth::Shared,
}

impl GitHubConfig {
    /// Where the public API lives.
    pub const PUBLIC_API_URL: &str = "https://api.github.com";

    /// A config authenticated by `token`.
    pub fn token(token: Secret) -> Self {
        GitHubConfig { token: Some(token), ..Self::empty() }
    }

    /// A config authenticated as installation `installation_id` of the app `app_id`, with the
    /// app's private key (PEM).
    pub fn app(app_id: impl Into<String>, installation_id: u64, private_key: Secret) -> Self {
        GitHubConfig {
            app_id: Some(app_id.into()),
            installation_id: Some(installation_id),
            private_key: Some(private_key),
            ..Self::empty()
        }
    }

    /// This config, for the API at `api_url` (GitHub Enterprise Server, or a fake in tests).
    pub fn api_url(mut self, api_url: impl Into<String>) -> Self {
        self.api_url = api_url.into();
        self
    }

    /// This config, with the webhook's secret.
    pub fn webhook_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    fn empty() -> Self {
        GitHubConfig {
            token: None,
            app_id: None,
            installation_id: None,
            private_key: None,
            api_url: Self::public_api_url(),
            webhook_secret: None,
            user_agent: Self::default_user_agent(),
            shared: auth::Shared::default(),
        }
    }

    fn public_api_url() -> String {
        Self::PUBLIC_API_URL.to_owned()
    }

    fn default_user_agent() -> String {
        "typed-connectors-github".to_owned()
    }
}

/// GitHub.
pub struct GitHub;

/// Repositories, issues, comments, labels and check runs on GitHub, and its webhook events.
#[connector(
    id = "github",
    name = "GitHub",
    version = "0.1.0",
    config = GitHubConfig,
    auth = Self::auth,
    check = Self::check
)]
impl GitHub {
    /// A configured token goes with every request as a bearer token; a GitHub App's
    /// installation token is exchanged and cached by the connector, and set per request.
    fn auth(config: &GitHubConfig) -> Auth {
        auth::connector_auth(config)
    }

    /// Reads the rate limit (`GET /rate_limit`): works with every kind of credential and costs
    /// none of the limit.
    async fn check(ctx: &ActionContext<GitHubConfig>) -> Result<(), ActionError> {
        let url = http::url(ctx.config(), &["rate_limit"])?;
        http::send(ctx, Method::GET, url, None).await.map(drop)
    }

    /// Reads a repository (`GET /repos/{owner}/{repo}`).
    #[action(id = "getRepository", name = "Get Repository")]
    pub async fn get_repository(ctx: &ActionContext<GitHubConfig>, input: RepoRef) -> Result<Repository, ActionError> {
        let url = http::url(ctx.config(), &["repos", &input.owner, &input.repo])?;
        http::send_json(ctx, Method::GET, url, None).await
    }

    /// Lists a repository's issues (`GET /repos/{owner}/{repo}/issues`), following the `Link`
    /// header through every page (100 a page) up to `limit`; pull requests are left out unless
    /// asked for.
    #[action(id = "listIssues", name = "List Issues")]
    pub async fn list_issues(ctx: &ActionContext<GitHubConfig>, input: ListIssues) -> Result<IssueList, ActionError> {
        let limit = input.limit.unwrap_or(usize::MAX);
        let mut issues = Vec::new();
        if limit == 0 {
            return Ok(IssueList { issues });
        }
        let mut stream = std::pin::pin!(issue_stream(ctx, &input)?);
        while let Some(issue) = stream.try_next().await? {
            issues.push(issue);
            if issues.len() >= limit {
                break;
            }
        }
        Ok(IssueList { issues })
    }

    /// Opens an issue (`POST /repos/{owner}/{repo}/issues`).
    #[action(id = "createIssue", name = "Create Issue")]
    pub async fn create_issue(ctx: &ActionContext<GitHubConfig>, input: NewIssue) -> Result<Issue, ActionError> {
        let url = http::url(ctx.config(), &["repos", &input.owner, &input.repo, "issues"])?;
        http::send_json(ctx, Method::POST, url, Some(&body_without_repo(&input)?)).await
    }

    /// Comments on an issue or pull request (`POST /repos/{owner}/{repo}/issues/{number}/comments`).
    #[action(id = "createIssueComment", name = "Create Issue Comment")]
    pub async fn create_issue_comment(
        ctx: &ActionContext<GitHubConfig>,
        input: NewComment,
    ) -> Result<IssueComment, ActionError> {
        let number = input.issue_number.to_string();
        let url = http::url(ctx.config(), &["repos", &input.owner, &input.repo, "issues", &number, "comments"])?;
        http::send_json(ctx, Method::POST, url, Some(&serde_json::json!({ "body": input.body }))).await
    }

    /// Adds labels to an issue or pull request (`POST /repos/{owner}/{repo}/issues/{number}/labels`);
    /// returns every label it has now.
    #[action(id = "addLabels", name = "Add Labels")]
    pub async fn add_labels(ctx: &ActionContext<GitHubConfig>, input: AddLabels) -> Result<LabelList, ActionError> {
        if input.labels.is_empty() {
            return Err(ActionError::InvalidInput("`labels` must name at least one label".into()));
        }
        let number = input.issue_number.to_string();
        let url = http::url(ctx.config(), &["repos", &input.owner, &input.repo, "issues", &number, "labels"])?;
        let body = serde_json::json!({ "labels": input.labels });
        let labels = http::send_json(ctx, Method::POST, url, Some(&body)).await?;
        Ok(LabelList { labels })
    }

    /// Creates a check run on a commit (`POST /repos/{owner}/{repo}/check-runs`; needs a GitHub
    /// App's credentials).
    #[action(id = "createCheckRun", name = "Create Check Run")]
    pub async fn create_check_run(
        ctx: &ActionContext<GitHubConfig>,
        input: NewCheckRun,
    ) -> Result<CheckRun, ActionError> {
        if input.status == Some(CheckStatus::Completed) && input.conclusion.is_none() {
            return Err(ActionError::InvalidInput("a `completed` check run needs a `conclusion`".into()));
        }
        let url = http::url(ctx.config(), &["repos", &input.owner, &input.repo, "check-runs"])?;
        http::send_json(ctx, Method::POST, url, Some(&body_without_repo(&input)?)).await
    }

    /// A webhook delivery of one of the supported events (`issues`, `issue_comment`, `push`,
    /// `pull_request`), told apart by `X-GitHub-Event`; other events (`ping`, ..) are
    /// acknowledged and ignored. Point the webhook (repository, organization or app) at
    /// `/webhooks/github/webhook`, content type `application/json`, with the configured
    /// secret.
    #[trigger(id = "webhook", name = "GitHub Webhook", webhook(github(secret = webhook_secret)))]
    pub async fn webhook(
        ctx: &TriggerContext<GitHubConfig>,
        payload: Delivery,
    ) -> Result<Option<GitHubEvent>, ActionError> {
        let Some(name) = ctx.headers().get("x-github-event").and_then(|value| value.to_str().ok()) else {
            return Err(ActionError::InvalidInput("the delivery has no `X-GitHub-Event` header".into()));
        };
        let event = payload.into_event(name).map_err(|error| {
            ActionError::InvalidInput(format!("the `{name}` delivery does not fit its type: {error}"))
        })?;
        if event.is_none() {
            ctx.logger().debug(format!("ignoring a `{name}` delivery"));
        }
        Ok(event)
    }
}

/// The issues `input` selects, as a stream, page after page (following the `Link` header):
/// for an action or a polling trigger of your own that stops early or filters as it goes.
pub fn issue_stream<'a>(
    ctx: &'a ActionContext<GitHubConfig>,
    input: &ListIssues,
) -> Result<impl Stream<Item = Result<Issue, ActionError>> + 'a, ActionError> {
    let mut url = http::url(ctx.config(), &["repos", &input.owner, &input.repo, "issues"])?;
    {
        let mut query = url.query_pairs_mut();
        let state = match input.state {
            StateFilter::Open => "open",
            StateFilter::Closed => "closed",
            StateFilter::All => "all",
        };
        query.append_pair("state", state);
        if !input.labels.is_empty() {
            query.append_pair("labels", &input.labels.join(","));
        }
        if let Some(since) = input.since {
            query.append_pair("since", &since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        query.append_pair("per_page", "100");
    }
    let include_pull_requests = input.include_pull_requests;
    Ok(http::paginate::<Issue>(ctx, url)
        .try_filter(move |issue| futures::future::ready(include_pull_requests || !issue.is_pull_request())))
}

/// The JSON body of an input that names its repository: the input without `owner` and `repo`.
fn body_without_repo<T: Serialize>(input: &T) -> Result<serde_json::Value, ActionError> {
    let mut body = serde_json::to_value(input).map_err(|error| ActionError::InvalidInput(error.to_string()))?;
    if let Some(object) = body.as_object_mut() {
        object.remove("owner");
        object.remove("repo");
    }
    Ok(body)
}
