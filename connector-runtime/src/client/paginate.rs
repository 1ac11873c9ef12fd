//! Pagination: a list endpoint, whichever way it pages (offset, page number, cursor, `Link`
//! header), as an async `Stream` of items. Each page is one request, with the
//! connector's credentials and limits, retried like a step's attempts.
//!
//! ```no_run
//! # use connector_runtime::prelude::*;
//! # use connector_runtime::client::Pages;
//! # use futures::TryStreamExt;
//! # #[derive(serde::Deserialize)] struct Issue { number: u64 }
//! # async fn list(ctx: &ActionContext<()>) -> Result<Vec<Issue>, ActionError> {
//! let issues: Vec<Issue> = ctx
//!     .http()
//!     .get("http://127.0.0.1:8080/api/issues?state=open")
//!     .paginate(Pages::page_number("page", "per_page", 100))
//!     .try_collect()
//!     .await?;
//! # Ok(issues) }
//! ```

use futures::{Stream, TryStreamExt, stream};
use reqwest::Url;
use reqwest::header::LINK;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::http::{HttpClient, IDEMPOTENCY_KEY, send_request};
use crate::model::{ActionError, RetryPolicy};

/// How a list endpoint pages, and where its items are.
#[derive(Debug, Clone)]
pub struct Pages {
    style: Style,
    items_at: String,
    retry: RetryPolicy,
    max_pages: usize,
}

#[derive(Debug, Clone)]
enum Style {
    Offset { offset: String, limit: String, size: u64 },
    PageNumber { page: String, per_page: String, size: u64, first: u64 },
    Cursor { param: String, next_at: String },
    Link,
}

impl Pages {
    fn new(style: Style) -> Self {
        Pages { style, items_at: String::new(), retry: RetryPolicy::DEFAULT, max_pages: 10_000 }
    }

    /// `?{offset}=0&{limit}=size`, then `offset=size`, `2*size`, … until a short page.
    pub fn offset(offset_param: impl Into<String>, limit_param: impl Into<String>, size: u64) -> Self {
        Self::new(Style::Offset { offset: offset_param.into(), limit: limit_param.into(), size: size.max(1) })
    }

    /// `?{page}=1&{per_page}=size`, then `page=2`, … until a short page.
    pub fn page_number(page_param: impl Into<String>, per_page_param: impl Into<String>, size: u64) -> Self {
        Self::new(Style::PageNumber {
            page: page_param.into(),
            per_page: per_page_param.into(),
            size: size.max(1),
            first: 1,
        })
    }

    /// `?{param}=<cursor>` with the cursor the previous page gave at the JSON pointer `next_at`
    /// (like `/next_cursor` or `/meta/next`), until it is missing, null or empty.
    pub fn cursor(param: impl Into<String>, next_at: impl Into<String>) -> Self {
        Self::new(Style::Cursor { param: param.into(), next_at: next_at.into() })
    }

    /// Follows the `Link: <..>; rel="next"` header until there is none (GitHub-style).
    pub fn link_header() -> Self {
        Self::new(Style::Link)
    }

    /// Page numbers start at `first` (default 1).
    pub fn first_page(mut self, first: u64) -> Self {
        if let Style::PageNumber { first: start, .. } = &mut self.style {
            *start = first;
        }
        self
    }

    /// The items are the array at this JSON pointer (like `/data`); by default the body itself.
    pub fn items_at(mut self, pointer: impl Into<String>) -> Self {
        self.items_at = pointer.into();
        self
    }

    /// How each page's request is retried (default: [`RetryPolicy::DEFAULT`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Stops after this many pages (default 10,000), whatever the service says.
    pub fn max_pages(mut self, pages: usize) -> Self {
        self.max_pages = pages;
        self
    }
}

/// Where the next page is.
enum Next {
    Url(Url),
    Done,
}

pub(crate) fn stream<T: DeserializeOwned + Send + 'static>(
    client: HttpClient,
    request: Result<reqwest::Request, reqwest::Error>,
    pages: Pages,
) -> impl Stream<Item = Result<T, ActionError>> + Send + 'static {
    let start = request.map_err(ActionError::from).map(|request| {
        let mut url = request.url().clone();
        match &pages.style {
            Style::Offset { offset, limit, size } => {
                set_param(&mut url, offset, "0");
                set_param(&mut url, limit, &size.to_string());
            }
            Style::PageNumber { page, per_page, size, first } => {
                set_param(&mut url, page, &first.to_string());
                set_param(&mut url, per_page, &size.to_string());
            }
            Style::Cursor { .. } | Style::Link => {}
        }
        (request, Next::Url(url), 0usize, 0u64)
    });
    stream::once(async move { start })
        .map_ok(move |(template, first, _, _)| {
            let pages = pages.clone();
            let client = client.clone();
            stream::try_unfold((template, first, 0usize, 0u64), move |(template, next, fetched, offset)| {
                let (pages, client) = (pages.clone(), client.clone());
                async move {
                    let Next::Url(url) = next else { return Ok::<_, ActionError>(None) };
                    if fetched >= pages.max_pages {
                        return Ok(None);
                    }
                    let (items, next) = fetch_page::<T>(&client, &template, url, &pages, fetched, offset).await?;
                    let count = items.len() as u64;
                    Ok(Some((items, (template, next, fetched + 1, offset + count))))
                }
            })
        })
        .try_flatten()
        .map_ok(|items: Vec<T>| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
}

