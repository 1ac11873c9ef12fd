//! `#[connector(..)]`'s arguments.

use darling::FromMeta;

use super::Keys;
use super::value::{FnPath, Int, Str, TypePath};

/// `#[connector(id = "..", name = "..", version = "..", config = Type, ..)]`
#[derive(Debug, FromMeta)]
pub struct ConnectorArgs {
    pub id: Str,
    pub name: Str,
    pub version: Str,
    pub config: TypePath,
    #[darling(default)]
    pub description: Option<Str>,
    #[darling(default)]
    pub rate_limit: Option<RateLimitArgs>,
    /// `auth = Self::auth`: `fn(&Config) -> Auth`.
    #[darling(default)]
    pub auth: Option<FnPath>,
    /// `check = Self::check`: `async fn(&ConnectorContext<Config>) -> Result<(), E>`.
    #[darling(default)]
    pub check: Option<FnPath>,
}

pub const CONNECTOR: Keys = Keys {
    attr: "`#[connector(..)]`",
    keys: &[
        ("id", "\"..\""),
        ("name", "\"..\""),
        ("version", "\"1.0.0\""),
        ("config", "ConfigType"),
        ("description", "\"..\""),
        ("rate_limit", "(per_second = 10)"),
        ("auth", "Self::auth"),
        ("check", "Self::check"),
    ],
    nested: &[("rate_limit", &RATE_LIMIT)],
};

/// `rate_limit(per_second = 10, burst = 20, concurrency = 4)`.
#[derive(Debug, Default, FromMeta)]
pub struct RateLimitArgs {
    #[darling(default)]
    pub per_second: Option<Int>,
    #[darling(default)]
    pub burst: Option<Int>,
    #[darling(default)]
    pub concurrency: Option<Int>,
}

pub const RATE_LIMIT: Keys = Keys {
    attr: "`rate_limit(..)`",
    keys: &[("per_second", "10"), ("burst", "20"), ("concurrency", "4")],
    nested: &[],
};
