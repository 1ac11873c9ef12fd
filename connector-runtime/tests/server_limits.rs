//! The server's limits over real sockets on loopback: slow heads, slow and missing bodies, idle
//! keep-alive connections, and the connection cap, with short timeouts so the tests are quick.
//! Bounds are generous (a loaded machine) but each one fails without the limit it checks.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use connector_runtime::prelude::*;
use connector_runtime::server::{self, RunningServer, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::webhook::signature::SignatureScheme;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WEBHOOK_SECRET: &str = "chat-webhook-secret";
const WEBHOOK_PATH: &str = "/webhooks/chat/message.posted";

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    webhook_secret: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Posted {
    channel: String,
    sender: String,
    text: String,
}

/// A chat connector with one signed webhook trigger.
struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    /// A message was posted.
    #[trigger(
        id = "message.posted",
        name = "Message posted",
        webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = webhook_secret, delivery_id = "X-Delivery"))
    )]
    async fn message_posted(_ctx: &TriggerContext<ChatConfig>, payload: Posted) -> Result<Option<Posted>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "on-message", name = "On message", version = "1.0.0", trigger = Chat::message_posted)]
async fn on_message(payload: Posted, _io: OnMessageIo<'_>) -> Result<String, JobError> {
    Ok(payload.text)
}

struct Harness {
    server: RunningServer,
    store: Arc<dyn RunStore>,
}

/// A server on a free loopback port with every limit long, but for what `limits` shortens.
async fn harness(limits: impl FnOnce(ServerConfig) -> ServerConfig) -> Harness {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .shared_store(Arc::clone(&store))
        .connector(Chat::init(ChatConfig { webhook_secret: Secret::new(WEBHOOK_SECRET) }))
        .job(OnMessageJob)
        .build()
        .unwrap();
    let config = ServerConfig::default()
        .bind("127.0.0.1:0".parse().unwrap())
        .header_timeout(Duration::from_secs(60))
        .body_timeout(Duration::from_secs(60))
        .idle_timeout(Duration::from_secs(60));
    let server = server::start(engine, limits(config)).await.unwrap();
    Harness { server, store }
}

impl Harness {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.server.addr()).await.unwrap()
    }

    async fn runs(&self) -> Vec<Run> {
        self.store.list_runs(&RunFilter::default()).await.unwrap()
    }
}

fn scheme() -> SignatureScheme {
    SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new(WEBHOOK_SECRET),
        delivery_id_header: Some("X-Delivery"),
    }
}

fn message(text: &str) -> String {
    json!({"channel": "general", "sender": "ada", "text": text}).to_string()
}

/// The head of a signed delivery of `body` with id `id`, as raw HTTP/1.1.
fn signed_head(body: &str, id: &str) -> String {
    let mut head = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in &scheme().sign_at(body.as_bytes(), id, SystemTime::now()).unwrap() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    head.push_str("\r\n");
    head
}

/// Reads until the server closes the connection (end of stream or reset), within `limit`.
/// Returns what was read. Panics if the connection is still open after `limit`.
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin), limit: Duration) -> Vec<u8> {
    let mut read = Vec::new();
    let closing = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read.extend_from_slice(&buf[..n]),
            }
        }
    };
    if tokio::time::timeout(limit, closing).await.is_err() {
        panic!("the connection was still open after {limit:?}; read {:?}", String::from_utf8_lossy(&read));
    }
    read
}

/// Reads one response (head and `Content-Length` body) on a keep-alive connection: its status.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> u16 {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    let answer = async {
        loop {
            if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&read[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse().unwrap());
                if read.len() >= end + 4 + length {
                    return head[9..12].parse().unwrap();
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed mid-answer: {:?}", String::from_utf8_lossy(&read));
            read.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), answer).await.expect("an answer within 10 s")
}

fn status_of(response: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(response);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_cut_off_at_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let h = harness(|config| config.header_timeout(timeout)).await;
    let started = Instant::now();
    let (mut reader, mut writer) = h.connect().await.into_split();
    writer.write_all(format!("POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: localhost\r\nX-Slow").as_bytes()).await.unwrap();
    // Every 100 ms another byte of a header name that never ends: always something new.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"w").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let read = read_until_closed(&mut reader, timeout + Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(elapsed >= timeout / 2, "closed after {elapsed:?}, before the header timeout");
    assert!(read.is_empty() || status_of(&read).is_some_and(|status| status >= 400), "{read:?}");
    assert!(h.runs().await.is_empty());
}

