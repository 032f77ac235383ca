//! Guards on request bodies that the handlers never see.
//!
//! - [`refuse_declared_oversize`]: a body whose `Content-Length` is over the
//!   route's limit gets `413 body_too_large` without reaching the handler or
//!   taking a write slot. When the excess is at most [`DRAIN_MAX`] the body
//!   is read and thrown away first, so that a client that sends its whole
//!   body before it reads gets the `413` (and keeps its connection) instead
//!   of a broken pipe; a larger one is refused at once and the connection
//!   closed.
//! - [`read_body_first`]: the body is read whole (within the route's limit
//!   and the request deadline) before anything behind it runs, so that a
//!   scarce slot (the write admission semaphores) is taken only by a
//!   request whose body is in: clients that trickle their bodies hold a
//!   connection, not a slot.
//! - [`deadline`]: `408 request_timeout` for a request (its body included)
//!   that takes longer than the server's request timeout.
//! - [`close_if_body_unread`]: an answer given before the body was read to
//!   its end (`413`, `408` for a trickled body, a shed `503`) says
//!   `Connection: close`. hyper closes such a connection after the response,
//!   because the unread rest of the body sits in front of the next request.
//!   Without the header a client that has already sent its whole body sees a
//!   normal keep-alive response, pools the connection, and loses its next
//!   request to the close (`IncompleteMessage` in hyper clients).

use super::error::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// The most bytes over a route's limit that [`refuse_declared_oversize`]
/// reads and throws away before it answers.
pub(crate) const DRAIN_MAX: u64 = 16 << 20;

/// Route middleware: reads the whole body (at most `limit` bytes) before
/// calling what is behind it. Over the limit: `413 body_too_large`; a body
/// that breaks off: `400 unreadable_body`.
pub(crate) async fn read_body_first(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.downcast_ref::<http_body_util::LengthLimitError>().is_some());
            if over {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body exceeds the limit of {limit} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("reading the body: {}", crate::util::error_chain(&e)),
                )
            }
            .into_response()
        }
    }
}

/// Answers 408 when a request (reading its body included) takes longer than
/// `limit`; dropping the request's future cancels its work.
pub async fn deadline(State(limit): State<std::time::Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {limit:?}"),
        )
        .into_response(),
    }
}

/// Route middleware: `413 body_too_large` when the declared body length is
/// over `limit` bytes (read and discarded first when the excess is at most
/// [`DRAIN_MAX`]; the request deadline bounds how long that may take).
/// Bodies without a length, or with one under the limit, go on; the
/// `DefaultBodyLimit` on the route still counts what they actually send.
pub(crate) async fn refuse_declared_oversize(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req.body().size_hint().exact();
    let Some(n) = declared.filter(|n| *n > limit as u64) else {
        return next.run(req).await;
    };
    if n - limit as u64 <= DRAIN_MAX {
        let mut rest = req.into_body().into_data_stream();
        while let Some(Ok(_)) = rest.next().await {}
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the body declares {n} bytes; the limit is {limit}"),
    )
    .into_response()
}

/// Middleware: marks the response `Connection: close` unless the request
/// had no body or the handler read it to its end.
pub(crate) async fn close_if_body_unread(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let done = Arc::new(AtomicBool::new(false));
    let (parts, body) = req.into_parts();
    let tracked = Tracked {
        inner: body,
        done: Arc::clone(&done),
    };
    let mut r = next.run(Request::from_parts(parts, Body::new(tracked))).await;
    if !done.load(Ordering::Acquire) {
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// A body that records when it has been read to its end.
struct Tracked {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.done.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
