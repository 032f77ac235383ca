//! Answers that stream: a producer runs on the blocking pool and writes the
//! body through a [`ChunkWriter`], which hands it to the connection in
//! chunks of at most [`CHUNK_BYTES`] over a channel of [`CHANNEL_CHUNKS`]
//! chunks. An answer therefore holds at most a few chunks in memory however
//! large it is, and the producer runs only as fast as the client reads.
//!
//! Cancellation: the producer's writes fail (and [`ChunkWriter::check`]
//! says so) once the client is gone, the request's future was dropped (the
//! request deadline answered 408), or the body's own deadline passed; the
//! producer then stops, and a body cut short ends without its final chunk,
//! so the client sees a broken answer, never a truncated one that parses.
//!
//! Errors before the first byte become an ordinary error response (the
//! producer's error type converts to one); after it, the connection is cut.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Bytes a [`ChunkWriter`] gathers before it sends a chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks that may wait for the connection.
pub const CHANNEL_CHUNKS: usize = 2;

/// What the producer sends: body bytes, then `Done` once it is complete.
enum Msg {
    Chunk(Bytes),
    Done,
}

/// Why a producer stopped early: the client is gone or the deadline passed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the answer was cancelled: the client left or the deadline passed")]
pub struct Cancelled;

impl From<Cancelled> for io::Error {
    fn from(c: Cancelled) -> Self {
        Self::new(io::ErrorKind::BrokenPipe, c)
    }
}

/// The body of a streaming answer, as the producer writes it.
pub struct ChunkWriter {
    tx: mpsc::Sender<Msg>,
    /// Told once, before the first chunk goes out: the answer has begun.
    head: Option<oneshot::Sender<()>>,
    buf: Vec<u8>,
    written: u64,
    deadline: Instant,
    /// Set for good once a send failed or the deadline passed.
    cancelled: bool,
    rt: tokio::runtime::Handle,
}

impl ChunkWriter {
    /// Bytes written so far (buffered ones included).
    #[must_use]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// `Err(Cancelled)` once nobody will read the answer or its deadline
    /// passed: the producer should stop its work.
    ///
    /// # Errors
    /// [`Cancelled`].
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.cancelled || self.tx.is_closed() || Instant::now() >= self.deadline {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sends a message unless the answer was cancelled: once a send failed
    /// or the deadline passed, nothing more goes out (above all not `Done`,
    /// which would make a cut answer look complete).
    fn send(&mut self, msg: Msg) -> Result<(), Cancelled> {
        if self.cancelled || Instant::now() >= self.deadline {
            self.cancelled = true;
            return Err(Cancelled);
        }
        if let Some(h) = self.head.take() {
            let _ = h.send(());
        }
        let (tx, deadline) = (&self.tx, self.deadline);
        if let Ok(Ok(())) = self
            .rt
            .block_on(async { tokio::time::timeout_at(deadline, tx.send(msg)).await })
        {
            Ok(())
        } else {
            self.cancelled = true;
            Err(Cancelled)
        }
    }

    fn send_buffered(&mut self) -> Result<(), Cancelled> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)));
        self.send(Msg::Chunk(chunk))
    }

    /// Sends what is buffered and marks the body complete.
    fn finish(mut self) -> Result<(), Cancelled> {
        self.send_buffered()?;
        self.send(Msg::Done)
    }
}

