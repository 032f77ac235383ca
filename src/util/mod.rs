//! Small things every component needs once: the clock, signals, stdout,
//! progress bars, tokio runtimes and key files. Nothing here knows about the log.

pub mod clock;
pub mod keyfile;
pub mod output;
pub mod progress;
pub mod runtime;
pub mod signal;
pub mod sync;

/// An error with its causes, `a: b: c`, for logs, findings and answers;
/// each cause once (see [`join_chain`]).
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    join_chain(parts)
}

/// Joins an error's messages, outermost first, with `: `, leaving out a
/// message the text so far already holds: an error that shows its cause
/// in its own message (`event: {0}` over the event error) and also returns
/// it as its `source()` would otherwise print it twice.
#[must_use]
pub fn join_chain(parts: impl IntoIterator<Item = String>) -> String {
    let mut out = String::new();
    for p in parts {
        if p.is_empty() || out.contains(&p) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&p);
    }
    out
}
