//! One connection of its own per store that `LISTEN`s for the work queue's notifications (see
//! migration 2) and turns them into what a caller can wait on: a counter that changes when work
//! may be claimable, and the ids of runs that finished or parked. Each channel is listened to
//! from its first subscriber on. Reconnects when the connection drops; every (re)connect bumps
//! the counter and announces "anything may have changed", since what was sent meanwhile is lost.
//! Waiters also time out, so polling remains the fallback while the connection is down.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::model::RunId;

/// The channels migration 2's trigger notifies.
const WORK_CHANNEL: &str = "connector_runtime_work";
const CHANGE_CHANNEL: &str = "connector_runtime_change";

/// How many run changes a slow receiver may fall behind before it is told to look again.
const CHANGES_BUFFER: usize = 1024;

/// How long to wait before connecting again after the listening connection failed.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// What was heard; the listening task ends when the store (holding this) is dropped.
pub(super) struct Listener {
    work: watch::Sender<u64>,
    changes: broadcast::Sender<Option<RunId>>,
    /// The channels somebody asked for: each is listened to from its first subscriber on, so
    /// a process that executes no runs is not woken for every queued one, nor a worker that
    /// nobody waits on for every finished one.
    wanted: watch::Sender<Channels>,
    task: tokio::task::JoinHandle<()>,
}

/// Which of the two channels to listen to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Channels {
    work: bool,
    changes: bool,
}

impl Channels {
    /// The `LISTEN` statements for what `self` wants and `listening` lacks, if any.
    fn missing_from(self, listening: Channels) -> Option<String> {
        let mut statements = Vec::new();
        if self.work && !listening.work {
            statements.push(format!("LISTEN {WORK_CHANNEL}"));
        }
        if self.changes && !listening.changes {
            statements.push(format!("LISTEN {CHANGE_CHANNEL}"));
        }
        (!statements.is_empty()).then(|| statements.join("; "))
    }
}

impl Listener {
    /// Starts listening on a connection of its own to `config`, for the tables in `schema`.
    pub(super) fn start(config: tokio_postgres::Config, shown: String, schema: String) -> Self {
        let (work, _) = watch::channel(0);
        let (changes, _) = broadcast::channel(CHANGES_BUFFER);
        let (wanted, _) = watch::channel(Channels::default());
        let heard = Heard { schema, work: work.clone(), changes: changes.clone() };
        let task = tokio::spawn(listen(config, shown, heard, wanted.subscribe()));
        Listener { work, changes, wanted, task }
    }

    /// Changes when a run may have become claimable.
    pub(super) fn work(&self) -> watch::Receiver<u64> {
        let receiver = self.work.subscribe();
        self.wanted.send_if_modified(|wanted| !std::mem::replace(&mut wanted.work, true));
        receiver
    }

    /// The runs that finished or parked, from now on.
    pub(super) fn changes(&self) -> broadcast::Receiver<Option<RunId>> {
        let receiver = self.changes.subscribe();
        self.wanted.send_if_modified(|wanted| !std::mem::replace(&mut wanted.changes, true));
        receiver
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Where what is heard goes.
struct Heard {
    /// The schema the store's tables are in: notifications from other schemas are not ours.
    schema: String,
    work: watch::Sender<u64>,
    changes: broadcast::Sender<Option<RunId>>,
}

impl Heard {
    /// Work may be claimable.
    fn work(&self) {
        self.work.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Anything may have changed unseen. (A send fails only when nobody listens, which is fine.)
    fn anything(&self) {
        let _ = self.changes.send(None);
    }

    /// One message of the connection; `false` when the connection is gone.
    fn message(&self, message: Option<Result<AsyncMessage, tokio_postgres::Error>>, shown: &str) -> bool {
        match message {
            Some(Ok(AsyncMessage::Notification(note))) => {
                if note.channel() == WORK_CHANNEL {
                    if note.payload() == self.schema {
                        self.work();
                    }
                } else if let Some((from, run)) = note.payload().split_once(' ')
                    && from == self.schema
                {
                    let _ = self.changes.send(Some(RunId::from(run)));
                }
                true
            }
            Some(Ok(_)) => true,
            Some(Err(error)) => {
                tracing::warn!(database = %shown, %error, "the listening connection failed; reconnecting");
                false
            }
            None => false,
        }
    }
}

async fn listen(config: tokio_postgres::Config, shown: String, heard: Heard, mut wanted: watch::Receiver<Channels>) {
    loop {
        // Nobody asked for anything yet: no connection either.
        if wanted.wait_for(|wanted| *wanted != Channels::default()).await.is_err() {
            return;
        }
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The connection's messages (notifications among them) arrive only while it is
                // polled, and a `LISTEN` completes only then too.
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                let mut listening = Channels::default();
                'connected: loop {
                    let now_wanted = *wanted.borrow_and_update();
                    if let Some(statements) = now_wanted.missing_from(listening) {
                        let listened = client.batch_execute(&statements);
                        tokio::pin!(listened);
                        let done = loop {
                            tokio::select! {
                                done = &mut listened => break done,
                                message = messages.next() => if !heard.message(message, &shown) { break 'connected },
                            }
                        };
                        if let Err(error) = done {
                            tracing::warn!(database = %shown, %error, "cannot listen for queued runs; polling");
                            break;
                        }
                        // Listening from now on: what happened before is looked at again.
                        if now_wanted.work && !listening.work {
                            heard.work();
                        }
                        if now_wanted.changes && !listening.changes {
                            heard.anything();
                        }
                        listening = now_wanted;
                    }
                    tokio::select! {
                        changed = wanted.changed() => if changed.is_err() { return },
                        message = messages.next() => if !heard.message(message, &shown) { break },
                    }
                }
            }
            Err(error) => {
                tracing::warn!(database = %shown, %error, "cannot connect to listen for queued runs; polling");
            }
        }
        // What was sent while not listening is lost.
        heard.work();
        heard.anything();
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
