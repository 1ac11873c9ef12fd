//! Limits on a request body, on every route: a body declared (`Content-Length`) over the size
//! limit is refused before any of it is read, and a body must arrive whole within the body
//! timeout.
//!
//! These live in the router, not the listener, so a router embedded in another application
//! keeps them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::ApiError;

/// The size limit and the time a body gets to arrive.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    pub(super) max: usize,
    pub(super) timeout: Duration,
}

/// The middleware: 413 at once for a declared length over the limit; 408 (and the connection
/// closed) for a body that has not arrived whole when its time is up.
pub(super) async fn enforce(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    // Waiting for such a body only to count past the limit would hold the connection for as
    // long as the client likes to send (or not send) it; its length already says the answer.
    if declared_length(request.headers()).is_some_and(|length| length > limits.max as u64) {
        return closing(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "the body is over the size limit"));
    }
    let late = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + limits.timeout;
    let flag = Arc::clone(&late);
    let request = request.map(move |body| Body::new(DeadlineBody { body, deadline, sleep: None, late: flag }));
    let response = next.run(request).await;
    // The handler saw the body fail to read and answered as it does for any unreadable body;
    // the client is told what actually happened.
    if late.load(Ordering::Acquire) {
        return closing(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {:?}", limits.timeout),
        ));
    }
    response
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// `error` with `Connection: close`: what is left of the body is never read, so the connection
/// cannot carry another request.
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A body that fails once its deadline passes with part of it still to come. One deadline for
/// the whole body, not one per chunk: a client trickling a byte at a time must not hold the
/// request open for as long as it likes.
struct DeadlineBody {
    body: Body,
    deadline: Instant,
    /// Made on the first wait, so a body that is all there (or empty) costs no timer.
    sleep: Option<Pin<Box<Sleep>>>,
    late: Arc<AtomicBool>,
}

/// The error a late body reads as.
#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        // Data that is there is taken even at the deadline.
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.late.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
