//! `provlog verify`: offline receipt verification.

use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::leaf::Leaf;
use provlog_proto::receipt::{Receipt, VerifiedReceipt, verify_tlog_proof};
use provlog_tlog::checkpoint::LogKeys;
use provlog_tlog::keys::VerifierKey;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["receipt", "credential", "tlog_proof", "cose_receipt", "transparent_statement", "checkpoint", "state_evidence", "refusal", "fork_evidence", "evidence"])))]
pub(super) struct Args {
    /// Receipt JSON as `POST /v1/entries` returned it.
    #[arg(long, conflicts_with_all = ["tlog_proof", "entry", "credential"])]
    receipt: Option<PathBuf>,
    /// A credential answer (`GET /v1/credentials/<fp>`) to check instead.
    #[arg(long, conflicts_with_all = ["tlog_proof", "entry"])]
    credential: Option<PathBuf>,
    /// With --credential (required): the fingerprint the answer must be
    /// about (an answer about another credential fails).
    #[arg(long, requires = "credential")]
    fingerprint: Option<String>,
    /// A C2SP tlog-proof file (use with --entry).
    #[arg(long, requires = "entry")]
    tlog_proof: Option<PathBuf>,
    /// The entry bytes the tlog-proof or COSE receipt is for.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// An RFC 9942 COSE receipt (`GET /v1/entries/<i>/receipt` with
    /// `Accept: application/cose`) to check, with --entry (docs/SCITT.md).
    #[arg(long, requires = "entry", conflicts_with_all = ["receipt", "credential", "tlog_proof", "checkpoint", "state_evidence", "fork_evidence", "refusal"])]
    cose_receipt: Option<PathBuf>,
    /// A SCITT transparent statement (`provlog submit --cose`): a signed
    /// statement with its COSE receipt; checks both signatures (needs
    /// --submitter-key) and the proof (docs/SCITT.md).
    #[arg(long, requires = "submitter_key", conflicts_with_all = ["receipt", "credential", "tlog_proof", "entry", "cose_receipt", "checkpoint", "state_evidence", "fork_evidence", "refusal"])]
    transparent_statement: Option<PathBuf>,
    /// The log's vkey, or a file holding it: any key of the log (its first,
    /// or one its key history announces).
    #[arg(long)]
    log_key: String,
    /// The log's key history (`GET /log-keys`, docs/ROTATION.md), to follow
    /// its key rotations from --log-key; with --url it is fetched from there.
    #[arg(long)]
    log_keys: Option<PathBuf>,
    /// Also check the event's signature with this submitter vkey (or file).
    #[arg(long)]
    submitter_key: Option<String>,
    /// A checkpoint note to check on its own (signature, witnesses).
    #[arg(long, conflicts_with_all = ["receipt", "credential", "tlog_proof", "fork_evidence"])]
    checkpoint: Option<PathBuf>,
    /// State-commitment evidence (from `provlog monitor`) to check.
    #[arg(long, conflicts_with_all = ["receipt", "credential", "tlog_proof", "checkpoint", "fork_evidence"])]
    state_evidence: Option<PathBuf>,
    /// A signed refusal (the `refusal` member of a refused submission's
    /// error, or that whole error body) to check (docs/REFUSALS.md).
    #[arg(long, conflicts_with_all = ["receipt", "credential", "tlog_proof", "checkpoint", "state_evidence", "fork_evidence"])]
    refusal: Option<PathBuf>,
    /// With --refusal: the submission (the JSON the submitter sent) it
    /// must be about.
    #[arg(long, requires = "refusal")]
    submission: Option<PathBuf>,
    /// An evidence bundle (`provlog evidence --out DIR`) to check: its
    /// proofs, and that its report and CSV say what the proofs do.
    #[arg(long, conflicts_with_all = ["receipt", "credential", "tlog_proof", "cose_receipt", "transparent_statement", "checkpoint", "state_evidence", "fork_evidence", "refusal", "witness_policy"])]
    evidence: Option<PathBuf>,
    /// Fork evidence (from `provlog monitor`) to check.
    #[arg(long, conflicts_with_all = ["receipt", "credential", "tlog_proof"])]
    fork_evidence: Option<PathBuf>,
    /// A witness's vkey (or file): cosignature/v1 (type 0x04) or ML-DSA-44
    /// subtree/v1 (type 0x06); repeatable.
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Cosignatures required from the given witnesses (default: all of them).
    #[arg(long)]
    min_witnesses: Option<usize>,
    /// A C2SP tlog-policy file (logs, witnesses, nested k-of-n groups,
    /// quorum) the checkpoint must meet, instead of --witness-key and
    /// --min-witnesses.
    #[arg(long, conflicts_with_all = ["witness_keys", "min_witnesses"])]
    witness_policy: Option<PathBuf>,
    /// With --credential: the oldest state commitment accepted, by this
    /// machine's clock (`30s`, `5m`, …).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    max_age: std::time::Duration,
    /// With --credential: a historical answer about the map in force when
    /// entry AT was logged (`provlog credential --at`): no freshness asked.
    #[arg(long, requires = "credential")]
    at: Option<u64>,
    /// Also check the receipt against what is published now at this URL
    /// (the log, a mirror, a CDN, an object store's web endpoint): its
    /// latest checkpoint must verify, contain the entry at its index and
    /// extend the receipt's checkpoint. With any input, the log's key
    /// history (`log-keys`) is read from there to follow its key rotations.
    #[arg(long, conflicts_with_all = ["credential", "fork_evidence"])]
    url: Option<String>,
}

