//! Scheduled jobs: `#[job(.., cron = "*/5 * * * *")]` and `#[job(.., every = "30s")]`.
//!
//! A scheduled job receives a [`Tick`]. Each tick is accepted like a delivery, with the source
//! `schedule:{job}` and the tick's due time as its id, so a restarted engine, or a second engine
//! on the same store, never starts the same tick twice. Ticks due while no engine was running
//! are not caught up: after a restart the next tick is the next one due.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::Engine;
use super::job::{Job, JobTrigger};
use crate::model::run::TriggerRef;
use crate::model::schedule::{Schedule, Tick, Timer, tick_id};
use crate::store::Delivery;

/// A job started on a schedule: `#[job(cron = ..)]` and `#[job(every = ..)]` implement it on the
/// job's marker type, whose trigger is then [`OnSchedule`].
pub trait ScheduledJob: Job {
    /// When the job runs.
    const SCHEDULE: Schedule;
}

/// What starts a scheduled job `J`: its ticks. The job receives a [`Tick`].
pub struct OnSchedule<J>(PhantomData<fn() -> J>);

impl<J: ScheduledJob> JobTrigger for OnSchedule<J> {
    type Payload = Tick;

    fn trigger_ref() -> TriggerRef {
        TriggerRef::Schedule { job: J::ID.to_owned(), schedule: J::SCHEDULE.to_ref() }
    }

    fn schedule() -> Option<Schedule> {
        Some(J::SCHEDULE)
    }
}

/// Sleeps until `due` (wall clock); `false` if told to stop first.
pub(crate) async fn sleep_until(due: DateTime<Utc>, stop: &mut watch::Receiver<bool>) -> bool {
    loop {
        let now = Utc::now();
        if now >= due {
            return true;
        }
        let wait = (due - now).to_std().unwrap_or_default();
        if !sleep_for(wait, stop).await {
            return false;
        }
    }
}

/// Sleeps for `wait`; `false` if told to stop first.
pub(crate) async fn sleep_for(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        _ = stop.wait_for(|stopped| *stopped) => false,
    }
}

/// The task of one scheduled job: sleeps until each tick is due and starts a run for it.
pub(crate) async fn run_schedule(
    engine: Engine,
    job: &'static str,
    schedule: Schedule,
    mut stop: watch::Receiver<bool>,
) {
    let timer = match Timer::new(&schedule) {
        Ok(timer) => timer,
        Err(error) => {
            return tracing::error!(job, %schedule, %error, "the job's schedule does not parse; it never runs");
        }
    };
    let trigger = TriggerRef::Schedule { job: job.to_owned(), schedule: schedule.to_ref() };
    let source = format!("schedule:{job}");
    let mut last: Option<DateTime<Utc>> = None;
    tracing::info!(job, %schedule, "schedule started");
    loop {
        let now = Utc::now();
        let after = last.map_or(now, |last| last.max(now));
        let Some(due) = timer.next_after(after) else {
            return tracing::warn!(job, %schedule, "the schedule has no further ticks");
        };
        if !sleep_until(due, &mut stop).await {
            return;
        }
        last = Some(due);
        fire(&engine, &trigger, &source, due).await;
    }
}

/// Starts the run of the tick due at `due`, unless any engine on this store started it already.
async fn fire(engine: &Engine, trigger: &TriggerRef, source: &str, due: DateTime<Utc>) {
    let payload = match serde_json::to_value(Tick { scheduled_at: due }) {
        Ok(payload) => payload,
        Err(error) => return tracing::error!(%trigger, %error, "could not serialize the tick"),
    };
    let delivery = Delivery { source: source.to_owned(), id: tick_id(due), received_at: Utc::now() };
    match engine.start_runs(trigger.clone(), payload, Some(delivery)).await {
        Ok(started) if started.duplicate => tracing::debug!(%trigger, %due, "tick started already elsewhere"),
        Ok(started) => tracing::info!(%trigger, %due, runs = started.runs.len(), "tick"),
        Err(error) => tracing::error!(%trigger, %due, %error, "could not record the tick; it is skipped"),
    }
}
