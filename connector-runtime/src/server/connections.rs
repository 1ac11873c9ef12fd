//! The accept loop and the HTTP/1 connections it serves, with the limits that keep slow, idle
//! or too many clients from holding the server: a header timeout, an idle timeout, and a cap on
//! connections.
//!
//! Each connection is in one phase at a time, and its own task closes it when the phase's time
//! is up:
//!
//! | phase | ends when | if it lasts too long |
//! | --- | --- | --- |
//! | waiting for a request (nothing of it received) | its first byte arrives | closed: after the header timeout for a new connection, the idle timeout between requests |
//! | receiving a request's head | the head is complete | dropped after the header timeout (for a new connection, counted from the accept) |
//! | answering (the body, the handler, the answer) | the answer has been handed to the socket | never cut here: the body's own deadline is the router's ([`body_limits`](super::body_limits)) |
//!
//! hyper's own `header_read_timeout` is not used: its clock starts as soon as a connection waits
//! for a request, so it also ends idle keep-alive connections at the header timeout, and the two
//! limits could not differ.
//!
//! # The cap, and idle connections
//!
//! Every connection holds a slot (a semaphore permit) until it ends. The loop takes a slot
//! *before* it accepts, so past the cap connections wait in the listen backlog, unaccepted and
//! costing no file descriptor, instead of being accepted and then dropped; once accepted a
//! connection is served to its end.
//!
//! A cap alone lets idle keep-alive connections (or ones that never send anything) hold every
//! slot until their timeout, while deliveries queue behind them. So when the loop finds no free
//! slot, it closes the connection that has waited longest for a request, once that one has waited
//! at least a second ([`EVICT_AFTER`]), and takes its slot for the next connection. It does so
//! as soon as it is at the cap, before the next connection arrives: the backlog cannot be looked
//! into without accepting from it, and one idle connection less costs little. Only a
//! connection with nothing of a request received is closed this way, and gracefully: no request
//! in flight is cut. A client holding every slot with idle connections therefore gives one up
//! for each new connection, and a delivery waiting in the backlog is accepted as soon as its turn
//! comes. Connections that are busy (or receiving a head) are not taken: the header and body
//! timeouts bound how long they keep their slots.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, sleep, sleep_until};

/// How long a connection must have waited for a request before it may be closed to make room
/// for a new one. Longest-waiting first, and never one that has only just finished an answer:
/// its client may be sending the next request right now.
pub(super) const EVICT_AFTER: Duration = Duration::from_secs(1);

/// How often the loop looks again for a connection to close while at the cap with none to
/// close (they are all busy): a busy connection that turns idle says nothing to the loop.
const RECHECK_AT_CAP: Duration = Duration::from_millis(100);

/// How long the loop waits for a closed connection's slot before it looks for another one to
/// close (the one it chose may have received a request meanwhile, and finishes it first).
const RECHECK_AFTER_EVICTION: Duration = Duration::from_secs(1);

/// The first pause after an accept error (say, out of file descriptors); it doubles up to
/// [`MAX_ACCEPT_BACKOFF`] while accepting keeps failing.
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// The limits the listener enforces (the body's are the router's).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub(super) header_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) max_connections: usize,
}

impl Limits {
    /// The most slots a semaphore (and `acquire_many`, at shutdown) can count.
    fn slots(&self) -> u32 {
        self.max_connections.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32
    }
}

/// Accepts on `listener` and serves `app` until `shutdown` completes; then stops accepting
/// (the listener is closed), sets `stopping` (so long answers, such as event streams, end),
/// lets every connection finish the request it is answering, and returns once all have ended.
pub(super) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stopping: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = Arc::new(Connections::new(limits));
    let stop = stopping.subscribe();
    let mut shutdown = pin!(shutdown);
    // A slot kept across a failed accept, so the next try does not take a second one.
    let mut spare: Option<OwnedSemaphorePermit> = None;
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let slot = match spare.take() {
            Some(slot) => slot,
            None => tokio::select! {
                () = &mut shutdown => break,
                slot = connections.free_slot() => slot,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    spare = Some(slot);
                    // The client gave up between connecting and the accept: nothing to wait for.
                    if is_connection_error(&error) {
                        continue;
                    }
                    // Out of file descriptors (or memory): the connection stays in the backlog;
                    // a pause lets other connections end and free some, and the loop lives on.
                    tracing::warn!(%error, retry_in = ?backoff, "cannot accept a connection");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
        };
        backoff = MIN_ACCEPT_BACKOFF;
        // Small answers on keep-alive connections: without TCP_NODELAY each waits on a delayed
        // ACK.
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(Arc::clone(&connections), stream, slot, app.clone(), stop.clone()));
    }
    drop(spare);
    // Refuse new connections from now on; those in the backlog are reset.
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds its slot until it ends: all slots back means all have ended.
    let _all = connections.slots.acquire_many(limits.slots()).await;
}

