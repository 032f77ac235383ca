//! `tracing` output of the long-running commands (serve, witness, monitor,
//! gate).

/// How `tracing` output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (colored on a terminal).
    Text,
    /// One JSON object per line, with the current span's fields.
    Json,
}

/// The `--log-format` flag of the long-running commands (serve, witness,
/// monitor, gate); the one-shot commands do not log and do not take it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogFormatArg {
    /// Log format: `text` for people, `json` (one object per line, with
    /// span fields) for log pipelines. Default: text.
    #[arg(long, value_enum, env = "PROVLOG_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Chooses the format [`init`] uses; the first call wins.
pub fn set_format(f: LogFormat) {
    let _ = LOG_FORMAT.set(f);
}

/// Sets up `tracing` for a long-running command: stderr, `RUST_LOG` (or
/// `info`), in the format chosen with [`set_format`] (text by default). A
/// second call does nothing.
pub fn init() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match LOG_FORMAT.get().copied().unwrap_or(LogFormat::Text) {
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}