#[tokio::test]
async fn a_body_trickled_slowly_gets_408_at_the_body_timeout() {
    let timeout = Duration::from_millis(500);
    let h = harness(|config| config.body_timeout(timeout)).await;
    let body = format!("{{\"channel\":\"general\",\"sender\":\"ada\",\"text\":\"{}\"}}", "x".repeat(954));
    assert_eq!(body.len(), 1000);
    let (mut reader, mut writer) = h.connect().await.into_split();
    writer.write_all(signed_head(&body, "slow-1").as_bytes()).await.unwrap();
    let started = Instant::now();
    // A byte every 100 ms: the whole body would take 100 s. The trickle stops at the first
    // byte of an answer, so the answer is not lost to a reset.
    let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = tokio::spawn({
        let answered = Arc::clone(&answered);
        async move {
            for byte in body.as_bytes().chunks(1) {
                if answered.load(std::sync::atomic::Ordering::SeqCst) || writer.write_all(byte).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(timeout + Duration::from_secs(2), reader.read(&mut first))
        .await
        .expect("an answer (or the connection closed) within the body timeout")
        .unwrap_or(0);
    answered.store(true, std::sync::atomic::Ordering::SeqCst);
    let elapsed = started.elapsed();
    let mut read = first[..n].to_vec();
    read.extend(read_until_closed(&mut reader, Duration::from_secs(2)).await);
    trickle.abort();
    assert!(elapsed >= timeout / 2, "answered after {elapsed:?}, before the body timeout");
    assert_eq!(status_of(&read), Some(408), "{:?}", String::from_utf8_lossy(&read));
    assert!(String::from_utf8_lossy(&read).to_ascii_lowercase().contains("connection: close"));
    assert!(h.runs().await.is_empty(), "a body that did not arrive starts nothing");
}

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_any_of_it_is_sent() {
    // A long body timeout: an answer well before it can only come from the declared length.
    let h = harness(|config| config.body_limit(1024 * 1024).body_timeout(Duration::from_secs(30))).await;
    let mut stream = h.connect().await;
    let head = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let read = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(status_of(&read), Some(413), "{:?}", String::from_utf8_lossy(&read));
    assert!(h.runs().await.is_empty());
}

#[tokio::test]
async fn a_declared_body_under_the_limit_that_never_comes_gets_408_at_the_body_timeout() {
    let timeout = Duration::from_millis(500);
    let h = harness(|config| config.body_timeout(timeout)).await;
    let mut stream = h.connect().await;
    let head = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let read = read_until_closed(&mut stream, timeout + Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout / 2, "answered after {elapsed:?}, before the body timeout");
    assert_eq!(status_of(&read), Some(408), "{:?}", String::from_utf8_lossy(&read));
    assert!(h.runs().await.is_empty());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_the_header_timeout() {
    let (header, idle) = (Duration::from_millis(300), Duration::from_millis(1200));
    let h = harness(|config| config.header_timeout(header).idle_timeout(idle)).await;
    let mut stream = h.connect().await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
    // Idle past the header timeout, within the idle timeout: still open for another request.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200, "kept alive past the header timeout");
    let started = Instant::now();
    let read = read_until_closed(&mut stream, idle + Duration::from_secs(2)).await;
    let elapsed = started.elapsed();
    assert!(read.is_empty(), "{read:?}");
    assert!(elapsed >= idle / 2, "closed after {elapsed:?}, before the idle timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_gets_through_while_another_client_holds_every_connection_idle() {
    const CAP: usize = 16;
    // Every timeout a minute: only making room at the cap can let the delivery in.
    let h = harness(|config| config.max_connections(CAP)).await;
    let mut idle = Vec::new();
    for _ in 0..CAP {
        let mut stream = h.connect().await;
        stream.write_all(HEALTHZ).await.unwrap();
        assert_eq!(read_response(&mut stream).await, 200);
        idle.push(stream);
    }
    // And more, queued behind them, that never send anything.
    for _ in 0..4 {
        idle.push(h.connect().await);
    }

    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let body = message("through the crowd");
    let started = Instant::now();
    let response = http
        .post(format!("{}{WEBHOOK_PATH}", h.server.url()))
        .headers(scheme().sign_at(body.as_bytes(), "crowd-1", SystemTime::now()).unwrap())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the delivery is answered");
    assert_eq!(response.status(), 202);
    // A client of its own: a new connection, not the delivery's kept-alive one.
    let other = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let health = other.get(format!("{}/healthz", h.server.url())).send().await.expect("/healthz is answered");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());

    let runs = h.runs().await;
    assert_eq!(runs.len(), 1, "the delivery is recorded exactly once: {runs:?}");
    assert_eq!(runs[0].payload["text"], "through the crowd");
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_connections_wait_for_a_slot_and_requests_in_flight_are_never_cut() {
    const CAP: usize = 4;
    let h = harness(|config| config.max_connections(CAP)).await;
    let started = Instant::now();
    // CAP deliveries whose bodies take about 1.5 s to arrive: busy connections, not idle ones.
    let mut uploads = Vec::new();
    for n in 0..CAP {
        let mut stream = h.connect().await;
        uploads.push(tokio::spawn(async move {
            let body = message(&format!("upload {n}"));
            stream.write_all(signed_head(&body, &format!("upload-{n}")).as_bytes()).await.unwrap();
            let third = body.len() / 3;
            for part in [&body[..third], &body[third..2 * third], &body[2 * third..]] {
                tokio::time::sleep(Duration::from_millis(500)).await;
                stream.write_all(part.as_bytes()).await.unwrap();
            }
            read_response(&mut stream).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One more connection: it waits in the backlog until an upload is done.
    let mut late = h.connect().await;
    late.write_all(HEALTHZ).await.unwrap();
    let asked = Instant::now();
    assert_eq!(read_response(&mut late).await, 200);
    let waited = asked.elapsed();
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), 202, "every upload in flight is answered");
    }
    assert!(waited >= Duration::from_millis(800), "answered after {waited:?}: served past the cap");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(h.runs().await.len(), CAP, "one run per upload");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_closes_idle_connections() {
    let h = harness(|config| config).await;
    let mut idle = h.connect().await;
    idle.write_all(HEALTHZ).await.unwrap();
    assert_eq!(read_response(&mut idle).await, 200);

    let body = message("during shutdown");
    let mut busy = h.connect().await;
    let head = signed_head(&body, "shutdown-1");
    busy.write_all(head.as_bytes()).await.unwrap();
    // The head is in: the request is being answered when the shutdown begins.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Harness { server, store } = h;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(read_until_closed(&mut idle, Duration::from_secs(3)).await.is_empty(), "the idle one is closed");
    assert!(!shutdown.is_finished(), "shutdown waits for the request in flight");
    busy.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut busy).await, 202);
    tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("shutdown finishes").unwrap().unwrap();
    assert_eq!(store.list_runs(&RunFilter::default()).await.unwrap().len(), 1);
}
