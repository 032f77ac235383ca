//! The log side of C2SP tlog-witness (docs/SPECS.md §5.5): after checkpoints
//! advance, send each to every configured witness with the consistency
//! proof from the size that witness last cosigned, collect the cosignatures
//! that verify under the witness's key, and keep
//! * the latest checkpoint with whatever cosignatures it got (served at
//!   `/checkpoint`), and
//! * the latest checkpoint that meets the policy (`k` of `n`), served at
//!   `/v1/checkpoint/witnessed` and used by `?witnessed=true` receipts.
//!
//! A witness's last size starts from what the log stored (else 0); a `409` tells it, and the
//! request is rebuilt from there. A `422` on a checkpoint the log believes
//! consistent is a fork alarm and is logged as an error.

use crate::config::WitnessConfig;
use crate::log::{LogView, ReadError};
use crate::obs::metrics::Metrics;
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::note::{Note, parse_signature_lines, verify_signature};
use provlog_tlog::witness::AddCheckpoint;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The witness client's state as stored in the log's data directory
/// (`meta/witnesses`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Saved {
    known: std::collections::BTreeMap<String, u64>,
    latest: Option<Cosigned>,
    witnessed: Option<Cosigned>,
}

/// Longest wait before a checkpoint some witness did not cosign is sent
/// again.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// A checkpoint note with the cosignature lines collected for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cosigned {
    /// Tree size.
    pub size: u64,
    /// The note: log signature first, then cosignatures.
    pub note: String,
    /// How many configured witnesses cosigned it.
    pub cosigners: usize,
}

/// Why the witness configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum WitnessConfigError {
    /// A key that does not parse.
    #[error("witness {url}: key")]
    Key {
        /// The witness.
        url: String,
        /// Why.
        #[source]
        source: provlog_tlog::keys::KeyError,
    },
    /// A key of another type.
    #[error("witness {url}: key must be a cosignature/v1 (type 0x04) or ML-DSA-44 subtree/v1 (type 0x06) vkey")]
    NotCosignature {
        /// The witness.
        url: String,
    },
    /// More cosignatures required than witnesses configured.
    #[error("witness_policy {policy} is more than the {witnesses} witnesses")]
    Policy {
        /// The policy.
        policy: usize,
        /// The witnesses.
        witnesses: usize,
    },
}

/// The witnesses, the policy, and what has been collected.
#[derive(Debug)]
pub struct Witnessing {
    /// Configured witnesses.
    pub witnesses: Vec<(String, VerifierKey)>,
    /// Cosignatures required for a checkpoint to count as witnessed (with
    /// a tlog-policy quorum: the fewest that can meet it).
    pub policy: usize,
    /// The C2SP tlog-policy quorum, if the witnesses came from one.
    quorum: Option<Arc<provlog_tlog::policy::WitnessPolicy>>,
    /// How often to send the latest checkpoint.
    pub interval: Duration,
    latest: RwLock<Option<Arc<Cosigned>>>,
    witnessed: RwLock<Option<Arc<Cosigned>>>,
}

impl Witnessing {
    /// Witnessing with the given witnesses, `policy` of them required
    /// (default all).
    ///
    /// # Errors
    /// A key that is not a cosignature/v1 vkey, or a policy above `n`.
    pub fn new(cfg: &[WitnessConfig], policy: Option<usize>, interval: Duration) -> Result<Self, WitnessConfigError> {
        Self::with_quorum(cfg, policy, None, interval)
    }

