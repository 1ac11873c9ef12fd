//! The PostgreSQL store keeps the [`RunStore`] contract, migrates a database once however many
//! processes connect at once, refuses a database from a newer version, and never shows the
//! password of its URL.
//!
//! Needs a PostgreSQL server: `CONNECTOR_RUNTIME_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test works in schemas of its own, dropped
//! at its end. Without a server, each test says so and passes, except under CI (`CI` set),
//! where it fails.
#![cfg(feature = "postgres")]

use std::sync::Arc;
use std::time::Duration;

use connector_runtime::store::conformance::{run_all_async, sample_run, sample_step};
use connector_runtime::store::{PostgresOptions, PostgresStore, RunStore, StoreError};
use serde_json::json;

#[path = "support/postgres.rs"]
mod postgres;

use postgres::{Schemas, raw_client, server};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_store_keeps_the_contract() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    run_all_async(|| schemas.store()).await;
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connects_racing_on_a_fresh_schema_migrate_it_once() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let connects = (0..4).map(|_| PostgresStore::connect_with(&url, schemas.options(&schema)));
    let stores: Vec<PostgresStore> = futures::future::join_all(connects)
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("every connect succeeds");

    let client = raw_client(&url).await;
    let rows =
        client.query(&format!("SELECT version FROM {schema}.connector_runtime_schema_version"), &[]).await.unwrap();
    assert_eq!(rows.len(), 1, "one version row");
    assert!(rows[0].get::<_, i64>(0) >= 1);

    // They share one database: a run one creates, another reads and updates.
    let run = sample_run("job");
    stores[0].create_run(&run).await.unwrap();
    stores[3].save_step(&run.id, &sample_step("s")).await.unwrap();
    let back = stores[1].run(&run.id).await.unwrap().expect("seen by another store");
    assert_eq!(back.steps.len(), 1);
    let again = stores[2].create_run(&run).await;
    assert!(matches!(again, Err(StoreError::DuplicateRun(_))), "{again:?}");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_from_a_newer_version_is_refused() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    drop(PostgresStore::connect_with(&url, schemas.options(&schema)).await.unwrap());
    schemas.execute(&schema, "UPDATE connector_runtime_schema_version SET version = 999").await;
    let error =
        PostgresStore::connect_with(&url, schemas.options(&schema)).await.expect_err("a newer schema is refused");
    assert!(
        matches!(&error, StoreError::Backend { message, .. } if message.contains("999") && message.contains("newer")),
        "{error}"
    );
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn steps_saved_at_once_keep_distinct_start_orders() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let store = Arc::new(schemas.store().await);
    let run = sample_run("job");
    store.create_run(&run).await.unwrap();
    let saves = (0..24).map(|i| {
        let store = Arc::clone(&store);
        let id = run.id.clone();
        tokio::spawn(async move { store.save_step(&id, &sample_step(&format!("s{i}"))).await })
    });
    for save in futures::future::join_all(saves).await {
        save.unwrap().expect("every concurrent step is saved");
    }
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(back.steps.len(), 24);
    // Saved again, a step keeps the place it started in.
    let first = back.steps[0].key.clone();
    store.save_step(&run.id, &sample_step(&first)).await.unwrap();
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().steps[0].key, first);
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_reads_back_as_written() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let store = schemas.store().await;
    let mut run = sample_run("job");
    // A NUL character (which `jsonb` refuses), a large integer and a float.
    run.payload = json!({"text": "a\u{0}b", "big": u64::MAX, "ratio": 0.1, "nested": [{"z": 1, "a": null}]});
    store.create_run(&run).await.unwrap();
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(back.payload, run.payload);
    assert_eq!(back.created_at.timestamp_micros(), run.created_at.timestamp_micros(), "microsecond precision");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_is_never_shown() {
    // A port nobody listens on: the connect fails, and says so without the password.
    let options = PostgresOptions { connect_timeout: Duration::from_secs(2), ..PostgresOptions::default() };
    let error = PostgresStore::connect_with("postgres://postgres:hunter2@127.0.0.1:1/test", options)
        .await
        .expect_err("nothing listens on port 1");
    let shown = format!("{error} {error:?}");
    assert!(matches!(error, StoreError::Backend { .. }), "{shown}");
    assert!(!shown.contains("hunter2") && shown.contains("postgres:***@127.0.0.1:1"), "{shown}");

    let bad = PostgresStore::connect("postgres://postgres:hunter2@127.0.0.1:5432/test?bogus=1").await;
    let shown = format!("{bad:?}");
    assert!(bad.is_err() && !shown.contains("hunter2"), "{shown}");

    let Some(url) = server().await else { return };
    // Trust authentication ignores the password, so the store connects with one in its URL.
    let with_password = url.replacen("://postgres@", "://postgres:hunter2@", 1);
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let store = PostgresStore::connect_with(&with_password, schemas.options(&schema)).await.unwrap();
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2") && debug.contains(&schema), "{debug}");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_engine_builder_connects_to_postgres_asynchronously() {
    use connector_runtime::{DATABASE_URL_ENV, Engine, EngineError};
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    // `.postgres(url)` takes the server's search path: the URL's `options` give it this schema.
    raw_client(&url).await.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let in_schema = format!("{url}{separator}options=-c%20search_path%3D{schema}");

    let sync = Engine::builder().postgres(&in_schema).build();
    assert!(matches!(sync, Err(EngineError::StoreUnavailable(_))), "build() refuses to block on a connect");
    let engine = Engine::builder().postgres(&in_schema).build_async().await.expect("build_async connects");
    let run = sample_run("job");
    engine.store().create_run(&run).await.unwrap();
    let client = raw_client(&url).await;
    let rows = client.query(&format!("SELECT id FROM {schema}.runs"), &[]).await.unwrap();
    assert_eq!(rows.len(), 1, "the run is in the schema the URL named");

    // The default store honours the variable. No other test in this file reads it.
    // SAFETY: nothing in this test binary reads the environment outside std's own lock.
    unsafe { std::env::set_var(DATABASE_URL_ENV, &in_schema) };
    let by_default = Engine::builder().build_async().await;
    let by_default_sync = Engine::builder().build();
    // SAFETY: as above.
    unsafe { std::env::remove_var(DATABASE_URL_ENV) };
    let engine = by_default.expect("the variable's database is connected");
    assert!(engine.store().run(&run.id).await.unwrap().is_some(), "the same database");
    assert!(matches!(by_default_sync, Err(EngineError::StoreUnavailable(_))));
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_wait_for_a_connection_when_the_server_has_none_to_spare() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    // A login the server lets open 3 connections at once: the store asks for up to 8.
    let role = format!("limited_{:016x}", fastrand::u64(..));
    let admin = raw_client(&url).await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'limited' CONNECTION LIMIT 3; \
             GRANT CREATE ON DATABASE {} TO {role}",
            admin.query_one("SELECT current_database()", &[]).await.unwrap().get::<_, String>(0)
        ))
        .await
        .unwrap();
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("a TCP server is needed for this test, not {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("postgres");
    let limited = format!("postgres://{role}:limited@{host}:{port}/{database}");
    let options = PostgresOptions { max_connections: 8, ..schemas.options(&schema) };
    let store = Arc::new(PostgresStore::connect_with(&limited, options).await.expect("connect"));

    let runs: Vec<_> = (0..8).map(|_| sample_run("job")).collect();
    for run in &runs {
        store.create_run(run).await.unwrap();
    }
    // 24 steps saved and 8 runs marked running (the writes that need not wait for the flush,
    // on connections of their own) at once: more than the server allows this login.
    let steps = (0..24).map(|n| {
        let (store, run) = (Arc::clone(&store), runs[n % runs.len()].id.clone());
        tokio::spawn(async move { store.save_step(&run, &sample_step(&format!("s{n}"))).await })
    });
    let marks = runs.iter().map(|run| {
        let (store, id) = (Arc::clone(&store), run.id.clone());
        tokio::spawn(async move {
            store
                .update_run(&id, &connector_runtime::store::RunUpdate::status(connector_runtime::RunStatus::Running))
                .await
        })
    });
    let results: Vec<_> = futures::future::join_all(steps.chain(marks)).await;
    for result in results {
        result.expect("the call ends").expect("no call fails for want of a connection");
    }
    for run in &runs {
        let back = store.run(&run.id).await.unwrap().expect("the run");
        assert_eq!(back.steps.len(), 3, "every step was saved");
        assert_eq!(back.status, connector_runtime::RunStatus::Running);
    }
    let shown = format!("{store:?}");
    assert!(!shown.contains(":limited@"), "the password stays hidden: {shown}");

    drop(store);
    schemas.drop_all().await;
    // The server closes a dropped store's connections shortly after.
    for _ in 0..50 {
        match admin.batch_execute(&format!("DROP OWNED BY {role}; DROP ROLE {role}")).await {
            Ok(()) => break,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
