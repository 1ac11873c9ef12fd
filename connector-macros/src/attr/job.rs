//! `#[job(..)]`'s arguments.

use darling::FromMeta;
use darling::ast::NestedMeta;
use syn::{Expr, Ident, Meta, Path};

use super::Keys;
use super::member::{RETRY, RetryArgs};
use super::value::{Duration, FnPath, Int, Str, TypePath};

/// `#[job(id, name, version, description, event = T | trigger = C::f | cron = ".." | every = "..",
/// integrations(k = C, ..), retry(..), concurrency = n)]`. That exactly one trigger is given is
/// a rule of `valid`.
#[derive(Debug, FromMeta)]
pub struct JobArgs {
    pub id: Str,
    pub name: Str,
    pub version: Str,
    #[darling(default)]
    pub description: Option<Str>,
    #[darling(default)]
    pub event: Option<TypePath>,
    #[darling(default)]
    pub trigger: Option<FnPath>,
    #[darling(default)]
    pub cron: Option<Str>,
    #[darling(default)]
    pub every: Option<Duration>,
    #[darling(default)]
    pub integrations: Integrations,
    #[darling(default)]
    pub retry: Option<RetryArgs>,
    #[darling(default)]
    pub concurrency: Option<Int>,
}

pub const JOB: Keys = Keys {
    attr: "`#[job(..)]`",
    keys: &[
        ("id", "\"..\""),
        ("name", "\"..\""),
        ("version", "\"1.0.0\""),
        ("description", "\"..\""),
        ("event", "EventType"),
        ("trigger", "Connector::trigger_fn"),
        ("cron", "\"*/5 * * * *\""),
        ("every", "\"30s\""),
        ("integrations", "(chat = SimpleChat)"),
        ("retry", "(max_attempts = 3)"),
        ("concurrency", "4"),
    ],
    nested: &[("retry", &RETRY)],
};

/// `integrations(chat = SimpleChat, tracker = IssueTracker)`, in declaration order. A key given
/// twice is a rule of `valid`.
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
        let mut errors = Vec::new();
        let mut integrations = Vec::new();
        for item in items {
            match item {
                NestedMeta::Meta(Meta::NameValue(pair)) => match (pair.path.get_ident(), &pair.value) {
                    (Some(key), Expr::Path(connector)) if connector.qself.is_none() => {
                        integrations.push(IntegrationArg { key: key.clone(), connector: connector.path.clone() });
                    }
                    _ => errors.push(
                        darling::Error::custom("expected `key = ConnectorType`, like `chat = SimpleChat`")
                            .with_span(pair),
                    ),
                },
                other => errors.push(
                    darling::Error::custom("expected `key = ConnectorType`, like `chat = SimpleChat`").with_span(other),
                ),
            }
        }
        if errors.is_empty() { Ok(Integrations(integrations)) } else { Err(darling::Error::multiple(errors)) }
    }
}
