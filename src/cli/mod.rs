//! The `provlog` command line.
//!
//! Exit codes: `0` success; `1` the command ran and failed (a receipt that
//! does not verify, a rejected submission, a server that cannot start);
//! `2` the command line itself is wrong.

mod approve;
mod audit;
mod chain;
mod compact;
mod evidence;
mod explain;
mod fsck;
mod keygen;
mod post;
mod query;
mod restore;
mod serve;
mod submit;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// provlog: a transparency log for provisioning events of non-human
/// identities.
#[derive(Debug, Parser)]
#[command(name = "provlog", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// `--log-format` before the command, where it used to be accepted for
    /// every command: still taken (deprecated) by the long-running ones,
    /// which have their own `--log-format` now.
    #[arg(long = "log-format", value_enum, hide = true)]
    log_format_before: Option<crate::obs::logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

impl Command {
    /// The `--log-format` of a long-running command; `None` for the
    /// one-shot commands, which do not log.
    fn log_format(&self) -> Option<&crate::obs::logging::LogFormatArg> {
        match self {
            Self::Serve(a) => Some(&a.log_format),
            Self::Witness(a) => Some(&a.log_format),
            Self::Monitor(a) => Some(&a.log_format),
            Self::Gate(a) => Some(&a.log_format),
            _ => None,
        }
    }
}

