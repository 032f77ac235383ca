//! A node's role under `[ha]`, from start to step-down (docs/HA.md).
//!
//! A node starts as a **standby** unless the process it replaced handed it
//! a term ([`TERM_ENV`]): it serves reads, refuses writes (`503
//! not_sequencer`, naming the sequencer), follows the fenced checkpoint
//! from the object store into its own store, and campaigns. On winning it
//! catches up to the fenced checkpoint and restarts itself (the same
//! command line) as the **sequencer**, handing the term over, because the
//! sequencer's start is the one path that derives its in-memory state from
//! the durable store. A sequencer whose batch is not fenced, or whose term
//! lapses, restarts itself as a standby the same way: its store holds only
//! fenced entries (the local write comes after the fence), so it rejoins
//! from there.

use super::fence::{FenceState, FencedWrites};
use super::follow::{FollowError, catch_up};
use super::{Coordinator, LeaderInfo, Settings, Term};
use crate::client::Source;
use crate::config::{Config, HaConfig, PublishConfig};
use crate::log::sequencer::Durable;
use crate::log::{Log, MakeDurable};
use crate::obs::metrics::HaRole;
use anyhow::{Context, Result};
use provlog_storage::Store;
use provlog_tlog::checkpoint::{LogKeys, open_checkpoint_with};
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The environment variable through which a node that won the election
/// hands its term (`LEASE:REVISION`) to the process that replaces it.
pub const TERM_ENV: &str = "PROVLOG_HA_TERM";

/// How often a standby reads the fenced checkpoint and the leader.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// The etcd settings of `[ha]` for the log `origin`.
#[must_use]
pub fn settings(ha: &HaConfig, origin: &str) -> Settings {
    Settings {
        endpoints: ha.etcd.clone(),
        prefix: ha
            .prefix
            .clone()
            .unwrap_or_else(|| format!("/provlog/{origin}"))
            .trim_end_matches('/')
            .to_owned(),
        lease_ttl: Duration::from_secs(ha.lease_ttl_s),
        request_timeout: Duration::from_millis(ha.request_timeout_ms),
        me: LeaderInfo {
            id: ha.node_id.clone(),
            url: ha.advertise_url.trim_end_matches('/').to_owned(),
        },
    }
}

/// The term the replaced process handed over, if any (a restart as a
/// standby removes the variable, so it is never claimed twice).
///
/// # Errors
/// A variable that is not `LEASE:REVISION`.
pub fn handed_over() -> Result<Option<(i64, i64)>> {
    let Some(v) = std::env::var_os(TERM_ENV) else {
        return Ok(None);
    };
    let v = v.to_string_lossy().into_owned();
    let parsed = v
        .split_once(':')
        .and_then(|(l, r)| Some((l.parse().ok()?, r.parse().ok()?)))
        .with_context(|| format!("{TERM_ENV}={v:?} is not LEASE:REVISION"))?;
    Ok(Some(parsed))
}

/// The object store the nodes share, for reading.
///
/// # Errors
/// A store URL that cannot be opened.
pub fn source(publish: &PublishConfig) -> Result<Source> {
    Source::open(&publish.url, publish.endpoint.as_deref(), publish.region.as_deref())
        .map(|s| s.with_retries(2))
        .with_context(|| format!("opening the object store {}", publish.url))
}

/// What the sequencer's start hands back: the fenced writer's state.
pub type FenceWatch = Arc<std::sync::Mutex<Option<watch::Receiver<FenceState>>>>;

