//! `provlog serve`.

use crate::config::{Config, Overrides};
use crate::follow::cosign::Witnessing;
use crate::follow::publish::Publisher;
use crate::log::{AckGate, Log};
use anyhow::{Context, Result};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    overrides: Overrides,
    #[command(flatten)]
    pub(super) log_format: crate::obs::logging::LogFormatArg,
}

pub(super) fn run(a: Args) -> Result<()> {
    crate::obs::logging::init();
    let rt = crate::util::runtime::multi_thread().context("starting the runtime")?;
    rt.block_on(serve(a.overrides))
}

async fn serve(o: Overrides) -> Result<()> {
    let cfg = Config::load(&o)?;
    // Everything that can refuse the start is checked before anything is
    // created: a failed start (a port in use, a bad witness key, an
    // unreachable store) leaves no key, no store and no entry behind.
    let witnessing = if cfg.witnesses.is_empty() {
        None
    } else {
        Some(Arc::new(Witnessing::with_quorum(
            &cfg.witnesses,
            cfg.witness_policy,
            cfg.witness_quorum.clone(),
            cfg.witness_interval,
        )?))
    };
    let configured = if cfg.submitters.is_empty() && cfg.config_file.is_none() {
        None
    } else {
        Some(cfg.configured_registry()?)
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let (signer, new_key) = cfg.load_or_generate_log_key()?;
    if let Some(q) = &cfg.witness_quorum
        && !q.logs.is_empty()
        && !q.logs.iter().any(|(k, _)| *k == signer.verifier())
    {
        anyhow::bail!(
            "the witness policy lists logs, but not this log's key {}: clients reading it would refuse this log",
            signer.verifier().to_vkey_string()
        );
    }
    let publisher = match &cfg.publish {
        Some(p) => {
            let mut keys = vec![signer.verifier()];
            keys.extend(cfg.load_next_log_key()?.map(|k| k.verifier()));
            Some(Arc::new(Publisher::open(p, &keys).await?))
        }
        None => None,
    };
    if new_key {
        cfg.persist_log_key(&signer)?;
    }
    let (registry, dev_key) = match configured {
        Some(r) => (Some(r), None),
        None => cfg.registry()?,
    };
    let ack_gate = publisher
        .as_ref()
        .filter(|p| p.ack_after_publish)
        .map(|p| Arc::clone(p) as Arc<dyn AckGate>);
    let log = Log::open(&cfg, o.clone(), signer, ack_gate).await?;
    // Nothing is signed before the store's history is known to be a prefix
    // of this log's (a data directory that lost entries must not sign a
    // checkpoint the store contradicts).
    if let Some(p) = &publisher {
        p.check_before_signing(log.as_ref(), log.metrics()).await;
    }
    log.begin(cfg.frozen, registry).await?;
    spawn_sighup_reload(Arc::clone(&log));
    let shutdown = crate::util::signal::shutdown_signal();
    if let Some(w) = &witnessing {
        let known = w.load(log.as_ref()).await;
        tokio::spawn(crate::follow::cosign::run(
            Arc::clone(w),
            Arc::clone(&log),
            Arc::clone(log.metrics()),
            known,
        ));
    }
    if let Some(p) = &publisher {
        tokio::spawn(crate::follow::publish::run(
            Arc::clone(p),
            Arc::clone(&log),
            Arc::clone(log.metrics()),
        ));
    }
    let addr = listener.local_addr()?;
    let mut banner = vec![
        format!("provlog listening on http://{addr}"),
        format!("origin: {}", log.origin()),
        format!("log vkey: {}", log.vkey().to_vkey_string()),
    ];
    if let Some(p) = dev_key {
        banner.push(format!(
            "dev submitter: id \"dev\", key {} (full scope; configure [[submitters]] for real use)",
            p.display()
        ));
    }
    banner.push(format!("tree size: {}", log.published().size));
    banner.push(crate::util::output::ready_line("log", addr));
    crate::util::output::out_lines(&banner)?;
    crate::http::server::serve(
        listener,
        crate::api::router(crate::api::App {
            log: Arc::clone(&log),
            witnessing,
            publisher,
        }),
        crate::http::server::ConnectionLimits {
            max_connections: cfg.max_connections,
            header_timeout: cfg.header_timeout,
            drain_timeout: cfg.request_timeout,
        },
        shutdown,
    )
    .await
    .context("serving HTTP")?;
    tracing::info!("shutting down: finishing queued entries");
    tokio::task::spawn_blocking(move || log.shutdown()).await?;
    Ok(())
}

/// Reloads the submitter registry on every SIGHUP; a bad file is reported
/// and the registry in force stays.
fn spawn_sighup_reload(log: Arc<Log>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; use POST /v1/admin/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match log.reload().await {
                Ok(r) => {
                    tracing::info!(changed = r.changed, policy_index = ?r.policy_index, submitters = r.submitters, "SIGHUP: registry reloaded");
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload refused; the registry in force is unchanged"),
            }
        }
    });
}
