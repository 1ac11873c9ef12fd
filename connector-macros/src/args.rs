//! Attribute arguments, parsed with darling, and the checks on their values.

use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use darling::{Error, FromMeta};
use proc_macro2::{Span, TokenStream};
use syn::{Expr, Ident, Meta, Path};

use crate::policy::{RateLimitArgs, RetryArgs};
use crate::schedule::PollArgs;
use crate::webhook::WebhookArgs;

/// `#[connector(id = "..", name = "..", version = "..", config = Type, description = "..")]`
#[derive(Debug, FromMeta)]
pub struct ConnectorArgs {
    pub id: SpannedValue<String>,
    pub name: String,
    pub version: SpannedValue<String>,
    pub config: Path,
    #[darling(default)]
    pub description: Option<String>,
    #[darling(default)]
    pub rate_limit: Option<RateLimitArgs>,
    /// `auth = Self::auth`: `fn(&Config) -> Auth`.
    #[darling(default)]
    pub auth: Option<Path>,
    /// `check = Self::check`: `async fn(&ConnectorContext<Config>) -> Result<(), E>`.
    #[darling(default)]
    pub check: Option<Path>,
}

/// `#[action(id = "..", name = "..", description = "..")]` and `#[trigger(..)]` alike.
#[derive(Debug, FromMeta)]
pub struct MemberArgs {
    pub id: SpannedValue<String>,
    pub name: String,
    #[darling(default)]
    pub description: Option<String>,
    /// Actions only: the action's own retry policy.
    #[darling(default)]
    pub retry: Option<SpannedValue<RetryArgs>>,
    /// Triggers only: how deliveries are signed, and the webhook's registration.
    #[darling(default)]
    pub webhook: Option<SpannedValue<WebhookArgs>>,
    /// Triggers only: a polling trigger, and how often it polls.
    #[darling(default)]
    pub poll: Option<SpannedValue<PollArgs>>,
}

/// `#[job(id, name, version, description, event = T | trigger = C::f | cron = ".." | every = "..", integrations(k = C, ..))]`
#[derive(Debug, FromMeta)]
pub struct JobArgs {
    pub id: SpannedValue<String>,
    pub name: String,
    pub version: SpannedValue<String>,
    #[darling(default)]
    pub description: Option<String>,
    #[darling(default)]
    pub event: Option<Path>,
    #[darling(default)]
    pub trigger: Option<Path>,
    #[darling(default)]
    pub cron: Option<SpannedValue<String>>,
    #[darling(default)]
    pub every: Option<SpannedValue<String>>,
    #[darling(default)]
    pub integrations: Integrations,
    #[darling(default)]
    pub retry: Option<RetryArgs>,
    #[darling(default)]
    pub concurrency: Option<SpannedValue<usize>>,
}

/// `integrations(chat = SimpleChat, tracker = IssueTracker)`, in declaration order.
#[derive(Debug, Default)]
pub struct Integrations(pub Vec<IntegrationArg>);

/// One `key = Connector` of `integrations(..)`.
#[derive(Debug)]
pub struct IntegrationArg {
    pub key: Ident,
    pub connector: Path,
}

impl FromMeta for Integrations {
    fn from_list(items: &[NestedMeta]) -> darling::Result<Self> {
        let mut errors = Error::accumulator();
        let mut integrations: Vec<IntegrationArg> = Vec::new();
        for item in items {
            let parsed = match item {
                NestedMeta::Meta(Meta::NameValue(pair)) => match (pair.path.get_ident(), &pair.value) {
                    (Some(key), Expr::Path(connector)) => {
                        Ok(IntegrationArg { key: key.clone(), connector: connector.path.clone() })
                    }
                    _ => Err(Error::custom("expected `key = ConnectorType`, like `chat = SimpleChat`").with_span(pair)),
                },
                other => {
                    Err(Error::custom("expected `key = ConnectorType`, like `chat = SimpleChat`").with_span(other))
                }
            };
            let Some(parsed) = errors.handle(parsed) else {
                continue;
            };
            if integrations.iter().any(|existing| existing.key == parsed.key) {
                errors.push(
                    Error::custom(format!("integration `{}` is declared twice", parsed.key)).with_span(&parsed.key),
                );
            } else if parsed.key == "io" {
                errors.push(
                    Error::custom("`io` is reserved: the generated io struct uses it; pick another integration name")
                        .with_span(&parsed.key),
                );
            } else {
                integrations.push(parsed);
            }
        }
        errors.finish_with(Integrations(integrations))
    }
}

