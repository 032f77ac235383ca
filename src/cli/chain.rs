//! A sequenced submitter's side of its chain: the local chain file that
//! `provlog submit --chain` and `provlog heartbeat` keep, `provlog
//! heartbeat`, and `provlog chain` (fetch, verify and compare with the
//! local file). docs/DESIGN.md "Sequenced submitters".
//!
//! The chain file holds the last `seq` and leaf hash the log acknowledged,
//! and, while a submission is in flight, the exact signed submission
//! (`pending`): it is written (and synced) before the submission is sent,
//! so a crash at any point leaves either the old head with the pending
//! submission, which is sent again byte for byte (the log answers a retry
//! with the original entry), or the new head. A missing file is recovered
//! from the log's chain answer, verified with `--log-key` when given.

use crate::util::keyfile;
use anyhow::{Context, Result, bail};
use provlog_proto::chain::{ChainAnswer, Heartbeat, HeartbeatSubmission};
use provlog_tlog::b64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The local chain state of one submitter in one log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(super) struct ChainFile {
    /// The log's checkpoint origin.
    pub origin: String,
    /// The submitter.
    pub submitter: String,
    /// `seq` of the last entry the log acknowledged (0: none yet).
    pub seq: u64,
    /// Base64 leaf hash of that entry (of the registration while `seq` is 0).
    pub head: String,
    /// Its index, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Events acknowledged since the last heartbeat sent through this file.
    #[serde(default)]
    pub since_heartbeat: u64,
    /// The signed submission in flight (`{"kind":"event"|"heartbeat","body":…}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Value>,
}

