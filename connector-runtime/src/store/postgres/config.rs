//! From a connection URL and [`PostgresOptions`] to a pool: the schema a store lives in, the
//! limits of the pool, and the URL as it may be shown (its password masked).

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::store::StoreError;

/// How [`PostgresStore::connect_with`](super::PostgresStore::connect_with) connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// The schema the store's tables live in, created on connect if it is missing; `None` (the
    /// default) leaves the server's `search_path` alone (usually `public`). Each pooled
    /// connection starts with `search_path` set to it, so several stores can share one database
    /// (one per test, one per tenant). Lowercase letters, digits and `_`, not starting with a
    /// digit, at most 63 bytes: it is written into SQL unquoted.
    pub schema: Option<String>,
    /// At most this many connections are open at once (default 16; at least 2), not counting
    /// the one that listens for notifications and, while a token refresh holds its lock, one
    /// more. A call that finds them all busy waits for one, up to
    /// [`connect_timeout`](Self::connect_timeout); so does a call when the server refuses a
    /// new connection because its own `max_connections` are taken.
    pub max_connections: usize,
    /// How long connecting, or waiting for a free connection, may take before the call fails
    /// with [`StoreError::Backend`] (default 5 s).
    pub connect_timeout: Duration,
    /// How long a run's lease lasts (default 5 s): a process renews the leases of the runs it
    /// executes three times per lease, and a run whose process died is claimed by another
    /// process once its lease lapsed. Shorter resumes a dead worker's runs sooner; longer
    /// tolerates longer stalls (a paused VM, a long GC in a neighbour) before a run moves.
    pub lease: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: None,
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            lease: Duration::from_secs(5),
        }
    }
}

/// The schema name, if it is one [`PostgresOptions::schema`] accepts.
pub(super) fn check_schema(schema: &str) -> Result<(), StoreError> {
    let mut chars = schema.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && schema.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::backend(format!(
            "postgres: schema {schema:?} is not a plain name (lowercase letters, digits and `_`, not starting with \
             a digit, at most 63 bytes)"
        )))
    }
}

/// How to connect to `url`: its settings, with the schema and timeout of `options`.
pub(super) fn connection(
    url: &str,
    shown: &str,
    options: &PostgresOptions,
) -> Result<tokio_postgres::Config, StoreError> {
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| super::codec::backend(format_args!("reading the connection URL `{shown}`"), e))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if let Some(schema) = &options.schema {
        check_schema(schema)?;
        // Set at connection start: no round trip, and no connection is ever handed out on
        // another schema. `check_schema` leaves nothing to escape.
        config.options(format!("-c search_path={schema}"));
    }
    Ok(config)
}

/// `config` for connections whose commits return before the WAL is flushed: a crash of the
/// server may lose the last of them, never corrupt anything, and later synced commits flush them.
pub(super) fn relaxed(config: &tokio_postgres::Config) -> tokio_postgres::Config {
    let mut relaxed = config.clone();
    let options = match config.get_options() {
        Some(options) => format!("{options} -c synchronous_commit=off"),
        None => "-c synchronous_commit=off".to_owned(),
    };
    relaxed.options(options);
    relaxed
}

/// How `max_connections` is shared by a store's two pools: most for the writes that wait for
/// the WAL flush and the reads, a quarter (at least one) for the writes that do not.
pub(super) fn pool_sizes(max_connections: usize) -> (usize, usize) {
    let relaxed = (max_connections / 4).max(1);
    (max_connections.saturating_sub(relaxed).max(1), relaxed)
}

/// A pool of at most `size` connections made with `config` (none is opened yet).
pub(super) fn pool(
    config: tokio_postgres::Config,
    shown: &str,
    options: &PostgresOptions,
    size: usize,
) -> Result<Pool, StoreError> {
    // `Fast` reuses a connection the client has not seen closed without asking the server; a
    // connection the server dropped fails its next call, which fails that store call only.
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(options.connect_timeout))
        .create_timeout(Some(options.connect_timeout))
        .recycle_timeout(Some(options.connect_timeout))
        .build()
        .map_err(|e| super::codec::backend(format_args!("building the connection pool for `{shown}`"), e))
}

/// `url` with its password replaced by `***`, in both forms PostgreSQL takes: a URL
/// (`postgres://user:secret@host/db`, `?password=secret`) and key-value pairs
/// (`host=h password=secret`). What is not recognised is shown as it is: it holds no password
/// PostgreSQL would read.
pub(super) fn mask_password(url: &str) -> String {
    let masked = match url.split_once("://") {
        Some((scheme, rest)) => {
            // The userinfo ends at the last `@` before the query: a password with an unencoded
            // `/` or `@` in it is still masked whole.
            let query = rest.find('?').unwrap_or(rest.len());
            match rest[..query].rfind('@') {
                Some(at) => match rest[..at].split_once(':') {
                    Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                    None => format!("{scheme}://{rest}"),
                },
                None => format!("{scheme}://{rest}"),
            }
        }
        None => url.to_owned(),
    };
    mask_password_pairs(&masked)
}

/// Every `password=value` (as a query parameter or a key-value pair, quoted or not) with its
/// value replaced by `***`.
fn mask_password_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("password") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        out.push_str("password");
        let after = &after["password".len()..];
        let trimmed = after.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            rest = after;
            continue;
        };
        out.push_str("=***");
        let value = value.trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            // A quoted value ends at the next unescaped quote.
            let mut escaped = false;
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(|c: char| c == '&' || c == '#' || c.is_whitespace()).unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_every_form() {
        let cases = [
            ("postgres://app:s3cr%40t@db:5432/runs", "postgres://app:***@db:5432/runs"),
            ("postgresql://app:p@ss@db/runs?sslmode=disable", "postgresql://app:***@db/runs?sslmode=disable"),
            ("postgres://postgres@127.0.0.1/test", "postgres://postgres@127.0.0.1/test"),
            ("postgres://app:a/b@c@db/runs", "postgres://app:***@db/runs"),
            ("postgres://h/db?user=u&password=hunter2&x=1", "postgres://h/db?user=u&password=***&x=1"),
            ("host=h password=hunter2 dbname=d", "host=h password=*** dbname=d"),
            ("host=h password = 'a b\\' c' dbname=d", "host=h password=*** dbname=d"),
        ];
        for (url, expected) in cases {
            assert_eq!(mask_password(url), expected, "{url}");
        }
    }

    #[test]
    fn schema_names_are_plain() {
        assert!(check_schema("test_0af3").is_ok());
        for bad in ["", "1abc", "Runs", "a;drop", "a b", &"x".repeat(64)] {
            assert!(check_schema(bad).is_err(), "{bad:?}");
        }
    }
}
