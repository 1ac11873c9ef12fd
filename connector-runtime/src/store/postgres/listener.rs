//! One connection of its own per store that `LISTEN`s for the work queue's notifications (see
//! migration 2) and turns them into what a caller can wait on: a counter that changes when work
//! may be claimable, and the ids of runs that finished or parked. Reconnects when the connection
//! drops; every (re)connect bumps the counter and announces "anything may have changed", since
//! what was sent meanwhile is lost. Waiters also time out, so polling remains the fallback while
//! the connection is down.

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
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    /// Starts listening on a connection of its own to `config`, for the tables in `schema`.
    pub(super) fn start(config: tokio_postgres::Config, shown: String, schema: String) -> Self {
        let (work, _) = watch::channel(0);
        let (changes, _) = broadcast::channel(CHANGES_BUFFER);
        let task = tokio::spawn(listen(config, shown, schema, work.clone(), changes.clone()));
        Listener { work, changes, task }
    }

    /// Changes when a run may have become claimable.
    pub(super) fn work(&self) -> watch::Receiver<u64> {
        self.work.subscribe()
    }

    /// The runs that finished or parked, from now on.
    pub(super) fn changes(&self) -> broadcast::Receiver<Option<RunId>> {
        self.changes.subscribe()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bump(counter: &watch::Sender<u64>) {
    counter.send_modify(|n| *n = n.wrapping_add(1));
}

async fn listen(
    config: tokio_postgres::Config,
    shown: String,
    schema: String,
    work: watch::Sender<u64>,
    changes: broadcast::Sender<Option<RunId>>,
) {
    // A send fails only when nobody listens, which is fine.
    let anything = || {
        let _ = changes.send(None);
    };
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                // The connection's messages (notifications among them) arrive only while it is
                // polled, and the `LISTEN` below completes only then too.
                let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                let statements = format!("LISTEN {WORK_CHANNEL}; LISTEN {CHANGE_CHANNEL}");
                let listened = client.batch_execute(&statements);
                tokio::pin!(listened);
                let mut ready = false;
                loop {
                    tokio::select! {
                        done = &mut listened, if !ready => match done {
                            Ok(()) => {
                                ready = true;
                                bump(&work);
                                anything();
                            }
                            Err(error) => {
                                tracing::warn!(database = %shown, %error, "cannot listen for queued runs; polling");
                                break;
                            }
                        },
                        message = messages.next() => match message {
                            Some(Ok(AsyncMessage::Notification(note))) => {
                                if note.channel() == WORK_CHANNEL {
                                    if note.payload() == schema {
                                        bump(&work);
                                    }
                                } else if let Some((from, run)) = note.payload().split_once(' ')
                                    && from == schema
                                {
                                    let _ = changes.send(Some(RunId::from(run)));
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(error)) => {
                                tracing::warn!(database = %shown, %error, "the listening connection failed; reconnecting");
                                break;
                            }
                            None => break,
                        },
                    }
                }
            }
            Err(error) => {
                tracing::warn!(database = %shown, %error, "cannot connect to listen for queued runs; polling");
            }
        }
        bump(&work);
        anything();
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
