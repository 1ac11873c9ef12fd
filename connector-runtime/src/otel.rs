//! OTLP export of runs as traces (feature `otel`): a `tracing_subscriber` layer that sends the
//! engine's spans, and the events inside them, to an OpenTelemetry collector over OTLP/HTTP
//! with protobuf.
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! # fn main() -> Result<(), connector_runtime::otel::OtelError> {
//! let (otel, _guard) = connector_runtime::otel::layer("http://127.0.0.1:4318", "my-app")?;
//! tracing_subscriber::registry().with(otel).init();
//! // .. run the engine; dropping `_guard` at the end sends what is left ..
//! # Ok(())
//! # }
//! ```
//!
//! What a trace holds, span by span (the fields are the span's attributes):
//!
//! | span | parent | fields |
//! | --- | --- | --- |
//! | `run` | none: each execution of a run is a trace of its own, even one started inside an HTTP request or by another run | `run_id`, `job_id`, `execution` (1, plus one per resume or retry) |
//! | `step` | its run | `step_key`; `action` (`connector.action`), or `task`, `event`, `token` or `child_job` by its kind |
//! | `attempt` | its step (actions and tasks) | `attempt` (1 for the first, counted across executions) |
//!
//! The names are the ones the runtime's own log events use (`run_id`, `step_key`). No input or
//! output of a step is an attribute. Events inside a span are sent as the span's events; every
//! text a span carries (attributes, events, status) is masked of known secrets before it is
//! sent, as the run's log is, so even a `tracing::info!` that prints a secret's value sends
//! [`REDACTED`](crate::REDACTED) in its place.

use std::borrow::Cow;
use std::time::Duration;

use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanProcessor};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::model::redact;

/// The path OTLP/HTTP takes traces at, under a collector's base address.
const TRACES_PATH: &str = "/v1/traces";

/// The exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot export traces to {endpoint}: {source}; give the collector's OTLP/HTTP address, such as http://127.0.0.1:4318"
)]
pub struct OtelError {
    endpoint: String,
    #[source]
    source: opentelemetry_otlp::ExporterBuildError,
}

/// Keeps the export going; dropping it sends the spans not sent yet and shuts the export down.
///
/// Dropping it blocks until the collector answers (or the export's timeout, 10 s unless
/// `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise, passes): drop it at the end of `main`, or
/// inside `tokio::task::spawn_blocking` where a runtime thread must not block.
#[must_use = "dropping the guard shuts the export down at once"]
#[derive(Debug)]
pub struct OtelGuard {
    provider: SdkTracerProvider,
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "could not send the last spans to the collector");
        }
    }
}

/// A layer exporting spans to the collector at `endpoint`, its OTLP/HTTP base address
/// (`http://127.0.0.1:4318`; traces go to `/v1/traces` under it, as with
/// `OTEL_EXPORTER_OTLP_ENDPOINT`), as the service `service_name`, and the guard that flushes
/// them. Add the layer to a subscriber built on `tracing_subscriber::registry()`; what reaches
/// it is what the subscriber's filter lets through (the engine's spans are at `INFO`).
///
/// Spans are sent in batches, from a thread of the exporter's own, so a slow collector does not
/// hold up a run; the exporter's settings not given here come from the standard
/// `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression).
pub fn layer<S>(endpoint: &str, service_name: &str) -> Result<(impl Layer<S>, OtelGuard), OtelError>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let traces = traces_url(endpoint);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(&traces)
        .build()
        .map_err(|source| OtelError { endpoint: traces, source })?;
    let provider = SdkTracerProvider::builder()
        .with_span_processor(Masking(BatchSpanProcessor::builder(exporter).build()))
        .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
        .build();
    let tracer = provider.tracer(env!("CARGO_PKG_NAME"));
    Ok((tracing_opentelemetry::layer().with_tracer(tracer), OtelGuard { provider }))
}

/// Masks known secrets in every text of a span before the next processor (the batch exporter)
/// gets it: the engine's own attributes hold none, but an event's message or fields may (a
/// library that prints what it was given).
#[derive(Debug)]
struct Masking<P>(P);

impl<P: SpanProcessor> SpanProcessor for Masking<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        mask_values(&mut span.attributes);
        for event in &mut span.events.events {
            if let Cow::Owned(name) = redact(&event.name) {
                event.name = Cow::Owned(name);
            }
            mask_values(&mut event.attributes);
        }
        if let Status::Error { description } = &mut span.status
            && let Cow::Owned(masked) = redact(description)
        {
            *description = Cow::Owned(masked);
        }
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

/// Masks known secrets in the text values of `attributes`.
fn mask_values(attributes: &mut [KeyValue]) {
    for attribute in attributes {
        if let Value::String(text) = &attribute.value
            && let Cow::Owned(masked) = redact(text.as_str())
        {
            attribute.value = Value::String(masked.into());
        }
    }
}

/// The traces URL under a collector's base address.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with(TRACES_PATH) { base.to_owned() } else { format!("{base}{TRACES_PATH}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_their_path_under_the_base_address() {
        assert_eq!(traces_url("http://127.0.0.1:4318"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://127.0.0.1:4318/"), "http://127.0.0.1:4318/v1/traces");
        assert_eq!(traces_url("http://collector/v1/traces"), "http://collector/v1/traces");
    }
}