    /// [`Witnessing::new`] where a C2SP tlog-policy `quorum`, if given,
    /// decides which checkpoints are witnessed (instead of a count).
    ///
    /// # Errors
    /// As [`Witnessing::new`].
    pub fn with_quorum(
        cfg: &[WitnessConfig],
        policy: Option<usize>,
        quorum: Option<Arc<provlog_tlog::policy::WitnessPolicy>>,
        interval: Duration,
    ) -> Result<Self, WitnessConfigError> {
        let witnesses = cfg
            .iter()
            .map(|w| {
                let k = VerifierKey::parse(&w.key).map_err(|source| WitnessConfigError::Key {
                    url: w.url.clone(),
                    source,
                })?;
                if k.alg() != provlog_tlog::keys::ALG_COSIGNATURE_V1 && k.alg() != provlog_tlog::mldsa::ALG_MLDSA44 {
                    return Err(WitnessConfigError::NotCosignature { url: w.url.clone() });
                }
                Ok((w.url.trim_end_matches('/').to_owned(), k))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policy = quorum
            .as_ref()
            .map(|q| q.min_cosignatures())
            .or(policy)
            .unwrap_or(witnesses.len());
        if policy > witnesses.len() {
            return Err(WitnessConfigError::Policy {
                policy,
                witnesses: witnesses.len(),
            });
        }
        Ok(Self {
            witnesses,
            policy,
            quorum,
            interval,
            latest: RwLock::new(None),
            witnessed: RwLock::new(None),
        })
    }

    /// The latest checkpoint sent to witnesses, with its cosignatures.
    #[must_use]
    pub fn latest(&self) -> Option<Arc<Cosigned>> {
        crate::util::sync::read(&self.latest, "cosigned checkpoint").clone()
    }

    /// The latest checkpoint with at least `policy` cosignatures.
    #[must_use]
    pub fn witnessed(&self) -> Option<Arc<Cosigned>> {
        crate::util::sync::read(&self.witnessed, "witnessed checkpoint").clone()
    }

    /// What survives a restart: each witness's last cosigned size (by URL)
    /// and the cosigned checkpoints.
    fn saved(&self, known: &[u64]) -> Saved {
        Saved {
            known: self
                .witnesses
                .iter()
                .map(|(u, _)| u.clone())
                .zip(known.iter().copied())
                .collect(),
            latest: self.latest().map(|c| (*c).clone()),
            witnessed: self.witnessed().map(|c| (*c).clone()),
        }
    }

    /// Takes back what [`Witnessing::saved`] stored: sizes of witnesses still
    /// configured, and the checkpoints with their cosigners recounted under
    /// the witnesses configured now (a witness removed from the config no
    /// longer counts). Returns the known sizes.
    fn restore(&self, saved: Saved) -> Vec<u64> {
        let keys: Vec<VerifierKey> = self.witnesses.iter().map(|(_, k)| k.clone()).collect();
        let recount = |c: Cosigned| -> Option<Arc<Cosigned>> {
            let cosigners = provlog_tlog::witness::require_cosignatures(c.note.as_bytes(), &keys, 0).ok()?;
            Some(Arc::new(Cosigned { cosigners, ..c }))
        };
        if let Some(c) = saved.latest.and_then(recount) {
            *crate::util::sync::write(&self.latest, "cosigned checkpoint") = Some(c);
        }
        if let Some(c) = saved.witnessed.and_then(recount).filter(|c| self.met(c)) {
            *crate::util::sync::write(&self.witnessed, "witnessed checkpoint") = Some(c);
        }
        self.witnesses
            .iter()
            .map(|(u, _)| saved.known.get(u).copied().unwrap_or(0))
            .collect()
    }

    /// Loads what the witness client stored in the log's data directory
    /// (see [`Witnessing::restore`]) before the log serves, so a restart
    /// serves the witnessed checkpoint at once; returns each witness's last
    /// cosigned size, for [`run`].
    pub async fn load(&self, log: &impl LogView) -> Vec<u64> {
        // Restored from the data directory, so that a restart neither loses the
        // witnessed checkpoint nor relearns each size from a 409.
        match log.witness_state().await {
            Ok(Some(bytes)) => match serde_json::from_slice::<Saved>(&bytes) {
                Ok(saved) => self.restore(saved),
                Err(e) => {
                    tracing::warn!(error = %e, "the stored witness state does not parse; starting afresh");
                    vec![0; self.witnesses.len()]
                }
            },
            Ok(None) => vec![0; self.witnesses.len()],
            Err(e) => {
                tracing::warn!(error = %crate::util::error_chain(&e), "cannot read the stored witness state; starting afresh");
                vec![0; self.witnesses.len()]
            }
        }
    }

    /// Whether `c` counts as witnessed: the quorum of the tlog-policy, or
    /// at least `policy` cosignatures.
    fn met(&self, c: &Cosigned) -> bool {
        match &self.quorum {
            Some(q) => Note::parse(c.note.as_bytes()).is_ok_and(|n| q.quorum_met(&q.cosigners(&n))),
            None => c.cosigners >= self.policy,
        }
    }

    fn record(&self, c: Cosigned) {
        let c = Arc::new(c);
        if self.met(&c) {
            *crate::util::sync::write(&self.witnessed, "witnessed checkpoint") = Some(Arc::clone(&c));
        }
        *crate::util::sync::write(&self.latest, "cosigned checkpoint") = Some(c);
    }
}

/// Sends checkpoints to the witnesses until the process ends, starting from
/// `known`, each witness's last cosigned size ([`Witnessing::load`]).
pub async fn run<L: LogView>(w: Arc<Witnessing>, log: Arc<L>, metrics: Arc<Metrics>, known: Vec<u64>) {
    if w.witnesses.is_empty() {
        return;
    }
    let client = match crate::client::http_client(Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the witness HTTP client");
            return;
        }
    };
    // What each witness last cosigned, as far as the log knows.
    let mut known = known;
    // The size every witness cosigned; a size some witness did not cosign
    // is tried again with back-off (doubling from the interval up to
    // MAX_RETRY_WAIT) until all cosign it or a newer checkpoint supersedes
    // it, so a transient failure on an idle log does not leave the
    // witnessed checkpoint stale.
    let mut done = w
        .latest()
        .filter(|c| c.cosigners == w.witnesses.len())
        .map_or(0, |c| c.size);
    let mut retry: Option<(u64, std::time::Instant, Duration)> = None;
    let mut tick = tokio::time::interval(w.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = log.published();
        if p.size == 0 || p.size == done || p.checkpoint.is_empty() {
            continue;
        }
        if let Some((size, at, _)) = retry
            && size == p.size
            && std::time::Instant::now() < at
        {
            continue;
        }
        let Ok(note) = Note::parse(p.checkpoint.as_bytes()) else {
            continue;
        };
        let text = note.text().to_owned();
        let sends = w.witnesses.iter().zip(known.iter().copied()).map(|((url, key), k)| {
            let (client, log, metrics, text, checkpoint, size) = (
                client.clone(),
                Arc::clone(&log),
                Arc::clone(&metrics),
                text.clone(),
                p.checkpoint.clone(),
                p.size,
            );
            async move {
                let started = std::time::Instant::now();
                let r = send(&client, log.as_ref(), url, key, k, size, &checkpoint, &text).await;
                metrics.witness(url, r.is_ok(), started.elapsed());
                r
            }
        });
        let results = futures_util::future::join_all(sends).await;
        let mut lines = String::new();
        let mut cosigners = 0;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok((size, line)) => {
                    known[i] = size;
                    lines.push_str(&line);
                    cosigners += 1;
                }
                Err(Failed { reported, why }) => {
                    if let Some(s) = reported {
                        known[i] = s;
                    }
                    // A witness that cosigned a larger tree of this log saw
                    // a history this log no longer has: signing on would
                    // make a second one.
                    if let SendError::Ahead { witness, size } = &why {
                        log.halt(format!(
                            "witness {} has cosigned a tree of {witness} entries, ahead of this log's {size}",
                            w.witnesses[i].0
                        ));
                    }
                    tracing::warn!(witness = %w.witnesses[i].0, tree_size = p.size, error = %crate::util::error_chain(&why), "witness did not cosign");
                }
            }
        }
        w.record(Cosigned {
            size: p.size,
            note: format!("{}{lines}", p.checkpoint),
            cosigners,
        });
        match serde_json::to_vec(&w.saved(&known)) {
            Ok(bytes) => {
                if let Err(e) = log.save_witness_state(bytes).await {
                    tracing::warn!(error = %crate::util::error_chain(&e), "cannot store the witness state");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode the witness state"),
        }
        if cosigners == w.witnesses.len() {
            done = p.size;
            retry = None;
        } else {
            let wait = match retry {
                Some((size, _, wait)) if size == p.size => (wait * 2).min(MAX_RETRY_WAIT),
                _ => w.interval,
            };
            retry = Some((p.size, std::time::Instant::now() + wait, wait));
        }
    }
}

/// Why a witness did not cosign.
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("consistency proof {from} -> {size}")]
    Proof {
        from: u64,
        size: u64,
        #[source]
        source: ReadError,
    },
    #[error("sending to the witness")]
    Transport(#[source] reqwest::Error),
    #[error("bad response")]
    BadResponse(#[source] provlog_tlog::note::NoteError),
    #[error("no cosignature in the response verifies under its key")]
    NoValidCosignature,
    #[error("409 with a bad size body {0:?}")]
    BadSize(String),
    #[error("the witness is at size {witness}, ahead of this log's {size}")]
    Ahead { witness: u64, size: u64 },
    #[error("422: {0}")]
    Inconsistent(String),
    #[error("{status}: {body}")]
    Status { status: u16, body: String },
    #[error("too many 409s")]
    TooManyConflicts,
}

/// A failed exchange, with the size the witness reported, if it did.
#[derive(Debug)]
struct Failed {
    reported: Option<u64>,
    why: SendError,
}

/// The cosignature of `key` in a witness's `200` answer: the first line
/// that verifies under it. Repeats and lines by other keys are ignored, so
/// a checkpoint carries at most one cosignature per configured witness
/// (a note with more than 100 signature lines is one no parser accepts).
fn cosignature_line(body: &str, text: &str, key: &VerifierKey) -> Result<String, SendError> {
    parse_signature_lines(body)
        .map_err(SendError::BadResponse)?
        .into_iter()
        .find(|s| verify_signature(text, s, key).is_some())
        .map(|s| s.to_line())
        .ok_or(SendError::NoValidCosignature)
}

/// One add-checkpoint exchange, retried from the size a `409` reports.
/// Returns the witness's new size and its verified cosignature line(s), or
/// the size it reported (if any) and why it failed.
#[expect(
    clippy::too_many_arguments,
    reason = "one exchange's whole context; a struct would only rename it"
)]
async fn send(
    client: &reqwest::Client,
    log: &impl LogView,
    url: &str,
    key: &VerifierKey,
    mut old: u64,
    size: u64,
    checkpoint: &str,
    text: &str,
) -> Result<(u64, String), Failed> {
    let mut reported = None;
    let fail = |reported: Option<u64>, why: SendError| Failed { reported, why };
    for _ in 0..3 {
        let from = old.min(size);
        let proof = log
            .consistency_proof(from, size)
            .await
            .map_err(|source| fail(reported, SendError::Proof { from, size, source }))?;
        let body = AddCheckpoint {
            old: from,
            proof,
            note: checkpoint.as_bytes().to_vec(),
        }
        .to_bytes();
        let r = client
            .post(format!("{url}/add-checkpoint"))
            .body(body)
            .send()
            .await
            .map_err(|e| fail(reported, SendError::Transport(e)))?;
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = r.text().await.unwrap_or_default();
        match status {
            200 => {
                return cosignature_line(&body, text, key)
                    .map(|line| (size, line))
                    .map_err(|why| fail(reported, why));
            }
            409 if ctype.starts_with("text/x.tlog.size") => {
                let n: u64 = body
                    .trim_end()
                    .parse()
                    .map_err(|_| fail(reported, SendError::BadSize(body.clone())))?;
                if n > size {
                    return Err(fail(Some(n), SendError::Ahead { witness: n, size }));
                }
                reported = Some(n);
                old = n;
            }
            422 => {
                tracing::error!(
                    witness = url,
                    tree_size = size,
                    "a witness says this checkpoint is inconsistent with one it cosigned: possible fork"
                );
                return Err(fail(reported, SendError::Inconsistent(body.trim_end().to_owned())));
            }
            s => {
                return Err(fail(
                    reported,
                    SendError::Status {
                        status: s,
                        body: body.trim_end().to_owned(),
                    },
                ));
            }
        }
    }
    Err(fail(reported, SendError::TooManyConflicts))
}

#[cfg(test)]
mod tests {
    use super::{SendError, cosignature_line};
    use provlog_tlog::keys::{ALG_COSIGNATURE_V1, SignerKey};
    use provlog_tlog::witness::cosign;

    #[test]
    fn a_witness_that_repeats_its_cosignature_adds_one_line() {
        let text = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let w = SignerKey::from_seed("w1", ALG_COSIGNATURE_V1, [3; 32]).expect("key");
        let other = SignerKey::from_seed("w2", ALG_COSIGNATURE_V1, [4; 32]).expect("key");
        let line = cosign(&w, text, 1_700_000_000).expect("cosign");
        let body = format!("{}{}", cosign(&other, text, 1).expect("cosign"), line.repeat(50));
        assert_eq!(cosignature_line(&body, text, &w.verifier()).expect("found"), line);
        assert!(matches!(
            cosignature_line(&body.replace(&line, ""), text, &w.verifier()),
            Err(SendError::NoValidCosignature)
        ));
    }
}
