//! `GET /events`: server-sent events telling the pages which runs changed, so they refresh
//! their live parts when something happened rather than on a timer.
//!
//! Each event names a run (`event: run`, `data: <id>`); `missed` says announcements were lost
//! (the page refreshes anyway). A stream ends after [`MAX_STREAM`] or when the server shuts
//! down; the browser's `EventSource` reconnects by itself, and the page refreshes on each
//! (re)connection, so nothing that happened in between is missed.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::watch;

use crate::engine::{Engine, RunChange, RunChanges};
use crate::model::RunId;

/// How long one stream lasts before the browser is asked to reconnect: bounds what a forgotten
/// tab holds.
const MAX_STREAM: Duration = Duration::from_secs(300);

/// How long the browser waits before reconnecting.
const RECONNECT: Duration = Duration::from_secs(1);

/// The server's shutdown signal, when the dashboard is served by this crate's server.
#[derive(Clone)]
pub(super) struct Stopping(pub(super) Option<watch::Receiver<bool>>);

#[derive(Deserialize)]
pub(super) struct Filter {
    /// Only this run's changes.
    run: Option<String>,
}

pub(super) async fn stream(
    State(engine): State<Engine>,
    Extension(Stopping(stopping)): Extension<Stopping>,
    Query(filter): Query<Filter>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let state = Watch {
        changes: engine.run_changes(),
        only: filter.run.filter(|run| !run.is_empty()).map(RunId::from),
        stopping,
        until: tokio::time::Instant::now() + MAX_STREAM,
        greeted: false,
    };
    let events = futures::stream::unfold(state, |mut state| async move {
        let event = state.next().await?;
        Some((Ok(event), state))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// One stream's state.
struct Watch {
    changes: RunChanges,
    only: Option<RunId>,
    stopping: Option<watch::Receiver<bool>>,
    until: tokio::time::Instant,
    greeted: bool,
}

impl Watch {
    /// The next event to send; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            // The reconnection delay, and a first event the page can refresh on.
            return Some(Event::default().event("ready").data("ready").retry(RECONNECT));
        }
        loop {
            let change = tokio::select! {
                change = self.changes.next() => change?,
                () = tokio::time::sleep_until(self.until) => return None,
                () = stopped(&mut self.stopping) => return None,
            };
            match change {
                RunChange::Run(id) if self.only.as_ref().is_none_or(|only| *only == id) => {
                    return Some(Event::default().event("run").data(id.as_str()));
                }
                RunChange::Run(_) => continue,
                RunChange::Missed => return Some(Event::default().event("missed").data("missed")),
            }
        }
    }
}

/// Completes when the server starts shutting down (never without a signal).
async fn stopped(stopping: &mut Option<watch::Receiver<bool>>) {
    match stopping {
        Some(stopping) => {
            let _ = stopping.wait_for(|stopping| *stopping).await;
        }
        None => std::future::pending().await,
    }
}