/// Errors that concern one connection, not the listener: the next accept may succeed at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The connections being served: their slots, and each one's phase.
struct Connections {
    limits: Limits,
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<u64, Arc<Tracker>>>,
    next_id: AtomicU64,
}

/// What looking for a connection to close found.
enum Eviction {
    /// One was told to close.
    Closing,
    /// The longest-waiting one may be closed at this time.
    NotBefore(Instant),
    /// None is waiting for a request.
    Nothing,
}

impl Connections {
    fn new(limits: Limits) -> Self {
        Connections {
            limits,
            slots: Arc::new(Semaphore::new(limits.slots() as usize)),
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// A slot for the next connection: a free one, or, at the cap, the slot of the connection
    /// that has waited longest for a request (see the module docs for why).
    async fn free_slot(&self) -> OwnedSemaphorePermit {
        loop {
            if let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() {
                return slot;
            }
            let now = Instant::now();
            let look_again = match self.evict_longest_waiting(now) {
                Eviction::Closing => now + RECHECK_AFTER_EVICTION,
                Eviction::NotBefore(at) => at,
                Eviction::Nothing => now + RECHECK_AT_CAP,
            };
            tokio::select! {
                slot = Arc::clone(&self.slots).acquire_owned() => match slot {
                    Ok(slot) => return slot,
                    // Never closed; if it were, there would be nothing to serve with.
                    Err(_) => std::future::pending::<()>().await,
                },
                () = sleep_until(look_again) => {}
            }
        }
    }

    fn evict_longest_waiting(&self, now: Instant) -> Eviction {
        let evict_after = EVICT_AFTER.min(self.limits.idle_timeout);
        let live = lock(&self.live);
        let mut longest: Option<(Instant, &Arc<Tracker>)> = None;
        for tracker in live.values() {
            let state = lock(&tracker.state);
            if state.evicted || state.closing {
                continue;
            }
            if let Phase::Waiting { since, .. } = state.phase
                && longest.is_none_or(|(oldest, _)| since < oldest)
            {
                longest = Some((since, tracker));
            }
        }
        match longest {
            None => Eviction::Nothing,
            Some((since, _)) if now < since + evict_after => Eviction::NotBefore(since + evict_after),
            Some((_, tracker)) => {
                lock(&tracker.state).evicted = true;
                tracker.changed.notify_one();
                Eviction::Closing
            }
        }
    }

    fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker::new(Instant::now()));
        lock(&self.live).insert(id, Arc::clone(&tracker));
        Registered { connections: Arc::clone(self), id, tracker }
    }
}

/// A connection's entry in [`Connections`], removed when the connection ends.
struct Registered {
    connections: Arc<Connections>,
    id: u64,
    tracker: Arc<Tracker>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.connections.live).remove(&self.id);
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; the phase in it is still
/// the best there is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where a connection is in its life; see the table in the module docs.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Nothing of a request received, since `since` (the accept for the first request, else
    /// the last answer).
    Waiting { since: Instant, first: bool },
    /// A request's head is arriving; the header timeout counts from `since`.
    Head { since: Instant },
    /// Requests being answered. HTTP/1 answers one at a time, but an answer's guard may end
    /// just after the next request has begun, so this is a count.
    Busy(usize),
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// The accept loop wants its slot.
    evicted: bool,
    /// Told to close after its current request (shutdown, timeout or eviction).
    closing: bool,
}

/// One connection's phase, shared by its socket (bytes arriving), its service (requests and
/// answers) and its task (the clock).
#[derive(Debug)]
struct Tracker {
    state: Mutex<State>,
    /// Wakes the connection's task to look at its phase again.
    changed: Notify,
}

/// What a connection's task does next.
enum Next {
    /// Close once the current request (if any) is answered.
    Close,
    /// Drop the connection now: a head that did not arrive in time.
    Abort,
    /// Nothing until this time.
    At(Instant),
    /// Nothing until the phase changes.
    Never,
}

impl Tracker {
    fn new(accepted: Instant) -> Self {
        Tracker {
            state: Mutex::new(State {
                phase: Phase::Waiting { since: accepted, first: true },
                evicted: false,
                closing: false,
            }),
            changed: Notify::new(),
        }
    }