/// Parses an attribute's arguments (the tokens inside `#[name(...)]`).
pub fn parse<T: FromMeta>(tokens: TokenStream) -> darling::Result<T> {
    parse_at(tokens, Span::call_site())
}

/// [`parse`], for an attribute other than the macro's own (`#[action(..)]` inside `#[connector]`):
/// errors without a span of their own, like darling's "Missing field", point at `span` (the
/// attribute's name) rather than at the `#[connector]` call.
pub fn parse_at<T: FromMeta>(tokens: TokenStream, span: Span) -> darling::Result<T> {
    let items = NestedMeta::parse_meta_list(tokens).map_err(Error::from)?;
    T::from_list(&items).map_err(|error| tidy(error, span))
}

/// Drops "Missing field `name`" when a misspelt key already got "Did you mean `name`?" (one
/// mistake, one error), and gives every error without a span `span`.
fn tidy(error: Error, span: Span) -> Error {
    let errors: Vec<Error> = error.flatten().into_iter().collect();
    let suggested: Vec<String> = errors
        .iter()
        .filter_map(|error| {
            let text = error.to_string();
            let (_, rest) = text.split_once("Did you mean `")?;
            Some(rest.split_once('`')?.0.to_owned())
        })
        .collect();
    let kept = errors
        .into_iter()
        .filter(|error| {
            let text = error.to_string();
            !suggested.iter().any(|name| text.starts_with(&format!("Missing field `{name}`")))
        })
        .map(|error| error.with_span(&span))
        .collect();
    Error::multiple(kept)
}

/// Ids of connectors, actions, triggers, jobs and events: `[A-Za-z0-9._-]+`.
pub fn check_id(what: &str, id: &SpannedValue<String>) -> darling::Result<()> {
    if id.is_empty() {
        return Err(Error::custom(format!("the {what} id must not be empty")).with_span(&id.span()));
    }
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(Error::custom(format!(
            "the {what} id `{}` has the character {bad:?}; ids use only letters, digits, `.`, `_` and `-`",
            id.as_str()
        ))
        .with_span(&id.span()));
    }
    Ok(())
}

/// Versions: semantic versions, `MAJOR.MINOR.PATCH[-pre][+build]`.
pub fn check_version(version: &SpannedValue<String>) -> darling::Result<()> {
    if is_semver(version) {
        return Ok(());
    }
    Err(Error::custom(format!(
        "`{}` is not a semantic version: write `MAJOR.MINOR.PATCH`, like `1.0.0` (see https://semver.org)",
        version.as_str()
    ))
    .with_span(&version.span()))
}

fn is_semver(version: &str) -> bool {
    let (rest, build) = match version.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (version, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
    };
    let identifiers = |text: &str| {
        text.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    };
    numbers.len() == 3
        && numbers.iter().all(|part| numeric(part))
        && pre.is_none_or(identifiers)
        && build.is_none_or(identifiers)
}

#[cfg(test)]
mod tests {
    use super::is_semver;

    #[test]
    fn semver() {
        for ok in ["1.0.0", "0.1.2", "10.20.30", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc-1+x"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["", "1", "1.0", "1.0.0.0", "01.0.0", "1.0.x", "v1.0.0", "1.0.0-", "1.0.0+", "1..0"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