impl ChainFile {
    /// Reads the file, if it exists.
    fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(b) => Ok(Some(
                serde_json::from_slice(&b).with_context(|| format!("{}: not a chain file", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// [`ChainFile::save`], for callers outside this module.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        self.save(path)
    }

    /// Writes the file durably: a synced temporary file renamed over it,
    /// then the directory synced.
    fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
        Ok(())
    }

    /// The next link: `seq + 1` and `prev` = the head.
    fn next(&self) -> (u64, String) {
        (self.seq.saturating_add(1), self.head.clone())
    }

    /// Records an acknowledged chain entry from its receipt (checked: the
    /// leaf hash is the entry's, and the entry is this chain's next one).
    fn advance(&mut self, receipt: &Value, heartbeat: bool) -> Result<()> {
        let entry = receipt["entry"]
            .as_str()
            .and_then(|e| b64::decode(e).ok())
            .context("the receipt has no entry")?;
        let hash = provlog_tlog::merkle::leaf_hash(&entry);
        if receipt["leaf_hash"].as_str() != Some(b64::encode(hash).as_str()) {
            bail!("the receipt's leaf_hash is not the hash of its entry");
        }
        let leaf = provlog_proto::leaf::Leaf::parse(&entry).context("the receipt's entry")?;
        let link = match &leaf {
            provlog_proto::leaf::Leaf::Event(e) => e.event.event.link(),
            provlog_proto::leaf::Leaf::Heartbeat(h) => Some(h.heartbeat.link()),
            _ => None,
        };
        let (seq, prev) = self.next();
        match link {
            Some(l) if l.seq == seq && b64::encode(l.prev) == prev => {}
            _ => bail!("the receipt is not for this chain's next entry (seq {seq})"),
        }
        self.seq = seq;
        self.head = b64::encode(hash);
        self.index = receipt["index"].as_u64();
        self.since_heartbeat = if heartbeat { 0 } else { self.since_heartbeat + 1 };
        self.pending = None;
        Ok(())
    }
}

/// Where the chain file is and how to recover it.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct ChainFlags {
    /// Keep this submitter's chain (`seq`/`prev`) in FILE: every event gets
    /// the next `seq` and the last acknowledged entry's leaf hash as `prev`
    /// (for a submitter registered with `sequenced = true`). Created from
    /// the log's chain answer if missing.
    #[arg(id = "chain_file", long = "chain", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With --chain: verify the chain answer a missing file is recovered
    /// from with this log vkey (or file).
    #[arg(id = "chain_log_key", long = "chain-log-key", requires = "chain_file")]
    pub log_key: Option<String>,
}

/// Fetches `GET /v1/chains/<submitter>` (with `from`).
async fn fetch_answer(client: &reqwest::Client, base: &str, submitter: &str, from: Option<u64>) -> Result<ChainAnswer> {
    let mut url = format!("{base}/v1/chains/{}", urlencode(submitter));
    if let Some(f) = from {
        url = format!("{url}?from={f}");
    }
    let resp = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let body = resp.bytes().await.with_context(|| format!("GET {url}"))?;
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not a chain answer"))
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Loads the chain file, or recovers it from the log (verifying the answer
/// with `log_key` when given).
pub(super) async fn open(
    flags: &ChainFlags,
    client: &reqwest::Client,
    base: &str,
    submitter: &str,
    origin: &str,
) -> Result<Option<(PathBuf, ChainFile)>> {
    let Some(path) = &flags.file else {
        return Ok(None);
    };
    if let Some(c) = ChainFile::load(path)? {
        if c.submitter != submitter || c.origin != origin {
            bail!(
                "{} is the chain of submitter {:?} in log {:?}, not of {submitter:?} in {origin:?}",
                path.display(),
                c.submitter,
                c.origin
            );
        }
        return Ok(Some((path.clone(), c)));
    }
    let a = fetch_answer(client, base, submitter, None).await?;
    if let Some(k) = &flags.log_key {
        let key = keyfile::read_verifier(k)?;
        let now = crate::util::clock::now_millis()?;
        a.verify_for(
            submitter,
            &provlog_proto::credential::Requirements {
                log_key: &key,
                witnesses: &[],
                min_witnesses: 0,
                now_millis: now,
                max_age_millis: i64::MAX / 2,
                as_of_entry: None,
            },
        )
        .context("the log's chain answer does NOT verify")?;
    }
    let Some(r) = a.record else {
        bail!(
            "the log has no chain for submitter {submitter:?}: it is not registered with sequenced = true \
             (or the registration is not committed yet)"
        );
    };
    // Checked even when the answer was not verified: a server's numbers
    // must not make this file unusable.
    if r.seq > provlog_proto::chain::MAX_SEQ || b64::decode_array::<32>(&r.head).is_none() {
        bail!(
            "the log's chain answer has a malformed head (seq {}, head {:?})",
            r.seq,
            r.head
        );
    }
    let since_heartbeat = r.since_heartbeat();
    let c = ChainFile {
        origin: origin.to_owned(),
        submitter: submitter.to_owned(),
        seq: r.seq,
        head: r.head,
        index: Some(r.head_index),
        since_heartbeat,
        pending: None,
    };
    c.save(path)?;
    tracing::info!(seq = c.seq, "chain recovered from the log");
    Ok(Some((path.clone(), c)))
}

/// Posts the pending submission of `chain` (sending it again after a crash)
/// and records the answer: `Ok(Ok((HTTP status, receipt)))` when acknowledged,
/// `Ok(Err(error body))` when refused (the pending submission is dropped and
/// the refusal printed).
pub(super) async fn send_pending(
    client: &reqwest::Client,
    base: &str,
    path: &Path,
    chain: &mut ChainFile,
) -> Result<Result<(u16, String), String>> {
    let Some(p) = chain.pending.clone() else {
        return Ok(Err(String::new()));
    };
    let heartbeat = p["kind"] == "heartbeat";
    let url = if heartbeat {
        format!("{base}/v1/heartbeats")
    } else {
        format!("{base}/v1/entries")
    };
    let (status, body) = super::post::post_with_retries(client, &url, &p["body"]).await?;
    if status.is_success() {
        let receipt: Value = serde_json::from_str(&body).context("the receipt is not JSON")?;
        chain.advance(&receipt, heartbeat)?;
        chain.save(path)?;
        return Ok(Ok((status.as_u16(), body)));
    }
    if status.is_server_error() {
        bail!(
            "POST {url}: {status}: {} (the submission stays pending in the chain file; run again)",
            body.trim_end()
        );
    }
    // Refused: the position was not taken; the next submission reuses it.
    chain.pending = None;
    chain.save(path)?;
    eprintln!("{status}: {}", body.trim_end());
    Ok(Err(body))
}

/// Puts the chain's next link into `event` (overriding any given).
pub(super) fn link(event: &mut Value, chain: &ChainFile) {
    let (seq, prev) = chain.next();
    event["seq"] = Value::from(seq);
    event["prev"] = Value::from(prev);
}

#[derive(Debug, clap::Args)]
pub(super) struct HeartbeatArgs {
    /// The submitter's private key file.
    #[arg(long, env = "PROVLOG_SUBMITTER_KEY")]
    key: PathBuf,
    /// The submitter id (defaults to the key's name).
    #[arg(long)]
    submitter: Option<String>,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    #[command(flatten)]
    chain: ChainFlags,
    /// Actions performed since the previous heartbeat (default: the events
    /// acknowledged through the chain file since then).
    #[arg(long)]
    actions: Option<u64>,
    /// Also write the receipt to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Append the log's signed refusal (docs/REFUSALS.md) here if it
    /// refuses the heartbeat.
    #[arg(long)]
    refusals: Option<PathBuf>,
}

/// `provlog heartbeat`.
pub(super) fn heartbeat(a: &HeartbeatArgs) -> Result<()> {
    let key = keyfile::read_signer(&a.key)?;
    let submitter = a.submitter.clone().unwrap_or_else(|| key.name().to_owned());
    let base = a.url.trim_end_matches('/').to_owned();
    if a.chain.file.is_none() {
        bail!("a heartbeat takes the chain's next position: give --chain FILE");
    }
    let rt = crate::util::runtime::current_thread()?;
    rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        let origin = super::post::log_origin(&base).await?;
        let (path, mut chain) = open(&a.chain, &client, &base, &submitter, &origin)
            .await?
            .context("no chain file")?;
        if chain.pending.is_some()
            && let Err(body) = send_pending(&client, &base, &path, &mut chain).await?
        {
            super::post::save_refusal(a.refusals.as_deref(), &body)?;
        }
        let (seq, prev) = chain.next();
        let now = crate::util::clock::now_millis()?;
        let hb = Heartbeat {
            seq,
            prev,
            sent_at: provlog_proto::time::format_millis(now)?,
            actions: Some(a.actions.unwrap_or(chain.since_heartbeat)),
        };
        let body: Value = serde_json::from_slice(&HeartbeatSubmission::sign(&hb, &submitter, &key, &origin))?;
        chain.pending = Some(serde_json::json!({"kind": "heartbeat", "body": body}));
        chain.save(&path)?;
        match send_pending(&client, &base, &path, &mut chain).await? {
            Ok((_, receipt)) => {
                if let Some(o) = &a.out {
                    std::fs::write(o, format!("{}\n", receipt.trim_end()))
                        .with_context(|| format!("writing {}", o.display()))?;
                }
                crate::util::output::out(receipt.trim_end())?;
                Ok(())
            }
            Err(body) => {
                super::post::save_refusal(a.refusals.as_deref(), &body)?;
                bail!("the heartbeat was refused")
            }
        }
    })
}

#[derive(Debug, clap::Args)]
pub(super) struct ChainArgs {
    /// The submitter whose chain to check.
    submitter: String,
    /// The log's base URL.
    #[arg(long, env = "PROVLOG_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The log's vkey, or a file holding it.
    #[arg(long)]
    log_key: String,
    /// A witness vkey (or file) whose cosignature counts; repeatable.
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Cosignatures required (default: all given).
    #[arg(long)]
    min_witnesses: Option<usize>,
    /// The oldest state commitment accepted, by this machine's clock.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    max_age: std::time::Duration,
    /// Also fetch and check the chain's entries from this seq on.
    #[arg(long)]
    from: Option<u64>,
    /// The submitter's own chain file: its last acknowledged entry must be
    /// in the chain the log committed (entries are fetched from its seq).
    #[arg(long = "chain", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write the answer (JSON) here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `provlog chain`: fetches the chain answer, verifies it, checks the local
/// chain file against it, and prints what it proves.
pub(super) fn chain(a: &ChainArgs) -> Result<()> {
    let key = keyfile::read_verifier(&a.log_key)?;
    let witnesses = a
        .witness_keys
        .iter()
        .map(|w| keyfile::read_verifier(w))
        .collect::<Result<Vec<_>>>()?;
    let local = match &a.file {
        Some(p) => Some(ChainFile::load(p)?.with_context(|| format!("{} does not exist", p.display()))?),
        None => None,
    };
    let from = a.from.or_else(|| local.as_ref().map(|c| c.seq.max(1)));
    let base = a.url.trim_end_matches('/').to_owned();
    let rt = crate::util::runtime::current_thread()?;
    let answer = rt.block_on(async {
        let client = crate::client::http_client(std::time::Duration::from_mins(1))?;
        fetch_answer(&client, &base, &a.submitter, from).await
    })?;
    // The key that signs the answer's tree, from the log's key history
    // verified from the key given (docs/ROTATION.md).
    let keys = rt.block_on(async {
        let source = crate::client::Source::open(&base, None, None)?;
        anyhow::Ok(source.log_keys(&key).await?)
    })?;
    let key = keys.for_note(answer.checkpoint.as_bytes()).clone();
    if let Some(o) = &a.out {
        let mut bytes = serde_json::to_vec(&answer)?;
        bytes.push(b'\n');
        std::fs::write(o, bytes).with_context(|| format!("writing {}", o.display()))?;
    }
    let v = answer
        .verify_for(
            &a.submitter,
            &provlog_proto::credential::Requirements {
                log_key: &key,
                witnesses: &witnesses,
                min_witnesses: a.min_witnesses.unwrap_or(witnesses.len()),
                now_millis: crate::util::clock::now_millis()?,
                max_age_millis: i64::try_from(a.max_age.as_millis()).unwrap_or(i64::MAX),
                as_of_entry: None,
            },
        )
        .context("the chain answer does NOT verify")?;
    let Some(r) = &v.record else {
        bail!(
            "the log's map (commitment at entry {}) holds no chain for {:?}: it is not sequenced",
            v.commitment_index,
            a.submitter
        );
    };
    if let Some(c) = &local
        && c.seq > 0
    {
        let head = b64::decode_array(&c.head).context("the chain file's head is not base64 of 32 bytes")?;
        if !v.holds(c.seq, &head) {
            bail!(
                "the log's chain does NOT hold this submitter's last acknowledged entry (seq {}, leaf hash {}): \
                 the committed head is seq {}; the log lost or replaced an entry it acknowledged",
                c.seq,
                c.head,
                r.seq
            );
        }
    }
    if let Some((seq, claimed, logged)) = v.count_mismatches.first() {
        bail!("heartbeat seq {seq} claims {claimed} action(s), the chain holds {logged} event(s) before it");
    }
    let summary = serde_json::json!({
        "submitter": a.submitter,
        "seq": r.seq,
        "head": r.head,
        "head_index": r.head_index,
        "last_heartbeat": r.heartbeat,
        "events_since_heartbeat": r.since_heartbeat(),
        "commitment_index": v.commitment_index,
        "committed_at": v.committed_at,
        "tree_size": v.tree_size,
        "entries_checked": v.entries.len(),
        "local_head_held": local.as_ref().map(|c| c.seq),
    });
    crate::util::output::out(format_args!(
        "OK: the log committed (entry {}, {}) that {:?} has logged exactly {}, the last at entry {}",
        v.commitment_index,
        v.committed_at,
        a.submitter,
        crate::util::output::count(r.seq, "chain entry", "chain entries"),
        r.head_index
    ))?;
    crate::util::output::out(format_args!("{summary}"))?;
    Ok(())
}
