//! `provlog serve`.

use crate::config::{Config, Overrides};
use crate::follow::cosign::Witnessing;
use crate::follow::publish::Publisher;
use crate::log::{AckGate, Log, WritePath};
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
    // Under [ha]: etcd, and the term a standby that won the election
    // handed to this process (then it starts as the sequencer).
    let ha = match &cfg.ha {
        Some(h) => {
            let (coordinator, term) = crate::ha::role::connect(&cfg, h).await?;
            let publish = cfg.publish.as_ref().context("[ha] needs [publish]")?;
            Some((coordinator, term, crate::ha::role::source(publish)?))
        }
        None => None,
    };
    let standby = matches!(ha, Some((_, None, _)));
    let publisher = match &cfg.publish {
        // A standby publishes nothing: the sequencer does.
        Some(_) if standby => None,
        Some(p) => {
            let mut keys = vec![signer.verifier()];
            keys.extend(cfg.load_next_log_key()?.map(|k| k.verifier()));
            let publisher = Publisher::open(p, &keys).await?;
            Some(Arc::new(if ha.is_some() {
                publisher.replacing_unfenced()
            } else {
                publisher
            }))
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
    // Under [ha] every acknowledgement already follows the upload and the fence.
    let ack_gate = publisher
        .as_ref()
        .filter(|p| p.ack_after_publish && ha.is_none())
        .map(|p| Arc::clone(p) as Arc<dyn AckGate>);
    let fence_watch = crate::ha::role::FenceWatch::default();
    let write = match &ha {
        None => WritePath::Store,
        Some((_, None, _)) => WritePath::Standby,
        Some((coordinator, Some(term), source)) => WritePath::Wrapped(crate::ha::role::sequencer_path(
            coordinator.clone(),
            Arc::clone(term),
            cfg.publish.as_ref().context("[ha] needs [publish]")?,
            source.clone(),
            signer.verifier(),
            Arc::clone(&fence_watch),
        )),
    };
    let vkey = signer.verifier();
    let log = match Log::open(&cfg, o.clone(), signer, ack_gate, write).await {
        Ok(log) => log,
        Err(e) => match &ha {
            // A sequencer that cannot take over (etcd or the store failed
            // it) gives the term back and rejoins as a standby.
            Some((coordinator, Some(term), _)) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "cannot start sequencing: resigning and restarting as a standby"
                );
                let _ = coordinator.revoke(term).await;
                // Not at once: a standby that wins again at once would fail the same way.
                tokio::time::sleep(coordinator.lease_ttl()).await;
                return Err(crate::ha::role::restart(None));
            }
            _ => return Err(e),
        },
    };
    if let Some((coordinator, term, source)) = &ha {
        match term {
            None => {
                let (log, coordinator, source) = (Arc::clone(&log), coordinator.clone(), source.clone());
                tokio::spawn(async move {
                    let term = crate::ha::role::standby(log, coordinator, source, vkey).await;
                    let e = crate::ha::role::restart(Some(&term));
                    tracing::error!(error = format!("{e:#}"), "exiting");
                    std::process::exit(1);
                });
            }
            Some(term) => {
                let fence = crate::util::sync::lock(&fence_watch, "fence watch").take();
                let lease_ttl = coordinator.lease_ttl();
                let (l, t, c) = (Arc::clone(&log), Arc::clone(term), coordinator.clone());
                tokio::spawn(async move {
                    crate::ha::role::sequencer(Arc::clone(&l), Arc::clone(&t), fence).await;
                    // Nothing more is acknowledged: the fence refuses.
                    l.halt_for_step_down();
                    let _ = c.revoke(&t).await;
                    let e = crate::ha::role::restart(None);
                    tracing::error!(error = format!("{e:#}"), "exiting");
                    std::process::exit(1);
                });
                if let Some(p) = &publisher {
                    tokio::spawn(crate::follow::publish::recheck_after_takeover(
                        Arc::clone(p),
                        Arc::clone(&log),
                        log.published().size,
                        lease_ttl * 2,
                    ));
                }
            }
        }
    }
    // Nothing is signed before the store's history is known to be a prefix
    // of this log's (a data directory that lost entries must not sign a
    // checkpoint the store contradicts).
    if let Some(p) = &publisher {
        p.check_before_signing(log.as_ref(), log.metrics()).await;
    }
    if !standby {
        log.begin(cfg.frozen, registry).await?;
    }
    spawn_sighup_reload(Arc::clone(&log));
    let shutdown = crate::util::signal::shutdown_signal();
    let witnessing = witnessing.filter(|_| !standby);
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
    // A sequencer that stops gives its term back: a standby takes over at
    // once instead of after the lease.
    if let Some((coordinator, Some(term), _)) = &ha
        && let Err(e) = coordinator.revoke(term).await
    {
        tracing::warn!(error = %crate::util::error_chain(&e), "could not resign; the lease lapses on its own");
    }
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
