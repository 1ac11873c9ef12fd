//! The background tasks that start runs on their own: one per scheduled job, one per polling
//! trigger that a registered job listens to.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::Engine;

/// The running schedule and poll tasks of an engine, from [`Engine::start_triggers`].
///
/// [`TriggerTasks::stop`] stops them and waits for a tick or poll in progress to finish;
/// dropping the value tells them to stop at their next wait without waiting.
#[must_use = "dropping `TriggerTasks` stops the schedules and polls"]
#[derive(Debug)]
pub struct TriggerTasks {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl TriggerTasks {
    /// How many tasks run (scheduled jobs plus polling triggers).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none does (no scheduled job, no polling trigger with a job).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every task, waiting for a tick or poll in progress to be recorded.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await
                && error.is_panic()
            {
                tracing::error!(%error, "a schedule or poll task panicked");
            }
        }
    }
}

impl Drop for TriggerTasks {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Engine {
    /// Starts the background tasks that start runs on their own: a schedule per scheduled job
    /// (`#[job(cron = ..)]`, `#[job(every = ..)]`) and a poll loop per polling trigger
    /// (`#[trigger(poll(every = ..))]`) that some registered job is started by. Runs until
    /// [`TriggerTasks::stop`] (or until the returned value is dropped).
    ///
    /// Ticks and polled items are deduplicated in the store, so several engines (or processes)
    /// on one store may all run them: each tick and each item starts its jobs once. Ticks due
    /// while no engine runs are not caught up.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start_triggers(&self) -> TriggerTasks {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let registry = self.registry();
        for job in &registry.jobs {
            if let Some(schedule) = job.schedule {
                let task = crate::schedule::run_schedule(self.clone(), job.id, schedule, stopped.clone());
                tasks.push(tokio::spawn(task));
            }
        }
        for (index, poll) in registry.polls.iter().enumerate() {
            let trigger = poll.trigger_ref();
            if registry.jobs_for(&trigger).next().is_none() {
                tracing::debug!(%trigger, "no job is started by this polling trigger; not polling it");
                continue;
            }
            tasks.push(tokio::spawn(crate::poll::run_poll(self.clone(), index, stopped.clone())));
        }
        TriggerTasks { stop, tasks }
    }
}
