//! The one place provlog writes to stdout: command output and the ready
//! line of the services. Everything else logs through `tracing` (stderr).

/// Writes one line of output to stdout. A closed pipe (`provlog … | head`)
/// is not an error: the output is simply no longer wanted.
///
/// # Errors
/// Any write error but a broken pipe.
pub fn out(line: impl std::fmt::Display) -> std::io::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// Writes several lines to stdout at once and flushes them, so that a
/// reader waiting for the last one (the ready line) sees all of them.
///
/// # Errors
/// Any write error but a broken pipe.
pub fn out_lines(lines: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let r = lines
        .iter()
        .try_for_each(|l| writeln!(o, "{l}"))
        .and_then(|()| o.flush());
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// The machine-readable line a service prints on stdout once it accepts
/// connections, after its human-readable banner:
/// `{"ready":"log","url":"http://127.0.0.1:8080"}`. Scripts and tests wait
/// for it instead of parsing banners.
#[must_use]
pub fn ready_line(service: &str, addr: std::net::SocketAddr) -> String {
    serde_json::json!({ "ready": service, "url": format!("http://{addr}") }).to_string()
}
