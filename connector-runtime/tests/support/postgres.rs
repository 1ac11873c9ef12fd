//! A PostgreSQL server for the tests, and schemas of their own on it.
//!
//! `CONNECTOR_RUNTIME_TEST_POSTGRES` names the server (default
//! `postgres://postgres@127.0.0.1:5432/test`). Without one, a test says so and passes, except
//! under CI (`CI` set), where it fails.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use connector_runtime::store::{PostgresOptions, PostgresStore};
use tokio_postgres::NoTls;

pub const URL_VARIABLE: &str = "CONNECTOR_RUNTIME_TEST_POSTGRES";
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test server's URL, or `None` (with a message) when there is none and this is not CI.
pub async fn server() -> Option<String> {
    let url = std::env::var(URL_VARIABLE).unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let reached = match tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&url, NoTls)).await {
        Ok(Ok(_)) => return Some(url),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "no answer within 5 s".to_owned(),
    };
    if std::env::var_os("CI").is_some() {
        panic!("no PostgreSQL server for the PostgreSQL tests ({reached}): set {URL_VARIABLE} to a server's URL");
    }
    eprintln!("skipped: no PostgreSQL server ({reached}); set {URL_VARIABLE} to a server's URL to run this test");
    None
}

/// Fresh schemas on the test server, dropped by [`Schemas::drop_all`].
pub struct Schemas {
    url: String,
    made: Mutex<Vec<String>>,
}

impl Schemas {
    pub fn new(url: &str) -> Self {
        Schemas { url: url.to_owned(), made: Mutex::new(Vec::new()) }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A schema name no test has used (the store creates the schema on connect).
    pub fn fresh(&self) -> String {
        let name = format!("test_{:016x}", fastrand::u64(..));
        self.made.lock().unwrap().push(name.clone());
        name
    }

    pub fn options(&self, schema: &str) -> PostgresOptions {
        PostgresOptions { schema: Some(schema.to_owned()), max_connections: 4, ..PostgresOptions::default() }
    }

    /// A store in a fresh schema.
    pub async fn store(&self) -> PostgresStore {
        let schema = self.fresh();
        PostgresStore::connect_with(&self.url, self.options(&schema)).await.expect("connect")
    }

    /// Runs `sql` on a connection of its own, in `schema`.
    pub async fn execute(&self, schema: &str, sql: &str) {
        let client = raw_client(&self.url).await;
        client.batch_execute(&format!("SET search_path TO {schema}; {sql}")).await.expect(sql);
    }

    pub async fn drop_all(&self) {
        let client = raw_client(&self.url).await;
        let made = std::mem::take(&mut *self.made.lock().unwrap());
        for schema in made {
            client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.expect("drop schema");
        }
    }
}

pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}