/// Checks a verified receipt against the checkpoint published at `base`
/// now, with only the hash tiles needed: the published tree must be at
/// least as large, hold the entry's leaf hash at its index, and have the
/// receipt's root as the root of its first `size` leaves.
fn check_published(base: &str, log_key: &provlog_tlog::keys::VerifierKey, v: &VerifiedReceipt) -> Result<u64> {
    use provlog_tlog::merkle::{CompactRange, NodeId};
    use provlog_tlog::tile::TileId;
    let base = base.trim_end_matches('/');
    let rt = crate::util::runtime::current_thread()?;
    rt.block_on(async {
        let source = crate::client::Source::open(base, None, None)?;
        let note = source.checkpoint().await?;
        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(&note, log_key)
            .with_context(|| format!("{base}/checkpoint does NOT verify under the log key"))?;
        if cp.origin != v.checkpoint.origin {
            bail!(
                "{base} publishes {:?}, the receipt is from {:?}",
                cp.origin,
                v.checkpoint.origin
            );
        }
        if cp.size < v.checkpoint.size {
            bail!(
                "{base} publishes a tree of {}, older than the receipt's checkpoint of {}: \
                 the publication is behind, or the log lost entries it acknowledged",
                crate::util::output::count(cp.size, "entry", "entries"),
                v.checkpoint.size
            );
        }
        let mut nodes = CompactRange::node_ids(v.checkpoint.size);
        nodes.push(NodeId {
            level: 0,
            index: v.index,
        });
        let th = crate::client::verified::authenticated_tiles(&source, cp.size - 1, cp.size, &cp.root, &nodes)
            .await
            .with_context(|| format!("the tiles at {base} do NOT match its checkpoint"))?;
        let width = u16::try_from((cp.size - (v.index & !255)).min(256)).unwrap_or(256);
        let tile = th
            .get(&TileId::hash(0, v.index >> 8, width))
            .context("no level-0 tile for the entry")?;
        let k = usize::try_from(v.index & 255).unwrap_or(0) * 32;
        if tile.get(k..k + 32) != Some(v.leaf_hash.as_slice()) {
            bail!(
                "{base} holds another entry at index {}: a split view or a rewritten log",
                v.index
            );
        }
        let old_root = provlog_tlog::merkle::root(v.checkpoint.size, &th)
            .map_err(|e| anyhow::anyhow!("computing the root at {}: {e}", v.checkpoint.size))?;
        if old_root != v.checkpoint.root {
            bail!(
                "the tree at {base} does NOT extend the receipt's checkpoint of size {}: a fork",
                v.checkpoint.size
            );
        }
        Ok(cp.size)
    })
}