/// Fetches one page (with retries) and works out where the next one is.
async fn fetch_page<T: DeserializeOwned>(
    client: &HttpClient,
    template: &reqwest::Request,
    url: Url,
    pages: &Pages,
    page: usize,
    offset: u64,
) -> Result<(Vec<T>, Next), ActionError> {
    let (link, body) = get_with_retries(client, template, &url, page, &pages.retry).await?;
    let listed = if pages.items_at.is_empty() { Some(&body) } else { body.pointer(&pages.items_at) };
    let Some(Value::Array(listed)) = listed else {
        let at = if pages.items_at.is_empty() { "the body" } else { pages.items_at.as_str() };
        return Err(ActionError::InvalidOutput(format!("expected a list of items at {at}")));
    };
    let count = listed.len() as u64;
    let items = listed
        .iter()
        .enumerate()
        .map(|(i, item)| {
            T::deserialize(item).map_err(|error| ActionError::InvalidOutput(format!("item {i} of the page: {error}")))
        })
        .collect::<Result<Vec<T>, _>>()?;
    let mut next_url = url.clone();
    let next = match &pages.style {
        Style::Offset { offset: param, size, .. } if count >= *size => {
            set_param(&mut next_url, param, &(offset + count).to_string());
            Next::Url(next_url)
        }
        Style::PageNumber { page, size, .. } if count >= *size => {
            let current = url.query_pairs().find(|(k, _)| k == page.as_str()).and_then(|(_, v)| v.parse::<u64>().ok());
            set_param(&mut next_url, page, &current.unwrap_or(0).saturating_add(1).to_string());
            Next::Url(next_url)
        }
        Style::Cursor { param, next_at } => match body.pointer(next_at) {
            Some(Value::String(cursor)) if !cursor.is_empty() => {
                set_param(&mut next_url, param, cursor);
                Next::Url(next_url)
            }
            Some(Value::Number(cursor)) => {
                set_param(&mut next_url, param, &cursor.to_string());
                Next::Url(next_url)
            }
            _ => Next::Done,
        },
        Style::Link => match link.and_then(|header| next_link(&header)).and_then(|next| url.join(&next).ok()) {
            Some(next) => Next::Url(next),
            None => Next::Done,
        },
        Style::Offset { .. } | Style::PageNumber { .. } => Next::Done,
    };
    Ok((items, next))
}

async fn get_with_retries(
    client: &HttpClient,
    template: &reqwest::Request,
    url: &Url,
    page: usize,
    policy: &RetryPolicy,
) -> Result<(Option<String>, Value), ActionError> {
    let mut attempt = 1;
    loop {
        let mut request = template
            .try_clone()
            .ok_or_else(|| ActionError::permanent("a paginated request cannot have a streamed body"))?;
        *request.url_mut() = url.clone();
        key_page(&mut request, page);
        let result = async {
            let response = send_request(client, request).await?;
            let link = response.headers().get(LINK).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let body: Value =
                response.json().await.map_err(|e| ActionError::InvalidOutput(e.without_url().to_string()))?;
            Ok::<_, ActionError>((link, body))
        }
        .await;
        match result {
            Err(error) if error.is_retryable() && attempt < policy.max_attempts => {
                let wait = match &error {
                    ActionError::RateLimited { retry_after: Some(wait), .. } => {
                        (*wait).max(policy.delay_after(attempt))
                    }
                    _ => policy.delay_after(attempt),
                };
                tracing::warn!(attempt, %error, "page request failed; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Gives each page of an unsafe request (a `POST` search, say) a key of its own, `{key}.page2`
/// and on, so a service that replays answers by key does not answer page 1 again; retries of
/// one page keep its key. Safe requests carry no key to begin with.
fn key_page(request: &mut reqwest::Request, page: usize) {
    if page == 0 {
        return;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY).and_then(|key| key.to_str().ok()) else { return };
    if let Ok(paged) = reqwest::header::HeaderValue::try_from(format!("{key}.page{}", page + 1)) {
        request.headers_mut().insert(IDEMPOTENCY_KEY, paged);
    }
}

/// Sets `name=value` in the query, replacing the parameter if it is there already and keeping
/// every other parameter as it was.
fn set_param(url: &mut Url, name: &str, value: &str) {
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(key, _)| key != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.query_pairs_mut().clear().extend_pairs(kept).append_pair(name, value);
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|param| {
            let param = param.trim().to_ascii_lowercase();
            let value = param.strip_prefix("rel=").map(|value| value.trim_matches('"'));
            value.is_some_and(|rels| rels.split_whitespace().any(|rel| rel == "next"))
        });
        is_next.then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_merge_into_the_query() {
        let mut url = Url::parse("http://x/api/issues?state=open&page=9&sort=asc").unwrap();
        set_param(&mut url, "page", "2");
        set_param(&mut url, "per_page", "50");
        assert_eq!(url.as_str(), "http://x/api/issues?state=open&sort=asc&page=2&per_page=50");
    }

    #[test]
    fn link_headers_give_the_next_page() {
        let header = r#"<http://x/a?page=3>; rel="next", <http://x/a?page=9>; rel="last""#;
        assert_eq!(next_link(header).as_deref(), Some("http://x/a?page=3"));
        assert_eq!(next_link(r#"<http://x/a?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
