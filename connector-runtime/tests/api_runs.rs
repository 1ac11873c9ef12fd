//! `GET /api/runs` pages through runs newest first (`next` is the next page's `before`) and
//! narrows them by status, job, time range and id prefix; a bad filter is a 400 that says why.

use std::sync::Arc;

use chrono::{Duration, Utc};
use connector_runtime::RunStatus;
use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::conformance::sample_run;
use connector_runtime::store::{MemoryStore, RunStore};
use serde_json::Value;

const KEY: &str = "api-runs-key";

#[tokio::test]
async fn runs_are_paged_newest_first_and_narrowed() {
    let store = Arc::new(MemoryStore::new());
    let start = Utc::now() - Duration::hours(1);
    let mut made = Vec::new();
    for minute in 0..5 {
        let mut run = sample_run(if minute % 2 == 0 { "even" } else { "odd" });
        run.created_at = start + Duration::minutes(minute);
        run.status = if minute == 4 { RunStatus::Failed } else { RunStatus::Succeeded };
        store.create_run(&run).await.unwrap();
        made.push(run.id.to_string());
    }
    let engine = Engine::builder().shared_store(Arc::clone(&store) as Arc<dyn RunStore>).build().unwrap();
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(KEY)),
        ..ServerConfig::default()
    };
    let running = server::start(engine, config).await.unwrap();
    let base = format!("http://{}/api/runs", running.addr());
    let client = reqwest::Client::new();
    let get = |query: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let answer = client.get(format!("{base}?{query}")).bearer_auth(KEY).send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let ids = |page: &Value| -> Vec<String> {
        page["runs"].as_array().unwrap().iter().map(|run| run["id"].as_str().unwrap().to_owned()).collect()
    };

    let (status, first) = get("limit=2".into()).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&first), [made[4].clone(), made[3].clone()]);
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = get(format!("limit=2&before={next}")).await;
    assert_eq!(ids(&second), [made[2].clone(), made[1].clone()]);
    let (_, last) = get(format!("limit=2&before={}", second["next"].as_str().unwrap())).await;
    assert_eq!(ids(&last), [made[0].clone()]);
    assert!(last["next"].is_null(), "no page after the last: {last}");

    let (_, failed) = get("status=failed,cancelled".into()).await;
    assert_eq!(ids(&failed), [made[4].clone()]);
    let (_, odd) = get("job=odd".into()).await;
    assert_eq!(ids(&odd), [made[3].clone(), made[1].clone()]);
    let since = (start + Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let until = (start + Duration::minutes(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, window) = get(format!("since={since}&until={until}")).await;
    assert_eq!(ids(&window), [made[2].clone(), made[1].clone()]);
    let (_, one) = get(format!("id={}", made[2])).await;
    assert_eq!(ids(&one), [made[2].clone()]);

    let (status, bad) = get("status=done".into()).await;
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("`done` is not a status"), "{bad}");
    let (status, bad) = get("since=yesterday".into()).await;
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("RFC 3339"), "{bad}");
    running.shutdown().await.unwrap();
}
