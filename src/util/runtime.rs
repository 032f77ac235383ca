//! The tokio runtimes of the commands: one builder for each kind, so every
//! command gets the same settings (all drivers enabled).

use tokio::runtime::{Builder, Runtime};

/// A single-threaded runtime, for client commands (one request, or a short
/// stream of them, at a time).
///
/// # Errors
/// The runtime cannot be built (out of file descriptors or threads).
pub fn current_thread() -> std::io::Result<Runtime> {
    Builder::new_current_thread().enable_all().build()
}

/// A multi-threaded runtime with one worker per core, for the services,
/// restore and the load generator.
///
/// # Errors
/// The runtime cannot be built (out of file descriptors or threads).
pub fn multi_thread() -> std::io::Result<Runtime> {
    Builder::new_multi_thread().enable_all().build()
}
