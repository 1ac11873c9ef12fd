//! OTLP export (feature `otel`): runs of a job with two steps, whose first attempt at one fails
//! and is retried, exported to a small OTLP/HTTP receiver on loopback; each run is one trace
//! whose root is its `run` span, its steps and their attempts below it, and the connector's
//! secret is in none of the bytes sent.
#![cfg(all(feature = "otel", feature = "server"))]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use connector_runtime::prelude::*;
use connector_runtime::{REDACTED, RunId};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Deserialize, JsonSchema)]
struct TracedConfig {
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Greet {
    name: String,
}

/// How many times `greet` was called: the first attempt of each run fails (odd calls).
static GREETS: AtomicU32 = AtomicU32::new(0);

struct Traced;

#[connector(id = "traced", name = "Traced", version = "1.0.0", config = TracedConfig)]
impl Traced {
    /// Greets, printing its token through `tracing` (as careless library code might); every
    /// other call fails.
    #[action(id = "greet", name = "Greet")]
    async fn greet(ctx: &ActionContext<TracedConfig>, input: Greet) -> Result<String, ActionError> {
        tracing::info!("calling with {}", ctx.config().token.expose());
        if GREETS.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            return Err(ActionError::transient("busy"));
        }
        Ok(format!("hello {}", input.name))
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "traced.wanted")]
struct TracedWanted {
    name: String,
}

#[job(id = "traced-job", name = "Traced job", version = "1.0.0", event = TracedWanted, integrations(traced = Traced))]
async fn traced_job(payload: TracedWanted, io: TracedJobIo<'_>) -> Result<String, JobError> {
    let greeting = io.traced.greet("greet", Greet { name: payload.name }).await?;
    let length: usize = io.run_task("measure", || async { Ok::<_, ActionError>(greeting.len()) }).await?;
    Ok(format!("{greeting} {length}"))
}

const TOKEN: &str = "otel-token-0123456789abcdef";

/// An OTLP/HTTP receiver on loopback: what it was sent, one request body each.
async fn receiver() -> (String, Arc<Mutex<Vec<Bytes>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            post(|State(received): State<Arc<Mutex<Vec<Bytes>>>>, body: Bytes| async move {
                received.lock().unwrap().push(body);
                // An empty ExportTraceServiceResponse: everything accepted.
                ([(axum::http::header::CONTENT_TYPE, "application/x-protobuf")], Vec::<u8>::new())
            }),
        )
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received)
}

/// An attribute's value as text.
fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::IntValue(number) => number.to_string(),
        other => format!("{other:?}"),
    })
}

#[tokio::test]
async fn each_run_is_a_trace_of_its_steps_and_attempts_without_the_secret() {
    let (endpoint, received) = receiver().await;
    let (otel, guard) = connector_runtime::otel::layer(&endpoint, "otel-test").unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(otel)).unwrap();
    let fast = RetryPolicy::DEFAULT.with_delays(Duration::from_millis(1), Duration::from_millis(1));
    let engine = Engine::builder()
        .store(connector_runtime::store::MemoryStore::new())
        .connector(Traced::init(TracedConfig { token: Secret::new(TOKEN) }))
        .job(TracedJobJob)
        .retry_policy(fast)
        .build()
        .unwrap();
    let mut runs: Vec<RunId> = Vec::new();
    for name in ["ada", "grace"] {
        let run = engine.send(TracedWanted { name: name.into() }).await.unwrap().remove(0);
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        runs.push(run.id);
    }
    // Dropping the guard sends what is left, and blocks until the receiver answers.
    tokio::task::spawn_blocking(move || drop(guard)).await.unwrap();

    let bodies = received.lock().unwrap().clone();
    assert!(!bodies.is_empty(), "nothing was exported");
    for body in &bodies {
        assert!(!body.windows(TOKEN.len()).any(|window| window == TOKEN.as_bytes()), "the secret was exported");
    }
    let spans: Vec<Span> = bodies
        .iter()
        .flat_map(|body| ExportTraceServiceRequest::decode(body.as_ref()).unwrap().resource_spans)
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect();

    let mut traces = Vec::new();
    for run_id in &runs {
        let roots: Vec<&Span> = spans
            .iter()
            .filter(|span| span.name == "run" && attribute(&span.attributes, "run_id") == Some(run_id.to_string()))
            .collect();
        assert_eq!(roots.len(), 1, "one run span for {run_id}");
        let root = roots[0];
        assert!(root.parent_span_id.is_empty(), "the run span is the root of its trace");
        assert_eq!(attribute(&root.attributes, "job_id").as_deref(), Some("traced-job"));
        assert_eq!(attribute(&root.attributes, "execution").as_deref(), Some("1"));
        traces.push(root.trace_id.clone());

        let in_trace: Vec<&Span> = spans.iter().filter(|span| span.trace_id == root.trace_id).collect();
        let children = |parent: &Span| -> Vec<&Span> {
            in_trace.iter().copied().filter(|span| span.parent_span_id == parent.span_id).collect()
        };
        let mut steps: Vec<&Span> = children(root);
        steps.sort_by_key(|span| span.start_time_unix_nano);
        let keys: Vec<Option<String>> = steps.iter().map(|span| attribute(&span.attributes, "step_key")).collect();
        assert_eq!(keys, [Some("greet".to_owned()), Some("measure".to_owned())], "{steps:#?}");
        assert!(steps.iter().all(|span| span.name == "step"));
        assert_eq!(attribute(&steps[0].attributes, "action").as_deref(), Some("traced.greet"));

        let attempts = |step: &Span| -> Vec<Option<String>> {
            let mut attempts = children(step);
            attempts.sort_by_key(|span| span.start_time_unix_nano);
            assert!(attempts.iter().all(|span| span.name == "attempt"), "{attempts:#?}");
            attempts.iter().map(|span| attribute(&span.attributes, "attempt")).collect()
        };
        assert_eq!(
            attempts(steps[0]),
            [Some("1".to_owned()), Some("2".to_owned())],
            "the failed attempt and its retry"
        );
        assert_eq!(attempts(steps[1]), [Some("1".to_owned())]);
        // The action's event was sent, with the secret masked in it.
        let masked = format!("calling with {REDACTED}");
        let greet_attempts = children(steps[0]);
        assert!(greet_attempts.iter().all(|attempt| attempt.events.iter().any(|event| event.name == masked)));
        let all: usize = in_trace.len();
        assert_eq!(all, 1 + 2 + 3, "a run, two steps, three attempts: nothing else in the trace");
    }
    assert_ne!(traces[0], traces[1], "each run is a trace of its own");
}
