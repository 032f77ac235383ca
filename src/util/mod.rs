//! Small things every component needs once: the clock, signals, stdout,
//! tokio runtimes and key files. Nothing here knows about the log.

pub mod clock;
pub mod keyfile;
pub mod output;
pub mod runtime;
pub mod signal;
pub mod sync;

/// An error with its causes, `a: b: c`, for logs, findings and answers.
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