/// The exit codes of every command (README "Commands" has the same table).
const EXIT_CODES: &str = "Exit codes (every command):
  0  success
  1  the command ran and failed: a proof that does not verify, a refused submission,
     a finding of fsck/audit/monitor --once, a server that cannot start
     (the reason on stderr, with a hint for the common cases)
  2  bad command line: an unknown or missing flag, flags that exclude each other,
     a malformed value (the usage on stderr)";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the log server.
    ///
    /// With no arguments it runs on an embedded default: data in
    /// ./provlog-data, a log key created on first start, 127.0.0.1:8080,
    /// and a `dev` submitter key with full scope next to the log key.
    ///
    /// Examples:
    ///   provlog serve
    ///   provlog serve --config provlog.toml
    ///   provlog serve --listen 0.0.0.0:8080 --data-dir /var/lib/provlog
    #[command(verbatim_doc_comment)]
    Serve(serve::Args),
    /// Generate a signed-note key pair: NAME.skey (mode 0600) and NAME.vkey.
    ///
    /// Examples:
    ///   provlog keygen --name ci-provisioner
    ///   provlog keygen --name ci-provisioner --out keys/ci.skey
    #[command(verbatim_doc_comment)]
    Keygen(keygen::Args),
    /// Sign events as a submitter and print submissions (no network).
    ///
    /// Reads one JSON event, or JSON lines, from FILE or stdin.
    ///
    /// Example:
    ///   provlog sign --key provlog-data/dev.skey --submitter dev event.json > submission.json
    #[command(verbatim_doc_comment)]
    Sign(submit::SignArgs),
    /// Sign an approval as an approver: it delegates one task to a
    /// submitter (prints the signed approval; no network with --origin).
    ///
    /// Example:
    ///   provlog approve --key alice.skey --submitter ci --action revoke --target prod/db-main \
    ///       --ttl 30m --ref CHG-1042 --out alice.approval.json
    #[command(verbatim_doc_comment)]
    Approve(approve::Args),
    /// Sign events and submit them; prints one receipt (JSON) per line, or
    /// with --out a summary line per event (for people on a terminal,
    /// JSON with --json or in a pipe).
    ///
    /// Examples:
    ///   provlog submit --key provlog-data/dev.skey event.json --out receipt.json
    ///   provlog submit --key ci.skey --action rotate --actor wf/rotate --target svc-payments \
    ///       --fingerprint sha256:… --previous-fingerprint sha256:…
    ///   provlog submit --key ci.skey --batch events.jsonl --out receipts.jsonl
    #[command(verbatim_doc_comment)]
    Submit(submit::SubmitArgs),
    /// Log a sequenced submitter's heartbeat: the chain's next position,
    /// with the count of events it acknowledged since the last one.
    ///
    /// Example:
    ///   provlog heartbeat --key ci.skey --chain ci.chain.json
    #[command(verbatim_doc_comment)]
    Heartbeat(chain::HeartbeatArgs),
    /// Check a sequenced submitter's chain: the head the log committed,
    /// verified with the log's vkey, against the submitter's chain file;
    /// exit 1 if the log does not hold what it acknowledged.
    ///
    /// Example:
    ///   provlog chain ci --log-key provlog-data/log.vkey --chain ci.chain.json
    #[command(verbatim_doc_comment)]
    Chain(chain::ChainArgs),
    /// Search the log by identity: a table on a terminal, JSON lines with
    /// --json or in a pipe.
    ///
    /// Examples:
    ///   provlog events --target svc-payments
    ///   provlog events --credential sha256:9f86… --all
    #[command(verbatim_doc_comment)]
    Events(query::EventsArgs),
    /// The state of a credential, with its history and proofs: a line for
    /// people on a terminal, a JSON object with --json or in a pipe.
    ///
    /// Example:
    ///   provlog credential sha256:9f86… --log-key provlog-data/log.vkey --out answer.json
    #[command(verbatim_doc_comment)]
    Credential(query::CredentialArgs),
    /// Rebuild from tiles and entry bundles the authority every event ran
    /// under, and check signatures and scope; exit 1 on any finding.
    ///
    /// Example:
    ///   provlog audit --url <http://127.0.0.1:8080> --log-key provlog-data/log.vkey
    #[command(verbatim_doc_comment)]
    Audit(audit::Args),
    /// Answer the four audit questions about one event (who approved it,
    /// what changed, when, which credential state was in force) from the
    /// log's evidence, checked here with the log's vkey; exit 1 if any check
    /// fails.
    ///
    /// Example:
    ///   provlog explain 42 --url <http://127.0.0.1:8080> --log-key provlog-data/log.vkey
    #[command(verbatim_doc_comment)]
    Explain(explain::Args),
    /// Collect an auditor's evidence: the events answering a question (a
    /// target, actor, credential, action, time window) with their proofs
    /// against one checkpoint (witnessed where the log has witnesses), the
    /// policy leaves they ran under, a consistency proof to the latest
    /// checkpoint, and a report (HTML, CSV); checked before it is written
    /// and again, offline, by `provlog verify --evidence`.
    ///
    /// Example:
    ///   provlog evidence --target svc-payments --from 2026-11-01 --to 2026-12-01 \
    ///       --log-key provlog-data/log.vkey --out bundle/
    #[command(verbatim_doc_comment)]
    Evidence(evidence::Args),
    /// Check every tile, bundle, leaf hash and checkpoint of a log, offline
    /// (a stopped log's data directory) or over HTTP; exit 1 on any finding.
    ///
    /// Examples:
    ///   provlog fsck --data-dir ./provlog-data
    ///   provlog fsck --url <http://127.0.0.1:8080> --log-key provlog-data/log.vkey
    #[command(verbatim_doc_comment)]
    Fsck(fsck::Args),
    /// Verify a receipt offline with only the log's vkey.
    ///
    /// Examples:
    ///   provlog verify --receipt receipt.json --log-key provlog-data/log.vkey
    ///   provlog verify --tlog-proof entry.tlog-proof --entry entry.json --log-key 'localhost/provlog+…'
    ///   provlog verify --credential answer.json --log-key provlog-data/log.vkey
    #[command(verbatim_doc_comment)]
    Verify(verify::Args),
    /// Run a C2SP tlog-witness: cosign checkpoints of the logs it follows.
    ///
    /// Examples:
    ///   provlog keygen --name witness.example/w1 --type cosignature --out w1.skey
    ///   provlog witness --key w1.skey --log-key provlog-data/log.vkey --listen 127.0.0.1:7380
    #[command(verbatim_doc_comment)]
    Witness(crate::witness::WitnessArgs),
    /// Follow logs: verify every checkpoint, tile, entry, signature, scope and
    /// lifecycle rule; gossip checkpoints with peers; write fork evidence.
    ///
    /// Examples:
    ///   provlog monitor --url <http://127.0.0.1:8080> --log-key provlog-data/log.vkey --once
    ///   provlog monitor --log <http://log-a=VKEY> --peer <http://other-monitor:7390> --listen 127.0.0.1:7390
    #[command(verbatim_doc_comment)]
    Monitor(crate::monitor::MonitorArgs),
    /// Authorize requests at a proxy from verified credential states: nginx
    /// `auth_request` (`GET /check`) and Envoy `ext_authz` over HTTP
    /// (`/envoy/...`), failing closed (docs/GATE.md).
    ///
    /// Examples:
    ///   provlog gate --url <http://127.0.0.1:8080> --log-key provlog-data/log.vkey --max-age 30s
    ///   provlog gate --config gate.toml
    #[command(verbatim_doc_comment)]
    Gate(crate::gate::GateArgs),
    /// Rebuild a data directory from where the log is published (its
    /// static API over HTTP, or the object store), verifying every entry
    /// and tile against the checkpoint and the log's vkey.
    ///
    /// Examples:
    ///   provlog restore --from <http://tiles.example.com/logs/prod> --log-key log.vkey --data-dir ./restored
    ///   provlog restore --from <s3://provlog-bucket/logs/prod> --endpoint <http://127.0.0.1:3900> \
    ///       --log-key log.vkey --data-dir ./restored
    #[command(verbatim_doc_comment)]
    Restore(restore::Args),
    /// Compact a stopped log's store and report its size on disk against
    /// its entry bytes.
    ///
    /// Example:
    ///   provlog compact --data-dir ./provlog-data
    #[command(verbatim_doc_comment)]
    Compact(compact::Args),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script.
    ///
    /// Examples:
    ///   provlog completions bash > /`etc/bash_completion.d/provlog`
    ///   provlog completions zsh > "${fpath[1]}/_provlog"
    #[command(verbatim_doc_comment)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
    /// Check a configuration file (syntax, unknown keys, submitters).
    Check {
        /// The file to check.
        file: std::path::PathBuf,
    },
}

