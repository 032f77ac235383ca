//! Stop signals of the long-running commands.

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: call it before
/// announcing readiness, or a signal sent right after the announcement
/// kills the process instead of stopping it gracefully.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    async fn recv(s: Option<tokio::signal::unix::Signal>) {
        match s {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    let int = recv(signal(SignalKind::interrupt()).ok());
    let term = recv(signal(SignalKind::terminate()).ok());
    async move {
        tokio::select! {
            () = int => {},
            () = term => {},
        }
    }
}