/// The write path of a sequencer holding `term`: once the store is open,
/// catch it up to the checkpoint fenced in etcd (verified under the keys
/// the store and `configured` give), fence the stored checkpoint if etcd
/// holds none yet (a log that turns `[ha]` on), then write through
/// [`FencedWrites`]. The fenced writer's state lands in `watch`.
#[must_use]
pub fn sequencer_path(
    coordinator: Coordinator,
    term: Arc<Term>,
    publish: &PublishConfig,
    source: Source,
    configured: provlog_tlog::keys::VerifierKey,
    watch_out: FenceWatch,
) -> MakeDurable {
    let url = publish.url.clone();
    let endpoint = publish.endpoint.clone();
    let region = publish.region.clone();
    Box::new(
        move |store: Arc<Store>| -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Durable>>> {
            Box::pin(async move {
                let objects = crate::client::store::open_store(&url, endpoint.as_deref(), region.as_deref())
                    .with_context(|| format!("opening the object store {url}"))?;
                let fenced = coordinator.fenced().await.context("reading the fenced checkpoint")?;
                let revision = if let Some(f) = fenced {
                    let keys = store_keys(&store, &configured).await?;
                    let n = catch_up(&store, &source, &f.note, &keys)
                        .await
                        .context("catching up to the fenced checkpoint before sequencing")?;
                    if n > 0 {
                        tracing::info!(entries = n, "caught up to the fenced checkpoint");
                    }
                    f.revision
                } else {
                    let s = Arc::clone(&store);
                    let note = tokio::task::spawn_blocking(move || s.latest_checkpoint()).await??;
                    match note {
                        // A log that turns [ha] on: its stored checkpoint
                        // is the first one fenced.
                        Some(note) => coordinator
                            .fence(&term, 0, &note)
                            .await
                            .context("fencing the stored checkpoint (the first under [ha])")?,
                        None => 0,
                    }
                };
                let (writes, rx) = FencedWrites::new(
                    store,
                    objects,
                    !url.starts_with("file:"),
                    coordinator,
                    term,
                    revision,
                    tokio::runtime::Handle::current(),
                );
                *crate::util::sync::lock(&watch_out, "fence watch") = Some(rx);
                Ok(writes as Arc<dyn Durable>)
            })
        },
    )
}

/// The log's keys as the store knows them (its announced rotations over
/// the configured key).
async fn store_keys(store: &Arc<Store>, configured: &provlog_tlog::keys::VerifierKey) -> Result<LogKeys> {
    let s = Arc::clone(store);
    let announced = tokio::task::spawn_blocking(move || crate::log::keys::announcements(&s))
        .await?
        .context("reading the log's key rotations")?;
    Ok(crate::log::keys::log_keys(configured, &announced))
}

/// Replaces this process with a new run of the same command line: as the
/// sequencer holding `term`, or as a standby. Returns only if the exec
/// failed.
pub fn restart(term: Option<&Term>) -> anyhow::Error {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return anyhow::Error::new(e).context("finding this program to restart it"),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(std::env::args_os().skip(1));
    match term {
        Some(t) => {
            cmd.env(TERM_ENV, format!("{}:{}", t.lease, t.revision));
        }
        None => {
            cmd.env_remove(TERM_ENV);
        }
    }
    tracing::info!(
        role = if term.is_some() { "sequencer" } else { "standby" },
        "restarting in the new role"
    );
    anyhow::Error::new(cmd.exec()).context("restarting this process in its new role")
}

/// A standby's work until it wins the election: follow the fenced
/// checkpoint into the store and the read view, keep the sequencer's URL
/// current for refusals, and campaign. Returns the term it won, with the
/// store caught up to the fenced checkpoint (no one else can fence meanwhile).
pub async fn standby(
    log: Arc<Log>,
    coordinator: Coordinator,
    source: Source,
    configured: provlog_tlog::keys::VerifierKey,
) -> Term {
    log.metrics().ha_role(HaRole::Standby);
    loop {
        let follower = tokio::spawn(follow_loop(
            Arc::clone(&log),
            coordinator.clone(),
            source.clone(),
            configured.clone(),
        ));
        let term = coordinator.campaign().await;
        // One writer at a time: the loop's catch-up ends before the last one.
        follower.abort();
        let _ = follower.await;
        tracing::info!(term = term.revision, "won the election; catching up before sequencing");
        // Caught up to what etcd holds now: nothing can be fenced over it
        // while this term lasts.
        match follow_once(&log, &coordinator, &source, &configured).await {
            Ok(()) => return term,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "cannot catch up to the fenced checkpoint: resigning"
                );
                let _ = coordinator.resign(term).await;
                tokio::time::sleep(coordinator.lease_ttl()).await;
            }
        }
    }
}

