//! Starting an engine's background work, what every transport (a server, a worker, a CLI)
//! needs: [`Engine::start`] recovers unfinished runs, registers webhooks, and starts the tasks
//! that start runs on their own (one per scheduled job, one per polling trigger a registered job
//! listens to); [`Running::stop`] undoes it.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Engine, EngineError, Subscriptions};
use crate::model::RunId;

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
                let task = super::schedule::run_schedule(self.clone(), job.id, schedule, stopped.clone());
                tasks.push(tokio::spawn(task));
            }
        }
        for (index, poll) in registry.polls.iter().enumerate() {
            let trigger = poll.trigger_ref();
            if registry.jobs_for(&trigger).next().is_none() {
                tracing::debug!(%trigger, "no job is started by this polling trigger; not polling it");
                continue;
            }
            tasks.push(tokio::spawn(super::poll::run_poll(self.clone(), index, stopped.clone())));
        }
        TriggerTasks { stop, tasks }
    }
}

/// How [`Engine::start`] starts the engine's background work.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StartOptions {
    /// The URL services reach this process's webhooks at (`{url}/webhooks/{connector}/{trigger}`):
    /// triggers that subscribe themselves are registered there. `None` registers nothing.
    pub webhook_url: Option<String>,
    /// Resume the runs an earlier process left unfinished (default: yes).
    pub skip_recovery: bool,
    /// Start no schedules and polls, and register no webhooks (default: start them): for a
    /// process that only executes runs from a shared store's queue, leaving triggers to the
    /// processes that serve.
    pub skip_triggers: bool,
}

impl StartOptions {
    /// Registers webhooks at `url`.
    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// Starts no schedules, polls or webhooks: see [`StartOptions::skip_triggers`].
    pub fn without_triggers(mut self) -> Self {
        self.skip_triggers = true;
        self
    }
}

/// An engine's background work, from [`Engine::start`]: the runs it resumed, the webhooks it
/// registered, its schedule and poll tasks. [`Running::stop`] stops the tasks and removes the
/// webhooks.
#[derive(Debug)]
#[must_use = "dropping `Running` stops the schedules and polls without removing webhooks; call `.stop()`"]
pub struct Running {
    engine: Engine,
    recovered: Vec<RunId>,
    subscriptions: Subscriptions,
    triggers: TriggerTasks,
    worker: Option<super::Worker>,
}

impl Running {
    /// The runs resumed at start.
    pub fn recovered(&self) -> &[RunId] {
        &self.recovered
    }

    /// The webhooks registered with their services.
    pub fn subscriptions(&self) -> &Subscriptions {
        &self.subscriptions
    }

    /// The schedule and poll tasks.
    pub fn triggers(&self) -> &TriggerTasks {
        &self.triggers
    }

    /// Whether this process claims runs from a shared store's queue.
    pub fn is_worker(&self) -> bool {
        self.worker.is_some()
    }

    /// Stops claiming runs from a shared store's queue and the schedule and poll tasks (waiting
    /// for a tick or poll in progress), and removes the webhooks that were registered.
    pub async fn stop(self) {
        if let Some(worker) = self.worker {
            worker.stop().await;
        }
        self.triggers.stop().await;
        self.engine.unsubscribe_webhooks(self.subscriptions).await;
    }
}

impl Engine {
    /// Starts what every transport needs before it serves: resumes the runs an earlier process
    /// left unfinished, registers the webhooks of triggers that subscribe themselves (at
    /// `options.webhook_url`), and starts the schedule and poll tasks. On a store several
    /// processes share, an engine that executes runs also starts claiming them from the queue
    /// ([`Engine::start_worker`]), which is how it resumes what a dead process left.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(&self, options: StartOptions) -> Result<Running, EngineError> {
        let recovered = if options.skip_recovery { Vec::new() } else { self.recover().await? };
        let subscriptions = match &options.webhook_url {
            Some(url) if !options.skip_triggers => self.subscribe_webhooks(url).await,
            _ => Subscriptions::default(),
        };
        let triggers = if options.skip_triggers {
            let (stop, _) = watch::channel(true);
            TriggerTasks { stop, tasks: Vec::new() }
        } else {
            self.start_triggers()
        };
        let worker = self.start_worker();
        Ok(Running { engine: self.clone(), recovered, subscriptions, triggers, worker })
    }
}
