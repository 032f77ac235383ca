//! `provlog serve`.

use crate::config::{Config, Overrides};
use crate::log::Log;
use anyhow::{Context, Result};
use std::io::Write;

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    #[command(flatten)]
    overrides: Overrides,
}

pub(super) fn run(a: Args) -> Result<()> {
    super::init_tracing();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(serve(a.overrides))
}

async fn serve(o: Overrides) -> Result<()> {
    let cfg = Config::load(&o)?;
    let (registry, dev_key) = cfg.registry()?;
    let log = Log::open(&cfg, o.clone(), registry).await?;
    spawn_sighup_reload(std::sync::Arc::clone(&log));
    let shutdown = super::shutdown_signal();
    tokio::spawn(crate::cosign::run(std::sync::Arc::clone(&log)));
    tokio::spawn(crate::publish::run(std::sync::Arc::clone(&log)));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "provlog listening on http://{addr}")?;
        writeln!(out, "origin: {}", log.origin)?;
        writeln!(out, "log vkey: {}", log.vkey.to_vkey_string())?;
        if let Some(p) = dev_key {
            writeln!(
                out,
                "dev submitter: id \"dev\", key {} (full scope; configure [[submitters]] for real use)",
                p.display()
            )?;
        }
        writeln!(out, "tree size: {}", log.published().size)?;
        writeln!(out, "{}", crate::cli::ready_line("log", addr))?;
        out.flush()?;
    }
    crate::server::serve(
        listener,
        crate::api::router(std::sync::Arc::clone(&log)),
        crate::server::ConnectionLimits {
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
fn spawn_sighup_reload(log: std::sync::Arc<Log>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; use POST /v1/admin/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match log.reload().await {
                Ok(r) => {
                    tracing::info!(changed = r.changed, policy_index = ?r.policy_index, submitters = r.submitters, "SIGHUP: registry reloaded")
                }
                Err(e) => tracing::error!(error = %e, "SIGHUP: reload refused; the registry in force is unchanged"),
            }
        }
    });
}