/// Checks the witness policy on the checkpoint note, if witnesses (or a
/// tlog-policy file) are given.
fn check_witnesses(a: &Args, note: &str) -> Result<String> {
    if let Some(p) = &a.witness_policy {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let policy = provlog_tlog::policy::WitnessPolicy::parse(&text).with_context(|| format!("{}", p.display()))?;
        let n = provlog_tlog::note::Note::parse(note.as_bytes()).context("the checkpoint note")?;
        let cosigners = policy.cosigners(&n);
        if !policy.logs.is_empty() && !policy.check(&n) && policy.quorum_met(&cosigners) {
            bail!("the checkpoint is NOT signed by any log the witness policy lists");
        }
        if !policy.quorum_met(&cosigners) {
            let mut names: Vec<&str> = cosigners.into_iter().collect();
            names.sort_unstable();
            bail!("the witness policy's quorum is NOT met (valid cosignatures from: {names:?})");
        }
        let mut names: Vec<&str> = cosigners.into_iter().collect();
        names.sort_unstable();
        return Ok(format!(
            ", meeting the witness policy (cosigned by {})",
            names.join(", ")
        ));
    }
    if a.witness_keys.is_empty() {
        if a.min_witnesses.unwrap_or(0) > 0 {
            bail!("--min-witnesses needs --witness-key");
        }
        return Ok(String::new());
    }
    let keys = a
        .witness_keys
        .iter()
        .map(|k| keyfile::read_verifier(k).context("--witness-key"))
        .collect::<Result<Vec<_>>>()?;
    let min = a.min_witnesses.unwrap_or(keys.len());
    let got = provlog_tlog::witness::require_cosignatures(note.as_bytes(), &keys, min)
        .context("the witness policy is NOT met")?;
    Ok(format!(
        ", cosigned by {got} of {}",
        crate::util::output::count(keys.len() as u64, "witness", "witnesses")
    ))
}

/// `verify --refusal`: the log's signature, the submission it names, and
/// with `--url` the registry it names, in the log and (for a refusal of
/// scope) refusing the event again.
fn verify_refusal(a: &Args, f: &std::path::Path, keys: &LogKeys) -> Result<()> {
    use provlog_proto::refusal::SignedRefusal;
    let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
    let v: serde_json::Value =
        provlog_proto::json::parse_strict(&text).with_context(|| format!("{}: not JSON", f.display()))?;
    let v = v.get("error").and_then(|e| e.get("refusal")).cloned().unwrap_or(v);
    let r = SignedRefusal::from_value(&v).with_context(|| format!("{}", f.display()))?;
    // A refusal is no statement about a tree: any key of the log's
    // verified history may have signed it.
    let log_key = keys.current();
    if !keys.iter().any(|(k, _)| r.verify(k).is_ok()) {
        r.verify(log_key).context("the refusal does NOT verify")?;
    }
    let x = &r.refusal;
    let mut line = format!(
        "OK: {} refused the {} of {:?}{} at {} ({}: {}), under the registry at entry {} (tree size {})",
        x.origin,
        x.kind,
        x.submitter,
        x.event_id
            .as_ref()
            .map(|e| format!(" (event_id {e})"))
            .unwrap_or_default(),
        x.refused_at,
        x.code,
        x.message,
        x.policy_index,
        x.tree_size
    );
    let mut submission = None;
    if let Some(p) = &a.submission {
        let b = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let s = provlog_proto::json::parse_strict(&b).with_context(|| format!("{}: not JSON", p.display()))?;
        r.covers(&s).context("the refusal is NOT about this submission")?;
        line.push_str("; it is about this submission");
        submission = Some(s);
    }
    if let Some(url) = &a.url {
        line = format!(
            "{line}{}",
            check_refusal_registry(url, log_key, &r, submission.as_ref())?
        );
    }
    crate::util::output::out(line)?;
    Ok(())
}