impl io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.written += data.len() as u64;
        if self.buf.len() >= CHUNK_BYTES {
            self.send_buffered()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Answers `200 application/json` with the body `produce` writes, run on
/// the blocking pool until `deadline`. An error `produce` returns before it
/// wrote a full chunk becomes the response; one after cuts the connection.
///
/// # Errors
/// `produce`'s error before the answer began; `on_panic()` if the producer
/// died before it.
pub async fn json<E>(
    deadline: Instant,
    on_panic: impl FnOnce() -> E + Send,
    produce: impl FnOnce(&mut ChunkWriter) -> Result<(), E> + Send + 'static,
) -> Result<Response, E>
where
    E: From<Cancelled> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let (head_tx, head_rx) = oneshot::channel();
    let (err_tx, err_rx) = oneshot::channel::<E>();
    let mut w = ChunkWriter {
        tx,
        head: Some(head_tx),
        buf: Vec::with_capacity(CHUNK_BYTES),
        written: 0,
        deadline,
        cancelled: false,
        rt: tokio::runtime::Handle::current(),
    };
    tokio::task::spawn_blocking(move || {
        let r = produce(&mut w);
        match r {
            Ok(()) => {
                // Nothing to do if the client left meanwhile.
                let _ = w.finish();
            }
            Err(e) if w.head.is_some() => {
                let _ = err_tx.send(e);
            }
            // Already streaming: dropping the writer without `Done` cuts the body.
            Err(_) => {}
        }
    });
    // The producer either begins the answer, or ends without beginning it:
    // then it sent its error before it dropped the writer (or it panicked).
    // A closed error channel alone means nothing: it closes on success too.
    if head_rx.await.is_err() {
        return Err(err_rx.await.unwrap_or_else(|_| on_panic()));
    }
    let body = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Msg::Chunk(b)) => Some((Ok::<_, io::Error>(b), Some(rx))),
            Some(Msg::Done) => None,
            None => Some((Err(io::Error::from(Cancelled)), None)),
        }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;
    use std::time::Duration;

    #[derive(Debug, PartialEq)]
    enum E {
        Failed(&'static str),
        Cancelled,
        Panicked,
    }

    impl From<Cancelled> for E {
        fn from(_: Cancelled) -> Self {
            Self::Cancelled
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_of_any_size_arrive_whole_every_time() {
        // Repeated: a producer that finishes before the handler looks must
        // not be taken for one that died.
        for n in [0usize, 1, 10, CHUNK_BYTES - 1, CHUNK_BYTES, 5 * CHUNK_BYTES + 7] {
            for _ in 0..20 {
                let r = json(
                    soon(),
                    || E::Panicked,
                    move |w| {
                        w.write_all(&vec![b'x'; n]).map_err(|_| E::Cancelled)?;
                        Ok(())
                    },
                )
                .await
                .expect("answer");
                let body = r.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(body.len(), n);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_before_the_first_chunk_is_the_answer() {
        let r = json(
            soon(),
            || E::Panicked,
            |w| {
                w.write_all(b"{\"partial\":").map_err(|_| E::Cancelled)?;
                Err(E::Failed("storage"))
            },
        )
        .await;
        assert_eq!(r.err(), Some(E::Failed("storage")));
        let r = json(soon(), || E::Panicked, |_| -> Result<(), E> { panic!("boom") }).await;
        assert_eq!(r.err(), Some(E::Panicked));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_after_the_first_chunk_cuts_the_body() {
        let r = json(
            soon(),
            || E::Panicked,
            |w| {
                w.write_all(&vec![b'x'; 3 * CHUNK_BYTES]).map_err(|_| E::Cancelled)?;
                Err(E::Failed("late"))
            },
        )
        .await
        .expect("begun");
        assert!(r.into_body().collect().await.is_err(), "no clean end");
    }

    /// An answer whose producer writes until a write fails, and the kind
    /// of error that stopped it.
    async fn endless(deadline: Instant) -> (Response, std::sync::mpsc::Receiver<io::ErrorKind>) {
        let (tx, rx) = std::sync::mpsc::channel();
        let r = json(
            deadline,
            || E::Panicked,
            move |w| {
                let e = loop {
                    if let Err(e) = w.write_all(&[b'x'; 1024]) {
                        break e;
                    }
                };
                let _ = tx.send(e.kind());
                Ok(())
            },
        )
        .await
        .expect("begun");
        (r, rx)
    }

    async fn stopped(rx: std::sync::mpsc::Receiver<io::ErrorKind>) -> io::ErrorKind {
        tokio::task::spawn_blocking(move || rx.recv())
            .await
            .expect("join")
            .expect("stopped")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_that_leaves_or_a_deadline_stops_the_producer() {
        let (r, rx) = endless(soon()).await;
        drop(r);
        assert_eq!(stopped(rx).await, io::ErrorKind::BrokenPipe);
        // Nobody reads and the deadline passes: the producer's write fails.
        let (r, rx) = endless(Instant::now() + Duration::from_millis(200)).await;
        assert_eq!(stopped(rx).await, io::ErrorKind::BrokenPipe);
        assert!(r.into_body().collect().await.is_err(), "cut");
    }

    /// A producer that ignores a failed write and returns `Ok` must not
    /// make its cut answer end cleanly, even when the reader frees room in
    /// the channel before it finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_answer_never_ends_cleanly() {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let r = json(
            Instant::now() + Duration::from_millis(200),
            || E::Panicked,
            move |w| {
                while w.write_all(&[b'x'; 1024]).is_ok() {}
                let _ = stop_tx.send(io::ErrorKind::BrokenPipe);
                let _ = go_rx.recv();
                Ok(())
            },
        )
        .await
        .expect("begun");
        stopped(stop_rx).await;
        let mut body = r.into_body();
        assert!(body.frame().await.expect("a frame").is_ok(), "the first chunk arrives");
        go_tx.send(()).expect("go");
        assert!(body.collect().await.is_err(), "no clean end after a cut");
    }
}
