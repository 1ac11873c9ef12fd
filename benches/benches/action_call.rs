//! (1) An action call through the typed `io` client against the same request written by hand
//! with reqwest, both to the same loopback HTTP server, with the same client settings.
//!
//! `typed_io` sends one event whose job makes `calls` typed calls (each a durable step on the
//! in-memory store); `by_hand` makes the same `calls` requests with reqwest: same URL, method,
//! headers (bearer token, `Idempotency-Key`), JSON body, and JSON answer parsed into the same
//! type. With `calls = 50` the run's own bookkeeping (create, start, finish) is spread over 50
//! calls; `calls = 1` shows it whole.
//!
//! `cargo bench -p connector-benches --bench action_call`

use std::sync::LazyLock;

use connector_benches::{CHAT_API_KEY, SendMessage, SentMessage};
use connector_runtime::prelude::*;
use connector_runtime::store::MemoryStore;
use divan::Bencher;

fn main() {
    divan::main();
}

/// Config of the bench connector.
#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    /// Sent as a bearer token.
    api_key: Secret,
    /// Where the API lives.
    base_url: String,
}

/// The loopback chat API.
struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    /// Posts a message.
    #[action(id = "sendMessage", name = "Send Message")]
    async fn send_message(ctx: &ActionContext<ChatConfig>, input: SendMessage) -> Result<SentMessage, ActionError> {
        let config = ctx.config();
        ctx.http()
            .post(format!("{}/v1/messages", config.base_url))
            .bearer_auth(&config.api_key)
            .json(&input)
            .send_json()
            .await
    }
}

/// Make `count` calls.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bench.calls")]
struct Calls {
    count: usize,
}

#[job(id = "calls", name = "Calls", version = "1.0.0", event = Calls, integrations(chat = Chat))]
async fn calls(payload: Calls, io: CallsIo<'_>) -> Result<usize, JobError> {
    for i in 0..payload.count {
        let input = SendMessage { channel: "general".to_owned(), message: format!("message number {i}") };
        io.chat.send_message(&format!("call-{i}"), input).await?;
    }
    Ok(payload.count)
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    base_url: String,
    engine: Engine,
    integration: connector_runtime::Integration<Chat>,
    client: reqwest::Client,
}

impl Setup {
    /// The chat API, the engine (in-memory store) and a client on `runtime`.
    fn on(runtime: tokio::runtime::Runtime) -> Self {
        let base_url = runtime.block_on(connector_benches::start_chat_api());
        let integration = Chat::init(ChatConfig { api_key: Secret::new(CHAT_API_KEY), base_url: base_url.clone() });
        let engine = Engine::builder()
            .store(MemoryStore::new())
            .connector(integration.clone())
            .job(CallsJob)
            .build()
            .expect("the engine");
        Setup { runtime, base_url, engine, integration, client: connector_benches::http_client() }
    }

    /// One run of the job making `calls` typed calls.
    fn typed(&self, calls: usize) {
        let runs = self.runtime.block_on(self.engine.send(Calls { count: calls })).expect("the run");
        assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
    }

    /// The same `calls` calls of the action, each run once directly (`Integration::call`): the
    /// runtime's HTTP helper without a step around it.
    fn action_only(&self, calls: usize) {
        let integration = self.integration.clone();
        let task = self.runtime.spawn(async move {
            for i in 0..calls {
                let input = SendMessage { channel: "general".to_owned(), message: format!("message number {i}") };
                let sent = integration.call(Chat::SEND_MESSAGE, input).await.expect("the call");
                divan::black_box(sent);
            }
        });
        self.runtime.block_on(task).expect("the calls");
    }

    /// The same `calls` requests by hand, in a task on the runtime as the job's are.
    fn by_hand(&self, calls: usize) {
        let (client, url) = (self.client.clone(), format!("{}/v1/messages", self.base_url));
        let run_id = "0195e1a2-7c3b-7d2e-9f10-123456789abc";
        let task = self.runtime.spawn(async move {
            for i in 0..calls {
                let input = SendMessage { channel: "general".to_owned(), message: format!("message number {i}") };
                let response = client
                    .post(&url)
                    .bearer_auth(CHAT_API_KEY)
                    .header("Idempotency-Key", format!("{run_id}:call-{i}"))
                    .json(&input)
                    .send()
                    .await
                    .expect("the request");
                assert!(response.status().is_success());
                let bytes = response.bytes().await.expect("the body");
                let sent: SentMessage = serde_json::from_slice(&bytes).expect("the answer");
                divan::black_box(sent);
            }
        });
        self.runtime.block_on(task).expect("the calls");
    }
}

const CALLS: &[usize] = &[1, 50];

/// Server, client and engine on one thread: every cycle of overhead shows in the latency.
mod one_thread {
    use super::*;

    static SETUP: LazyLock<Setup> = LazyLock::new(|| {
        Setup::on(tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
    });

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn typed_io(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.typed(calls));
    }

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn by_hand(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.by_hand(calls));
    }

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn action_only(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.action_only(calls));
    }
}

/// A 2-worker runtime (the machine's 2 cores) for the server, the client and the engine.
mod two_workers {
    use super::*;

    static SETUP: LazyLock<Setup> = LazyLock::new(|| Setup::on(connector_benches::runtime(2)));

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn typed_io(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.typed(calls));
    }

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn by_hand(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.by_hand(calls));
    }

    #[divan::bench(args = CALLS, sample_count = 100, max_time = 8)]
    fn action_only(bencher: Bencher, calls: usize) {
        bencher.counter(divan::counter::ItemsCount::new(calls)).bench_local(|| SETUP.action_only(calls));
    }
}