/// Follows the fenced checkpoint for as long as it runs.
async fn follow_loop(
    log: Arc<Log>,
    coordinator: Coordinator,
    source: Source,
    configured: provlog_tlog::keys::VerifierKey,
) {
    let mut last_error: Option<String> = None;
    loop {
        match follow_once(&log, &coordinator, &source, &configured).await {
            Err(e) => {
                let msg = format!("{e:#}");
                if last_error.as_ref() != Some(&msg) {
                    tracing::warn!(error = %msg, "standby: following the fenced checkpoint failed; retrying");
                    last_error = Some(msg);
                }
            }
            Ok(()) => last_error = None,
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// One step of a standby: the leader's URL, then the fenced checkpoint
/// into the store and the read view.
async fn follow_once(
    log: &Arc<Log>,
    coordinator: &Coordinator,
    source: &Source,
    configured: &provlog_tlog::keys::VerifierKey,
) -> Result<()> {
    let leader = coordinator.leader().await?;
    log.set_leader(leader.map(|(l, _)| l.url));
    let Some(fenced) = coordinator.fenced().await? else {
        return Ok(());
    };
    let store = log.follower_store();
    let keys = store_keys(&store, configured).await?;
    let (cp, _) = open_checkpoint_with(&fenced.note, &keys).map_err(FollowError::Checkpoint)?;
    log.metrics().ha_fenced(cp.size, store.size());
    if cp.size > log.published().size {
        // The lag gauge keeps what this poll found: how far behind the
        // standby was, not the zero it is just after catching up.
        catch_up(&store, source, &fenced.note, &keys).await?;
        log.follow_store().await?;
    }
    Ok(())
}

/// A sequencer's watch: returns (to restart as a standby) when a batch was
/// not fenced or the term lapsed; meanwhile reports the lease.
pub async fn sequencer(log: Arc<Log>, term: Arc<Term>, fence: Option<watch::Receiver<FenceState>>) {
    let metrics = Arc::clone(log.metrics());
    metrics.ha_role(HaRole::Sequencer);
    metrics.ha_takeover();
    let stopped = async {
        let Some(mut rx) = fence else {
            return std::future::pending().await;
        };
        loop {
            {
                let s = rx.borrow_and_update();
                metrics.ha_fenced(s.size, s.size);
                if let Some(why) = &s.stopped {
                    tracing::error!(reason = %why, "a batch was not fenced: stepping down");
                    metrics.ha_fence_failed();
                    return;
                }
            }
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    };
    let report = async {
        loop {
            metrics.ha_lease_remaining(term.remaining());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    tokio::select! {
        () = stopped => {}
        () = term.lost() => tracing::error!("the sequencer's term lapsed: stepping down"),
        () = report => {}
    }
}

/// Starts the node's role: connects to etcd and adopts a handed-over
/// term, if any.
///
/// # Errors
/// A bad `[ha]` table; a handed-over term that is no longer this node's
/// (it then starts as a standby after all: the caller restarts).
pub async fn connect(cfg: &Config, ha: &HaConfig) -> Result<(Coordinator, Option<Arc<Term>>)> {
    let coordinator = Coordinator::connect(settings(ha, &cfg.origin))
        .await
        .context("[ha]: connecting to etcd")?;
    let term = match handed_over()? {
        None => None,
        Some((lease, revision)) => match coordinator.adopt(lease, revision).await {
            Ok(t) => Some(Arc::new(t)),
            Err(e) => {
                tracing::warn!(error = %crate::util::error_chain(&e), "the handed-over term is gone: starting as a standby");
                None
            }
        },
    };
    Ok((coordinator, term))
}
