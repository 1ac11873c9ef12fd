//! [`RunLogLayer`]: `tracing` events an action or a task emits while it runs as a step, kept in
//! the run's log beside the lines of `ctx.logger()` and `io.logger()` (feature `log-layer`).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::logger::{LogLevel, current_run_log};
use super::secret::masked;

/// A `tracing_subscriber` layer that keeps the `tracing` events an action's or a task's own code
/// emits (`tracing::info!("..")` inside an `#[action]` or an `io.run_task` closure) in the log of
/// the run it runs in, with the step, as [`Logger`](super::Logger) lines are: masked of known
/// secrets, cut at [`MAX_LOG_LINE_BYTES`](super::logger::MAX_LOG_LINE_BYTES), counted against
/// [`MAX_LOG_LINES_PER_RUN`](super::MAX_LOG_LINES_PER_RUN), and deleted with the run.
///
/// ```
/// use connector_runtime::RunLogLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(RunLogLayer::new());
/// # drop(subscriber);
/// ```
///
/// The command line (`cli::App`, feature `cli`) adds it to its own subscriber.
///
/// What is kept:
/// - events inside an attempt of a step (an action call or a task), with the step's key: what
///   the step's own code and the libraries it calls emit, and what the subscriber's filter lets
///   through. Events between steps, or in the engine's own work (its store writes among them),
///   are not kept, so a store's debug logging never fills a run's log.
/// - at `ERROR`, `WARN`, `INFO` and `DEBUG`; `TRACE` is left out, as too fine for a log capped
///   per run.
/// - not the runtime's own events (targets under `connector_runtime`): a [`Logger`](super::Logger)
///   keeps its lines itself, and the engine's retries and failures are in the step's record.
///
/// Each line's source is the event's target (the module that emitted it), its message the
/// event's message followed by its other fields as `key=value`.
///
/// The run's log is found through the task executing the run: an event in a task the step
/// spawned itself (`tokio::spawn`) is not kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunLogLayer {
    _private: (),
}

impl RunLogLayer {
    /// The layer, to add to a subscriber built on `tracing_subscriber::registry()`.
    pub fn new() -> Self {
        RunLogLayer::default()
    }
}

/// The key of a `step` span the engine opened, kept in the span for the events inside it.
struct StepKey(String);

/// Marks an `attempt` span the engine opened: the step's own code runs inside it.
struct Attempt;

impl<S> Layer<S> for RunLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if !is_runtime(metadata.target()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        match metadata.name() {
            "step" => {
                let mut key = StepKeyField(None);
                attrs.record(&mut key);
                if let Some(key) = key.0 {
                    span.extensions_mut().insert(StepKey(key));
                }
            }
            "attempt" => span.extensions_mut().insert(Attempt),
            _ => {}
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if is_runtime(metadata.target()) {
            return;
        }
        let Some(level) = level_of(*metadata.level()) else { return };
        let Some(scope) = ctx.event_scope(event) else { return };
        let (mut in_attempt, mut step) = (false, None);
        for span in scope {
            let extensions = span.extensions();
            in_attempt |= extensions.get::<Attempt>().is_some();
            if let Some(StepKey(key)) = extensions.get::<StepKey>() {
                step = Some(key.clone());
                break;
            }
        }
        if !in_attempt {
            return;
        }
        let Some(pending) = current_run_log() else { return };
        let mut message = Message::default();
        event.record(&mut message);
        pending.keep(level, metadata.target(), step.as_deref(), masked(message.0));
    }
}

/// Whether `target` is this crate's own (its modules' events and spans).
fn is_runtime(target: &str) -> bool {
    target.strip_prefix("connector_runtime").is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// The [`LogLevel`] of a `tracing` level; `TRACE` has none.
fn level_of(level: Level) -> Option<LogLevel> {
    match level {
        Level::ERROR => Some(LogLevel::Error),
        Level::WARN => Some(LogLevel::Warn),
        Level::INFO => Some(LogLevel::Info),
        Level::DEBUG => Some(LogLevel::Debug),
        Level::TRACE => None,
    }
}

/// Reads the `step_key` field of a `step` span.
struct StepKeyField(Option<String>);

impl Visit for StepKeyField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "step_key" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "step_key" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// An event as one line: its message, then its other fields as `key=value`.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let separator = if self.0.is_empty() { "" } else { " " };
        if field.name() == "message" {
            // The message leads, whichever order the fields come in.
            self.0.insert_str(0, &format!("{value:?}{separator}"));
        } else {
            let _ = write!(self.0, "{separator}{}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtimes_own_targets_are_told_apart_from_look_alikes() {
        assert!(is_runtime("connector_runtime"));
        assert!(is_runtime("connector_runtime::engine::io"));
        assert!(!is_runtime("connector_runtime_extras"));
        assert!(!is_runtime("my_connector"));
    }
}