/// Fetches the policy leaf a refusal names with its inclusion proof under
/// the log's latest checkpoint, and for a refusal of scope re-runs the
/// scope check of the submission's event under that registry at the
/// refusal's time.
fn check_refusal_registry(
    url: &str,
    log_key: &provlog_tlog::keys::VerifierKey,
    r: &provlog_proto::refusal::SignedRefusal,
    submission: Option<&serde_json::Value>,
) -> Result<String> {
    let base = url.trim_end_matches('/');
    let x = &r.refusal;
    let rt = crate::util::runtime::current_thread()?;
    let (entry, size) = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_secs(30))?;
        let get = |path: String| {
            let client = client.clone();
            async move {
                let resp = client.get(&path).send().await.with_context(|| format!("GET {path}"))?;
                let status = resp.status();
                let body = resp.bytes().await?;
                if !status.is_success() {
                    bail!("GET {path}: {status}");
                }
                Ok::<_, anyhow::Error>(body)
            }
        };
        let note = get(format!("{base}/checkpoint")).await?;
        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint(&note, log_key)
            .with_context(|| format!("{base}/checkpoint does NOT verify under the log key"))?;
        let e: serde_json::Value =
            serde_json::from_slice(&get(format!("{base}/v1/entries/{}", x.policy_index)).await?)?;
        let entry = e["entry"]
            .as_str()
            .and_then(|s| provlog_tlog::b64::decode(s).ok())
            .context("no entry in the answer")?;
        let p: serde_json::Value = serde_json::from_slice(
            &get(format!(
                "{base}/v1/proofs/inclusion?index={}&tree_size={}",
                x.policy_index, cp.size
            ))
            .await?,
        )?;
        let proof = p["proof"]
            .as_array()
            .context("no proof")?
            .iter()
            .map(|h| {
                h.as_str()
                    .and_then(provlog_tlog::b64::decode_array::<32>)
                    .context("a proof hash")
            })
            .collect::<Result<Vec<_>>>()?;
        provlog_tlog::merkle::verify_inclusion(
            x.policy_index,
            cp.size,
            &provlog_tlog::merkle::leaf_hash(&entry),
            &proof,
            &cp.root,
        )
        .map_err(|e| anyhow::anyhow!("the registry entry is NOT in the log's tree: {e}"))?;
        Ok::<_, anyhow::Error>((entry, cp.size))
    })?;
    let Ok(Leaf::Policy(p)) = Leaf::parse(&entry) else {
        bail!("entry {} of the log is NOT a policy leaf", x.policy_index);
    };
    let mut out = format!(
        "; the registry at entry {} is in the log's tree of size {size}",
        x.policy_index
    );
    let reg = provlog_proto::policy::Registry::new(p.policy).context("the logged registry")?;
    let scope = matches!(x.code.as_str(), "out_of_scope" | "submitter_not_valid");
    if let (true, Some(s)) = (scope, submission) {
        let sub = provlog_proto::submission::Submission::from_value(s.clone()).context("the submission")?;
        let at = provlog_proto::time::parse_millis(&x.refused_at).context("refused_at")?;
        match reg.check_scope(&sub.submitter, &sub.event.event, at) {
            Err(e) if e.code() == x.code => {
                out = format!("{out}, and refuses the event again: {e}");
            }
            Err(e) => bail!(
                "that registry refuses the event, but for another reason ({}): {e}",
                e.code()
            ),
            Ok(_) => bail!("that registry does NOT refuse the event: the refusal's reason does not hold"),
        }
    } else {
        out = format!(
            "{out} ({} depends on the log's state at the time; `provlog audit` replays it)",
            x.code
        );
    }
    Ok(out)
}

/// The log's keys, verified from `trusted`: the key history of
/// `--log-keys FILE`, else the one published at `--url`, else `trusted`
/// alone.
fn load_log_keys(a: &Args, trusted: &VerifierKey) -> Result<LogKeys> {
    if let Some(f) = &a.log_keys {
        let text = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        let h: provlog_proto::rotation::KeyHistory =
            serde_json::from_slice(&text).with_context(|| format!("{} is not a key history", f.display()))?;
        return Ok(h.verify(trusted).context("the key history does NOT verify")?.0);
    }
    if let Some(url) = &a.url {
        let rt = crate::util::runtime::current_thread()?;
        return rt.block_on(async {
            let source = crate::client::Source::open(url.trim_end_matches('/'), None, None)?;
            Ok(source.log_keys(trusted).await?)
        });
    }
    Ok(LogKeys::single(trusted.clone()))
}

/// `--cose-receipt FILE --entry FILE`: the receipt's signature by the
/// log's key for its tree size, over the root its inclusion proof leads
/// to from the entry's leaf hash.
fn verify_cose_receipt(a: &Args, f: &std::path::Path, keys: &provlog_tlog::checkpoint::LogKeys) -> Result<()> {
    use provlog_proto::cose_receipt;
    let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
    let Some(e) = &a.entry else {
        bail!("--cose-receipt needs --entry: the entry bytes it is for");
    };
    let entry = std::fs::read(e).with_context(|| format!("reading {}", e.display()))?;
    let v = cose_receipt::verify_with_keys(&bytes, &provlog_tlog::merkle::leaf_hash(&entry), |size| {
        keys.for_size(size)
    })
    .context("COSE receipt does NOT verify")?;
    crate::util::output::out(format_args!(
        "OK: COSE receipt (RFC 9942, RFC9162_SHA256): entry {} is included in the tree of size {} with root {}, signed by {}",
        v.index,
        v.size,
        provlog_tlog::b64::encode(v.root),
        v.issuer
    ))?;
    Ok(())
}