/// Runs the CLI and returns the process exit code.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match (cli.command.log_format(), cli.log_format_before) {
        (Some(own), before) => {
            if before.is_some() {
                crate::util::output::deprecated(
                    "--log-format before the command",
                    "it after the command, e.g. provlog serve --log-format json",
                );
            }
            let f = own
                .log_format
                .or(before)
                .unwrap_or(crate::obs::logging::LogFormat::Text);
            crate::obs::logging::set_format(f);
        }
        (None, Some(_)) => {
            eprintln!("warning: --log-format has no effect here: only serve, witness, monitor and gate log");
        }
        (None, None) => {}
    }
    let result = match cli.command {
        Command::Serve(a) => serve::run(a),
        Command::Keygen(a) => keygen::run(&a),
        Command::Sign(a) => submit::sign(&a),
        Command::Approve(a) => approve::run(&a),
        Command::Submit(a) => submit::submit(&a),
        Command::Heartbeat(a) => chain::heartbeat(&a),
        Command::Chain(a) => chain::chain(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Events(a) => query::events(&a),
        Command::Credential(a) => query::credential(&a),
        Command::Audit(a) => audit::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Evidence(a) => evidence::run(&a),
        Command::Fsck(a) => fsck::run(&a),
        Command::Compact(a) => compact::run(&a),
        Command::Restore(a) => restore::run(&a),
        Command::Monitor(a) => {
            crate::obs::logging::init();
            crate::util::runtime::multi_thread()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(crate::monitor::run(a)))
        }
        Command::Gate(a) => {
            crate::obs::logging::init();
            crate::util::runtime::multi_thread()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(crate::gate::run(a)))
        }
        Command::Witness(a) => {
            crate::obs::logging::init();
            crate::util::runtime::multi_thread()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(crate::witness::run(a)))
        }
        Command::Config(ConfigCommand::Example) => {
            crate::util::output::out(crate::config::EXAMPLE.trim_end()).map_err(Into::into)
        }
        Command::Config(ConfigCommand::Check { file }) => check_config(&file),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "provlog", &mut std::io::stdout());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::util::join_chain(e.chain().map(ToString::to_string)));
            if let Some(h) = hint(&e) {
                eprintln!("hint: {h}");
            }
            ExitCode::from(1)
        }
    }
}

/// What to try next, for the failures a newcomer meets first: a server
/// that is not there, a URL without its scheme, a data directory another
/// process holds, a checkpoint signed by another key.
fn hint(e: &anyhow::Error) -> Option<&'static str> {
    for cause in e.chain() {
        if let Some(r) = cause.downcast_ref::<reqwest::Error>() {
            if r.is_connect() {
                return Some(
                    "nothing answered at that address: is the server running, and is --url (or PROVLOG_URL) right?",
                );
            }
            if r.is_builder() {
                return Some("give the URL with its scheme, e.g. --url http://127.0.0.1:8080");
            }
            if r.is_timeout() {
                return Some("the server did not answer in time: is --url the log, and is it overloaded?");
            }
        }
        if let Some(provlog_tlog::checkpoint::CheckpointError::NoLogSignature { .. }) =
            cause.downcast_ref::<provlog_tlog::checkpoint::CheckpointError>()
        {
            return Some(
                "check --log-key (the log's vkey, published by its operator); if the log rotated its key, give --log-keys or --url so that the rotation is followed (docs/ROTATION.md)",
            );
        }
        let text = cause.to_string();
        if text.contains("LOCK") && (text.contains("Resource temporarily unavailable") || text.contains("lock hold")) {
            return Some("another provlog holds this data directory: stop it first, or give another --data-dir");
        }
        if text.contains("relative URL without a base") || text.contains("URL scheme is not allowed") {
            return Some("give the URL with its scheme, e.g. --url http://127.0.0.1:8080");
        }
    }
    None
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let o = crate::config::Overrides {
        config: Some(file.to_owned()),
        ..Default::default()
    };
    let cfg = crate::config::Config::load(&o)?;
    cfg.configured_registry()?;
    crate::util::output::out(format_args!(
        "{}: ok ({})",
        file.display(),
        crate::util::output::count(cfg.submitters.len() as u64, "submitter", "submitters")
    ))?;
    Ok(())
}
