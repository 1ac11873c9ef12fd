//! The webhook server killed with SIGKILL under load and restarted: every delivery it
//! acknowledged still gets exactly one run, and senders that retry what was not acknowledged
//! start nothing twice.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use connector_runtime::Secret;
use connector_runtime::store::{RunFilter, RunStore, SqliteStore};
use connector_runtime::webhook::signature::SignatureScheme;
use connector_runtime::{RunStatus, TriggerRef};
use tokio::sync::Mutex;

const DELIVERIES: usize = 1_500;
const SECRET: &str = "server-crash-secret";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_server(db: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_webhook-server"))
        .args([db.to_str().unwrap(), &port.to_string(), SECRET])
        .env("RUST_LOG", "off")
        .spawn()
        .expect("the webhook server starts")
}

async fn wait_until_up(http: &reqwest::Client, port: u16) {
    for _ in 0..500 {
        if http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the webhook server did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("server.sqlite3");
    let port = free_port();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let scheme = SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new(SECRET),
        delivery_id_header: Some("X-Delivery"),
    };

    let server = Arc::new(Mutex::new(start_server(&db, port)));
    wait_until_up(&http, port).await;

    // 64 senders, each retrying its delivery until acknowledged, as a webhook sender would.
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let answers: Arc<Mutex<HashMap<usize, Vec<String>>>> = Arc::default();
    let mut senders = Vec::new();
    for _ in 0..64 {
        let (http, scheme, next, acknowledged, answers) =
            (http.clone(), scheme.clone(), Arc::clone(&next), Arc::clone(&acknowledged), Arc::clone(&answers));
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= DELIVERIES {
                    return;
                }
                let body = serde_json::json!({ "n": n }).to_string();
                loop {
                    let headers = scheme.sign_at(body.as_bytes(), &format!("ping-{n}"), SystemTime::now()).unwrap();
                    let sent = http
                        .post(format!("http://127.0.0.1:{port}/webhooks/hook/ping"))
                        .headers(headers)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(response) = sent
                        && response.status().is_success()
                    {
                        let answer: serde_json::Value = response.json().await.unwrap();
                        let runs = answer["runs"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned());
                        answers.lock().await.entry(n).or_default().extend(runs);
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    // Kill the server mid-load, twice, and bring it back on the same file and port.
    for kill_at in [DELIVERIES / 4, DELIVERIES / 2] {
        while acknowledged.load(Ordering::SeqCst) < kill_at {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let mut child = server.lock().await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        *child = start_server(&db, port);
        drop(child);
        wait_until_up(&http, port).await;
    }
    for sender in senders {
        sender.await.unwrap();
    }

    // Let the restarted server finish the runs it resumed, then stop it.
    let store = SqliteStore::open(&db).unwrap();
    for _ in 0..1000 {
        if store.list_runs(&RunFilter::unfinished()).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.lock().await.kill().unwrap();

    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    let mut per_delivery: HashMap<u64, usize> = HashMap::new();
    for run in &runs {
        assert_eq!(run.trigger, TriggerRef::Connector { connector: "hook".into(), trigger: "ping".into() });
        assert_eq!(run.status, RunStatus::Succeeded, "run {} is {}", run.id, run.status);
        *per_delivery.entry(run.payload["n"].as_u64().unwrap()).or_default() += 1;
    }
    let answers = answers.lock().await;
    assert_eq!(answers.len(), DELIVERIES, "every delivery was acknowledged in the end");
    for (n, acknowledged_runs) in answers.iter() {
        assert_eq!(per_delivery.get(&(*n as u64)), Some(&1), "delivery {n} has exactly one run");
        for id in acknowledged_runs {
            assert!(
                runs.iter().any(|run| run.id.as_str() == id),
                "delivery {n}: acknowledged run {id} is in the store"
            );
        }
    }
}
