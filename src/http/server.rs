//! The HTTP server loop: hyper connections with a cap on how many are open,
//! a header (and keep-alive idle) timeout, and graceful shutdown.
//!
//! `axum::serve` has no knob for any of these, so provlog accepts
//! connections itself and serves HTTP/1.1 with hyper. (HTTP/2 is left to a
//! TLS-terminating proxy in front: hyper-util's HTTP/1+2 auto-detection
//! waits for the first bytes with no timeout, which would let idle
//! connections pin the connection cap.) When `max_connections` are open, it
//! stops accepting: new connections wait in the kernel's backlog instead of
//! costing memory here.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers; also how
    /// long an idle keep-alive connection stays open, and how long a write
    /// may wait for a client that takes no bytes of its answer (then the
    /// connection is closed, and whatever the answer held is freed).
    pub header_timeout: Duration,
    /// How long in-flight requests get to finish at shutdown.
    pub drain_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// requests finish (up to `drain_timeout`).
///
/// # Errors
/// Never for a single failed connection (logged); only if the listener
/// breaks for good.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // A client that stops reading must not hold its answer (and the
        // read slot inside it) for ever: hyper polls a body only when it
        // can write, so the bound has to be on the socket.
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.header_timeout));
        let svc = TowerToHyperService::new(app.clone());
        let conn = builder.serve_connection(TokioIo::new(Box::pin(stream)), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("some connections did not finish within the drain timeout");
        },
    }
    Ok(())
}
