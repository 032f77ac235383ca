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

/// Says on stderr, in one line, that a spelling still works but is on its
/// way out: `warning: --log is deprecated: use --log-key`.
pub fn deprecated(old: &str, new: &str) {
    eprintln!("warning: {old} is deprecated: use {new}");
}

/// Whether a command prints JSON: when asked (`--json`), or when stdout is
/// not a terminal (a pipe, a file: scripts get the machine-readable form
/// they always got). On a terminal it prints for people.
#[must_use]
pub fn json_wanted(asked: bool) -> bool {
    use std::io::IsTerminal;
    asked || !std::io::stdout().is_terminal()
}

/// A count with its noun in the right number: `1 event`, `2 events`,
/// `0 entries`.
#[must_use]
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `s` for a terminal: control characters (a log's strings are anyone's:
/// an escape sequence in a target id must not drive the terminal) shown
/// escaped, `\u{1b}`.
#[must_use]
pub fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lines of a table for people: a header, then the rows, each column as
/// wide as its widest cell (counted in characters), two spaces apart; the
/// last column is not padded.
#[must_use]
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    Table::new(header).lines(rows)
}

/// A table printed a page at a time ([`table`], for output that arrives in
/// pages): the header before the first page, and each column as wide as
/// its widest cell so far, so that pages line up unless a later one holds
/// a wider cell.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    width: Vec<usize>,
    started: bool,
}

impl Table {
    /// A table with these column names.
    #[must_use]
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            width: header.iter().map(|h| h.chars().count()).collect(),
            started: false,
        }
    }

    /// The lines of `rows` (after the header, the first time); control
    /// characters in a cell are shown escaped ([`printable`]).
    pub fn lines(&mut self, rows: &[Vec<String>]) -> Vec<String> {
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| printable(c)).collect()).collect();
        for r in &rows {
            for (w, c) in self.width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = Vec::with_capacity(rows.len() + 1);
        if !self.started {
            self.started = true;
            out.push(self.line(&self.header));
        }
        out.extend(rows.iter().map(|r| self.line(r)));
        out
    }

    fn line(&self, cells: &[String]) -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&self.width).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            s.extend(std::iter::repeat_n(' ', w.saturating_sub(c.chars().count())));
        }
        s.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{Table, count, table};

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(1, "event", "events"), "1 event");
        assert_eq!(count(0, "event", "events"), "0 events");
        assert_eq!(count(2, "entry", "entries"), "2 entries");
    }

    #[test]
    fn a_table_aligns_its_columns() {
        let t = table(
            &["INDEX", "TARGET"],
            &[vec!["2".into(), "svc-a".into()], vec!["10".into(), "é".into()]],
        );
        assert_eq!(t, vec!["INDEX  TARGET", "2      svc-a", "10     é"]);
    }

    #[test]
    fn a_paged_table_prints_its_header_once_and_keeps_its_widths() {
        let mut t = Table::new(&["A", "B"]);
        assert_eq!(t.lines(&[vec!["xyz".into(), "1".into()]]), vec!["A    B", "xyz  1"]);
        assert_eq!(t.lines(&[vec!["x".into(), "2".into()]]), vec!["x    2"]);
    }

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(super::printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        let t = table(&["T"], &[vec!["x\ny".into()]]);
        assert_eq!(t, vec!["T", "x\\u{a}y"]);
    }
}
