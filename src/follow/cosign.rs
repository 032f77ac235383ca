//! The log side of C2SP tlog-witness (SPECS.md §5.5): after checkpoints
//! advance, send each to every configured witness with the consistency
//! proof from the size that witness last cosigned, collect the cosignatures
//! that verify under the witness's key, and keep
//! * the latest checkpoint with whatever cosignatures it got (served at
//!   `/checkpoint`), and
//! * the latest checkpoint that meets the policy (`k` of `n`), served at
//!   `/v1/checkpoint/witnessed` and used by `?witnessed=true` receipts.
//!
//! A witness's last size starts unknown (0); a `409` tells it, and the
//! request is rebuilt from there. A `422` on a checkpoint the log believes
//! consistent is a fork alarm and is logged as an error.

use crate::log::Log;
use provlog_proto::keys::VerifierKey;
use provlog_proto::merkle::consistency_proof;
use provlog_proto::note::{Note, parse_signature_lines, verify_signature};
use provlog_proto::witness::AddCheckpoint;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// A configured witness.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Base URL of its submission prefix (`…/add-checkpoint` is appended).
    pub url: String,
    /// Its cosignature/v1 vkey (type 0x04).
    pub key: String,
}

/// A checkpoint note with the cosignature lines collected for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// Tree size.
    pub size: u64,
    /// The note: log signature first, then cosignatures.
    pub note: String,
    /// How many configured witnesses cosigned it.
    pub cosigners: usize,
}

/// The witnesses, the policy, and what has been collected.
#[derive(Debug)]
pub struct Witnessing {
    /// Configured witnesses.
    pub witnesses: Vec<(String, VerifierKey)>,
    /// Cosignatures required for a checkpoint to count as witnessed.
    pub policy: usize,
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
    pub fn new(cfg: &[WitnessConfig], policy: Option<usize>, interval: Duration) -> anyhow::Result<Self> {
        let witnesses = cfg
            .iter()
            .map(|w| {
                let k = VerifierKey::parse(&w.key).map_err(|e| anyhow::anyhow!("witness {}: key: {e}", w.url))?;
                if k.alg() != provlog_proto::keys::ALG_COSIGNATURE_V1 {
                    anyhow::bail!("witness {}: key must be a cosignature/v1 (type 0x04) vkey", w.url);
                }
                Ok((w.url.trim_end_matches('/').to_owned(), k))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let policy = policy.unwrap_or(witnesses.len());
        if policy > witnesses.len() {
            anyhow::bail!("witness_policy {policy} is more than the {} witnesses", witnesses.len());
        }
        Ok(Self {
            witnesses,
            policy,
            interval,
            latest: RwLock::new(None),
            witnessed: RwLock::new(None),
        })
    }

    /// The latest checkpoint sent to witnesses, with its cosignatures.
    #[must_use]
    pub fn latest(&self) -> Option<Arc<Cosigned>> {
        self.latest.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The latest checkpoint with at least `policy` cosignatures.
    #[must_use]
    pub fn witnessed(&self) -> Option<Arc<Cosigned>> {
        self.witnessed.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn record(&self, c: Cosigned) {
        let c = Arc::new(c);
        if c.cosigners >= self.policy {
            *self.witnessed.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&c));
        }
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(c);
    }
}

/// Sends checkpoints to the witnesses until the process ends.
pub async fn run(log: Arc<Log>) {
    let Some(w) = log.witnessing.as_ref() else { return };
    if w.witnesses.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the witness HTTP client");
            return;
        }
    };
    // What each witness last cosigned, as far as the log knows.
    let mut known: Vec<u64> = vec![0; w.witnesses.len()];
    let mut done = 0u64;
    let mut tick = tokio::time::interval(w.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = log.published();
        if p.size == 0 || p.size == done || p.checkpoint.is_empty() {
            continue;
        }
        let Ok(note) = Note::parse(p.checkpoint.as_bytes()) else {
            continue;
        };
        let text = note.text().to_owned();
        let sends = w.witnesses.iter().zip(known.iter().copied()).map(|((url, key), k)| {
            let (client, log, text, checkpoint, size) = (
                client.clone(),
                Arc::clone(&log),
                text.clone(),
                p.checkpoint.clone(),
                p.size,
            );
            async move {
                let started = std::time::Instant::now();
                let r = send(&client, &log, url, key, k, size, &checkpoint, &text).await;
                log.metrics.witness(url, r.is_ok(), started.elapsed());
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
                Err((size, why)) => {
                    if let Some(s) = size {
                        known[i] = s;
                    }
                    tracing::warn!(witness = %w.witnesses[i].0, tree_size = p.size, error = %why, "witness did not cosign");
                }
            }
        }
        w.record(Cosigned {
            size: p.size,
            note: format!("{}{lines}", p.checkpoint),
            cosigners,
        });
        done = p.size;
    }
}

/// One add-checkpoint exchange, retried from the size a `409` reports.
/// Returns the witness's new size and its verified cosignature line(s), or
/// the size it reported (if any) and why it failed.
#[allow(clippy::too_many_arguments)]
async fn send(
    client: &reqwest::Client,
    log: &Arc<Log>,
    url: &str,
    key: &VerifierKey,
    mut old: u64,
    size: u64,
    checkpoint: &str,
    text: &str,
) -> Result<(u64, String), (Option<u64>, String)> {
    let mut reported = None;
    for _ in 0..3 {
        let from = old.min(size);
        let proof = log
            .read(move |l| consistency_proof(from, size, l.store.as_ref()).map_err(crate::log::proof_err))
            .await
            .map_err(|e| (reported, format!("consistency proof {from} -> {size}: {e}")))?;
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
            .map_err(|e| (reported, e.to_string()))?;
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
                let sigs = parse_signature_lines(&body).map_err(|e| (reported, format!("bad response: {e}")))?;
                let mut good = String::new();
                for s in sigs {
                    if verify_signature(text, &s, key).is_some() {
                        good.push_str(&s.to_line());
                    }
                }
                if good.is_empty() {
                    return Err((reported, "no cosignature in the response verifies under its key".into()));
                }
                return Ok((size, good));
            }
            409 if ctype.starts_with("text/x.tlog.size") => {
                let n: u64 = body
                    .trim_end()
                    .parse()
                    .map_err(|_| (reported, format!("409 with a bad size body {body:?}")))?;
                if n > size {
                    return Err((
                        Some(n),
                        format!("the witness is at size {n}, ahead of this log's {size}"),
                    ));
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
                return Err((reported, format!("422: {}", body.trim_end())));
            }
            s => return Err((reported, format!("{s}: {}", body.trim_end()))),
        }
    }
    Err((reported, "too many 409s".into()))
}