    fn set(&self, phase: impl FnOnce(Phase) -> Phase) {
        let mut state = lock(&self.state);
        state.phase = phase(state.phase);
        drop(state);
        self.changed.notify_one();
    }

    /// Bytes arrived: a request has begun, unless one is being answered.
    fn received(&self) {
        let mut state = lock(&self.state);
        if let Phase::Waiting { since, first } = state.phase {
            // A new connection's head counts from the accept: the client has had that long.
            state.phase = Phase::Head { since: if first { since } else { Instant::now() } };
            drop(state);
            self.changed.notify_one();
        }
    }

    fn next(&self, now: Instant, limits: &Limits) -> Next {
        let mut state = lock(&self.state);
        let evicted = std::mem::take(&mut state.evicted);
        let (deadline, expired) = match state.phase {
            // Closing already: hyper ends the connection as soon as nothing is in flight.
            Phase::Waiting { .. } if state.closing => return Next::Never,
            Phase::Waiting { .. } if evicted => return Next::Close,
            Phase::Waiting { since, first: true } => (since + limits.header_timeout, Next::Close),
            Phase::Waiting { since, first: false } => (since + limits.idle_timeout, Next::Close),
            Phase::Head { since } => (since + limits.header_timeout, Next::Abort),
            // An eviction that found it busy is forgotten: it is a candidate again once idle.
            Phase::Busy(_) => return Next::Never,
        };
        if now >= deadline { expired } else { Next::At(deadline) }
    }

    fn close(&self) {
        lock(&self.state).closing = true;
    }
}

/// Serves one connection until it ends, holding `slot` all the while.
async fn serve_connection(
    connections: Arc<Connections>,
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    // Locals drop in reverse: the socket closes, the connection leaves the registry, and only
    // then is its slot free, so the open sockets never outnumber the slots.
    let _slot = slot;
    let registered = connections.register();
    let limits = connections.limits;
    let tracker = Arc::clone(&registered.tracker);
    let io = TokioIo::new(Watched { stream, tracker: Arc::clone(&tracker) });
    let service = Counted { app: TowerToHyperService::new(app), tracker: Arc::clone(&tracker) };
    let mut builder = http1::Builder::new();
    // See the module docs: this module keeps the header and idle clocks.
    builder.keep_alive(true).header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    let mut connection = pin!(connection);
    let mut closing = false;
    loop {
        if !closing && *stop.borrow_and_update() {
            closing = true;
            tracker.close();
            connection.as_mut().graceful_shutdown();
        }
        let deadline = match tracker.next(Instant::now(), &limits) {
            Next::Close => {
                closing = true;
                tracker.close();
                // Idle: closed at once. If a request slipped in meanwhile, it is answered first.
                connection.as_mut().graceful_shutdown();
                continue;
            }
            Next::Abort => {
                tracing::debug!("closing a connection whose request head did not arrive in time");
                return;
            }
            Next::At(deadline) => Some(deadline),
            Next::Never => None,
        };
        tokio::select! {
            // The connection's own progress before any clock.
            biased;
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "a connection ended with an error");
                }
                return;
            }
            () = tracker.changed.notified() => {}
            () = sleep_until_some(deadline) => {}
            changed = stop.changed(), if !closing => {
                // The sender gone means the loop is gone: stop as at shutdown.
                if changed.is_err() {
                    closing = true;
                    tracker.close();
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The socket, telling its tracker when bytes arrive.
struct Watched {
    stream: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.tracker.received();
        }
        read
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The router, marking the connection busy from a request's head until its answer is written.
struct Counted {
    app: TowerToHyperService<Router>,
    tracker: Arc<Tracker>,
}

impl Service<Request<Incoming>> for Counted {
    type Response = Response<CountedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<CountedBody>, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let busy = Busy::new(Arc::clone(&self.tracker));
        let answer = self.app.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| CountedBody { body, _busy: busy }))
        })
    }
}

/// One request being answered; dropped with its answer's body (hyper drops it once written,
/// or with the connection).
struct Busy(Arc<Tracker>);

impl Busy {
    fn new(tracker: Arc<Tracker>) -> Self {
        tracker.set(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Waiting { .. } | Phase::Head { .. } => Phase::Busy(1),
        });
        Busy(tracker)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Waiting { since: Instant::now(), first: false },
        });
    }
}

/// An answer's body, holding its request's [`Busy`].
struct CountedBody {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