/// `--transparent-statement FILE --submitter-key K`: the statement's
/// signature by the submitter, and its receipt's proof of the leaf rebuilt
/// from the receipt's frame and the statement, signed by the log's key for
/// that size.
fn verify_transparent(a: &Args, f: &std::path::Path, keys: &provlog_tlog::checkpoint::LogKeys) -> Result<()> {
    use provlog_proto::statement;
    let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
    let Some(k) = &a.submitter_key else {
        bail!("--transparent-statement needs --submitter-key: the key the statement is signed with");
    };
    let submitter = keyfile::read_verifier(k).context("--submitter-key")?;
    let v = statement::verify_transparent(&bytes, &submitter, |size| keys.for_size(size))
        .context("transparent statement does NOT verify")?;
    crate::util::output::out(format_args!(
        "OK: transparent statement by {:?} ({}, kid {}) is entry {} of the tree of size {} with root {}, signed by {}",
        v.statement.issuer,
        v.statement.content_type,
        provlog_tlog::hex::encode(&v.statement.kid),
        v.receipt.index,
        v.receipt.size,
        provlog_tlog::b64::encode(v.receipt.root),
        v.receipt.issuer
    ))?;
    Ok(())
}

pub(super) fn run(a: &Args) -> Result<()> {
    let trusted = keyfile::read_verifier(&a.log_key).context("--log-key")?;
    let keys = load_log_keys(a, &trusted)?;
    if let Some(f) = &a.refusal {
        return verify_refusal(a, f, &keys);
    }
    if let Some(f) = &a.cose_receipt {
        return verify_cose_receipt(a, f, &keys);
    }
    if let Some(f) = &a.transparent_statement {
        return verify_transparent(a, f, &keys);
    }
    if let Some(dir) = &a.evidence {
        let (w, min) = super::evidence::witnesses(&a.witness_keys, a.min_witnesses)?;
        let (b, v) = super::evidence::check_dir(
            dir,
            &provlog_proto::evidence::Requirements {
                log_keys: &keys,
                witnesses: &w,
                min_witnesses: min,
            },
        )?;
        let n = v.events.len();
        crate::util::output::out(format_args!(
            "OK: {n} {} from {} proven in its checkpoint of size {}{}, authorized under {} policy {}, consistent with its checkpoint of size {}; report.html and events.csv match",
            if n == 1 { "event" } else { "events" },
            b.origin,
            v.size,
            if v.witnessed > 0 {
                format!(" (cosigned by {} of {} witnesses)", v.witnessed, w.len())
            } else {
                String::new()
            },
            v.policies.len(),
            if v.policies.len() == 1 { "leaf" } else { "leaves" },
            v.latest_size
        ))?;
        return Ok(());
    }
    let log_key = keys.current().clone();
    if let Some(f) = &a.state_evidence {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let ev: provlog_proto::audit::StateEvidence =
            serde_json::from_str(&text).with_context(|| format!("{} is not state evidence", f.display()))?;
        let c = ev
            .verify(&log_key)
            .map_err(|e| anyhow::anyhow!("the evidence does NOT hold: {e}"))?;
        crate::util::output::out(format_args!(
            "OK: {} signed a checkpoint whose entry {} commits to credential map {} over {}; \
             the entries before it give {} over {} (confirm with: provlog audit --url <log or mirror> --log-key <key>)",
            ev.origin,
            ev.index,
            provlog_tlog::b64::encode(c.map_root),
            crate::util::output::count(c.credentials, "credential", "credentials"),
            ev.computed_root,
            ev.computed_credentials
        ))?;
        return Ok(());
    }
    if let Some(f) = &a.fork_evidence {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let ev: provlog_proto::fork::ForkEvidence =
            serde_json::from_str(&text).with_context(|| format!("{} is not fork evidence", f.display()))?;
        let m = ev.verify(&log_key).context("the evidence does NOT prove a fork")?;
        let what = match m {
            provlog_proto::fork::Misbehavior::SameSize { size } => format!("two different roots for size {size}"),
            provlog_proto::fork::Misbehavior::NotAPrefix { smaller, larger } => {
                format!("its checkpoint of size {smaller} is not a prefix of its checkpoint of size {larger}")
            }
        };
        crate::util::output::out(format_args!("OK: proven misbehavior of {}: {what}", ev.origin))?;
        return Ok(());
    }
    if let Some(f) = &a.checkpoint {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let (cp, _) = provlog_tlog::checkpoint::open_checkpoint_with(text.as_bytes(), &keys)
            .context("checkpoint does NOT verify")?;
        let w = check_witnesses(a, &text)?;
        crate::util::output::out(format_args!(
            "OK: checkpoint of {} at size {} signed by the log{w}",
            cp.origin, cp.size
        ))?;
        return Ok(());
    }
    if let Some(c) = &a.credential {
        let text = std::fs::read_to_string(c).with_context(|| format!("reading {}", c.display()))?;
        let answer: provlog_proto::credential::CredentialAnswer =
            serde_json::from_str(&text).with_context(|| format!("{} is not a credential answer", c.display()))?;
        let Some(fp) = &a.fingerprint else {
            bail!("--credential needs --fingerprint: the credential the answer must be about");
        };
        let req = super::query::Requirements {
            witness_keys: a.witness_keys.clone(),
            min_witnesses: a.min_witnesses,
            max_age: a.max_age,
            at: a.at,
        };
        let (_, line) = super::query::verify_answer(&answer, fp, keys.for_note(answer.checkpoint.as_bytes()), &req)?;
        crate::util::output::out(format_args!("OK: {line}"))?;
        return Ok(());
    }
    let witnessed;
    let v: VerifiedReceipt = match (&a.receipt, &a.tlog_proof, &a.entry) {
        (Some(r), None, None) => {
            let text = std::fs::read_to_string(r).with_context(|| format!("reading {}", r.display()))?;
            let receipt: Receipt =
                serde_json::from_str(&text).with_context(|| format!("{} is not a receipt", r.display()))?;
            let v = receipt
                .verify(keys.for_note(receipt.checkpoint.as_bytes()))
                .context("receipt does NOT verify")?;
            witnessed = check_witnesses(a, &receipt.checkpoint)?;
            v
        }
        (None, Some(p), Some(e)) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let entry = std::fs::read(e).with_context(|| format!("reading {}", e.display()))?;
            let t = provlog_proto::receipt::TlogProof::parse(&text)?;
            let v = verify_tlog_proof(&text, &entry, keys.for_note(t.checkpoint.as_bytes()))
                .context("tlog-proof does NOT verify")?;
            witnessed = check_witnesses(a, &t.checkpoint)?;
            v
        }
        _ => bail!(
            "give --receipt FILE, --credential FILE, --tlog-proof FILE with --entry FILE, or --cose-receipt FILE with --entry FILE"
        ),
    };
    let what = match &v.leaf {
        Leaf::Event(e) => {
            if let Some(k) = &a.submitter_key {
                let key = keyfile::read_verifier(k).context("--submitter-key")?;
                if key.name() != e.submitter {
                    bail!(
                        "the entry was submitted by {:?} but --submitter-key is named {:?}",
                        e.submitter,
                        key.name()
                    );
                }
                if !e.verify(&key, log_key.name()) {
                    bail!("the event signature does NOT verify under the submitter key");
                }
            }
            format!(
                "event {:?} ({} of {:?}) by submitter {:?}{}",
                e.event.event.event_id,
                e.event.event.action,
                e.event.event.target.id,
                e.submitter,
                if a.submitter_key.is_some() {
                    ", submitter signature verified"
                } else {
                    ""
                }
            )
        }
        Leaf::Policy(p) => format!(
            "policy with {}",
            crate::util::output::count(p.policy.submitters.len() as u64, "submitter", "submitters")
        ),
        Leaf::State(c) => format!(
            "state commitment of {} over the first {}",
            crate::util::output::count(c.credentials, "map key", "map keys"),
            crate::util::output::count(c.size, "entry", "entries")
        ),
        Leaf::Heartbeat(h) => format!("heartbeat seq {} of {:?}", h.heartbeat.seq, h.submitter),
        Leaf::LogKey(k) => format!(
            "log key rotation to {}",
            k.announcement.announcement.new.to_vkey_string()
        ),
    };
    crate::util::output::out(format_args!(
        "OK: entry {} ({what}), logged_at {}, is included in checkpoint {} of size {} signed by {}{witnessed}",
        v.index,
        v.leaf.logged_at(),
        v.checkpoint.origin,
        v.checkpoint.size,
        log_key.to_vkey_string()
    ))?;
    if let Some(url) = &a.url {
        let size = check_published(url, &log_key, &v)?;
        crate::util::output::out(format_args!(
            "OK: {url} publishes a checkpoint of size {size} that includes entry {} and extends the receipt's checkpoint",
            v.index
        ))?;
    }
    Ok(())
}
