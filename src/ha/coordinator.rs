//! The etcd side of high availability: who is the sequencer, and which
//! checkpoint is the log's latest.
//!
//! Two keys under the configured prefix `P` (default `/provlog/ORIGIN`):
//!
//! | key | value | written by |
//! | --- | --- | --- |
//! | `P/leader` | JSON [`LeaderInfo`] of the sequencer, attached to its lease | [`Coordinator::campaign`]: created only if absent |
//! | `P/checkpoint` | the latest fenced checkpoint note, as signed | [`Coordinator::fence`]: only by the holder of `P/leader`, only over the checkpoint it extends |
//!
//! A **term** is one holding of the leader key: it is named by the key's
//! create revision, which etcd never reuses, so a process that lost the
//! key and won it again holds a new term and cannot fence with the old
//! one. The key goes when its lease does (the holder's keep-alives
//! stopped for the TTL: a crash, a pause, a partition), and a standby's
//! campaign then creates it anew.
//!
//! **Fencing** is one etcd transaction: put `P/checkpoint` if and only if
//! `P/leader` still has the term's create revision **and** `P/checkpoint`
//! still has the mod revision the caller read or last wrote. A sequencer
//! that was deposed while paused, or that raced another, fails it and
//! learns why ([`HaError::Deposed`], [`HaError::Conflict`]); two different
//! checkpoints can therefore never both follow the same one.

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, EventType, PutOptions, Txn, TxnOp, TxnOpResponse};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Who holds (or held) the leader key: what a standby tells a client that
/// should write elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct LeaderInfo {
    /// The node's configured id (unique in the cluster).
    pub id: String,
    /// Where clients and the other nodes reach it (its public base URL).
    pub url: String,
}

/// The latest fenced checkpoint, as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    /// The checkpoint note, byte for byte as fenced.
    pub note: Vec<u8>,
    /// The key's mod revision: what the next [`Coordinator::fence`] must
    /// name as `prev`.
    pub revision: i64,
}

/// Why a coordination step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HaError {
    /// etcd refused the request, or could not be reached within the
    /// request timeout (quorum lost, members down, a partition). The
    /// outcome of a [`Coordinator::fence`] that fails so is unknown until
    /// it is retried or [`Coordinator::fenced`] is read.
    #[error("etcd ({endpoints}): {what}")]
    Etcd {
        /// The configured endpoints.
        endpoints: String,
        /// What was asked.
        what: &'static str,
        /// Why it failed.
        #[source]
        source: etcd_client::Error,
    },
    /// etcd did not answer within the request timeout.
    #[error("etcd ({endpoints}) did not answer {what} within {timeout:?}")]
    Timeout {
        /// The configured endpoints.
        endpoints: String,
        /// What was asked.
        what: &'static str,
        /// The request timeout.
        timeout: Duration,
    },
    /// This term is over: the lease lapsed or another node holds the
    /// leader key. Nothing was written.
    #[error("this node is no longer the sequencer{}", leader.as_ref().map_or_else(String::new, |l| format!(" ({} at {} is)", l.id, l.url)))]
    Deposed {
        /// The current leader, if there is one.
        leader: Option<LeaderInfo>,
    },
    /// The leader key is ours but the checkpoint in etcd is not the one the
    /// new checkpoint extends. Nothing was written.
    #[error("the checkpoint in etcd is at revision {}, not {expected}: it is not the one this tree extends", current.as_ref().map_or(0, |c| c.revision))]
    Conflict {
        /// What etcd holds.
        current: Option<Fenced>,
        /// The revision the caller named.
        expected: i64,
    },
    /// The leader key holds something that is not a [`LeaderInfo`].
    #[error("{key} holds {value:?}, not a provlog leader record")]
    BadLeader {
        /// The key.
        key: String,
        /// Its value, lossily.
        value: String,
    },
    /// A setting the coordinator cannot use.
    #[error("high availability: {0}")]
    Config(String),
}

/// How to reach etcd and what to call this node.
#[derive(Debug, Clone)]
pub struct Settings {
    /// etcd client URLs (`http://10.0.0.1:2379`, …).
    pub endpoints: Vec<String>,
    /// The key prefix of this log (no trailing `/`).
    pub prefix: String,
    /// The sequencer's lease: how long a silent sequencer keeps the role.
    pub lease_ttl: Duration,
    /// How long one etcd request may take, retries included.
    pub request_timeout: Duration,
    /// This node.
    pub me: LeaderInfo,
}

/// A connection to the etcd cluster of one log.
#[derive(Clone)]
pub struct Coordinator {
    /// One client per endpoint: a request that fails or stalls on one
    /// member moves on to the next (a balanced channel kept sending to a
    /// killed member until the request timed out).
    clients: std::sync::Arc<Vec<Client>>,
    /// The member the next request goes to first.
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    settings: Settings,
    leader_key: String,
    checkpoint_key: String,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("endpoints", &self.settings.endpoints)
            .field("prefix", &self.settings.prefix)
            .field("me", &self.settings.me)
            .finish_non_exhaustive()
    }
}

/// One holding of the leader key by this node. Dropping it stops the
/// keep-alives (the lease then lapses); [`Coordinator::resign`] ends it at
/// once.
#[derive(Debug)]
pub struct Term {
    /// The leader key's create revision: the term's name.
    pub revision: i64,
    /// The lease the key is attached to.
    pub lease: i64,
    /// Until when the lease is certainly alive, by this process's clock:
    /// the send time of the last keep-alive etcd answered plus the TTL it
    /// answered with; `None` once the term is lost.
    valid_until: watch::Receiver<Option<Instant>>,
    keeper: tokio::task::JoinHandle<()>,
}

impl Drop for Term {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

impl Term {
    /// How much longer the lease is certainly alive; zero once lost. A
    /// sequencer starts no write that could outlast it.
    #[must_use]
    pub fn remaining(&self) -> Duration {
        (*self.valid_until.borrow()).map_or(Duration::ZERO, |t| t.saturating_duration_since(Instant::now()))
    }

    /// Whether the term is certainly over (the lease lapsed by this
    /// process's clock, or etcd said it expired).
    #[must_use]
    pub fn is_lost(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Resolves when the term is lost.
    pub async fn lost(&self) {
        let mut rx = self.valid_until.clone();
        loop {
            let left = (*rx.borrow_and_update()).map(|t| t.saturating_duration_since(Instant::now()));
            match left {
                None => return,
                Some(d) if d.is_zero() => return,
                Some(d) => {
                    // Woken by a renewal (a later deadline) or by the
                    // deadline itself.
                    let _ = tokio::time::timeout(d, rx.changed()).await;
                }
            }
        }
    }
}

fn retryable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Unknown | tonic::Code::Aborted
        ),
        _ => false,
    }
}

impl Coordinator {
    /// Connects (lazily: an unreachable cluster fails the first request,
    /// not this call, so that a node can start while etcd recovers).
    ///
    /// # Errors
    /// No endpoint, a zero TTL, or an endpoint that is not a URL.
    pub async fn connect(settings: Settings) -> Result<Self, HaError> {
        if settings.endpoints.is_empty() {
            return Err(HaError::Config("no etcd endpoint".into()));
        }
        if settings.lease_ttl < Duration::from_secs(1) {
            return Err(HaError::Config("the lease TTL must be at least 1 s".into()));
        }
        if settings.prefix.is_empty() || settings.prefix.ends_with('/') {
            return Err(HaError::Config(format!(
                "the etcd prefix {:?} must be non-empty and not end in /",
                settings.prefix
            )));
        }
        let options = ConnectOptions::new()
            .with_connect_timeout(settings.request_timeout)
            .with_timeout(settings.request_timeout)
            .with_keep_alive(Duration::from_secs(1), settings.request_timeout)
            .with_keep_alive_while_idle(true);
        let mut clients = Vec::with_capacity(settings.endpoints.len());
        for e in &settings.endpoints {
            clients.push(
                Client::connect([e.as_str()], Some(options.clone()))
                    .await
                    .map_err(|source| HaError::Etcd {
                        endpoints: settings.endpoints.join(","),
                        what: "connect",
                        source,
                    })?,
            );
        }
        Ok(Self {
            clients: std::sync::Arc::new(clients),
            current: std::sync::Arc::default(),
            leader_key: format!("{}/leader", settings.prefix),
            checkpoint_key: format!("{}/checkpoint", settings.prefix),
            settings,
        })
    }

    /// This node, as it announces itself.
    #[must_use]
    pub fn me(&self) -> &LeaderInfo {
        &self.settings.me
    }

    /// The configured lease TTL.
    #[must_use]
    pub fn lease_ttl(&self) -> Duration {
        self.settings.lease_ttl
    }

    /// The client of the member requests go to now.
    fn client(&self) -> Client {
        let i = self.current.load(std::sync::atomic::Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }

    /// Sends the next requests to the member after the one that failed.
    fn next_member(&self, failed: usize) {
        let _ = self.current.compare_exchange(
            failed,
            (failed + 1) % self.clients.len(),
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Runs `op` until it succeeds, fails for good, or the request timeout
    /// passes. Each try gets a share of the timeout (a third, at least
    /// 200 ms), and a member that fails or stalls a try passes the next one
    /// to the next member: a member that is down, or one without a leader
    /// while etcd elects one, costs a try, not the request.
    async fn retry<T, F, Fut>(&self, what: &'static str, mut op: F) -> Result<T, HaError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let timeout = self.settings.request_timeout;
        let deadline = Instant::now() + timeout;
        let per_try = (timeout / 3).max(Duration::from_millis(200));
        let mut last: Option<etcd_client::Error> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(match last {
                    Some(source) => HaError::Etcd {
                        endpoints: self.settings.endpoints.join(","),
                        what,
                        source,
                    },
                    None => HaError::Timeout {
                        endpoints: self.settings.endpoints.join(","),
                        what,
                        timeout,
                    },
                });
            }
            let member = self.current.load(std::sync::atomic::Ordering::Relaxed) % self.clients.len();
            match tokio::time::timeout(left.min(per_try), op(self.clients[member].clone())).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if !retryable(&e) => {
                    return Err(HaError::Etcd {
                        endpoints: self.settings.endpoints.join(","),
                        what,
                        source: e,
                    });
                }
                Ok(Err(e)) => {
                    last = Some(e);
                    self.next_member(member);
                    tokio::time::sleep(Duration::from_millis(20).min(left)).await;
                }
                Err(_) => self.next_member(member),
            }
        }
    }

    fn parse_leader(&self, value: &[u8]) -> Result<LeaderInfo, HaError> {
        serde_json::from_slice(value).map_err(|_| HaError::BadLeader {
            key: self.leader_key.clone(),
            value: String::from_utf8_lossy(value).chars().take(200).collect(),
        })
    }

    /// The current leader and its term (create revision), if any.
    ///
    /// # Errors
    /// etcd unreachable; a leader key that is not a provlog record.
    pub async fn leader(&self) -> Result<Option<(LeaderInfo, i64)>, HaError> {
        match self.leader_kv().await? {
            None => Ok(None),
            Some(kv) => Ok(Some((self.parse_leader(kv.value())?, kv.create_revision()))),
        }
    }

    /// The leader key as etcd holds it, if any.
    async fn leader_kv(&self) -> Result<Option<etcd_client::KeyValue>, HaError> {
        let key = self.leader_key.clone();
        let resp = self
            .retry("get leader", |mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await?;
        Ok(resp.kvs().first().cloned())
    }

    /// The latest fenced checkpoint (a linearizable read: what a quorum
    /// agreed, never a member's stale copy).
    ///
    /// # Errors
    /// etcd unreachable.
    pub async fn fenced(&self) -> Result<Option<Fenced>, HaError> {
        let key = self.checkpoint_key.clone();
        let resp = self
            .retry("get checkpoint", |mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await?;
        Ok(resp.kvs().first().map(|kv| Fenced {
            note: kv.value().to_vec(),
            revision: kv.mod_revision(),
        }))
    }

    /// One attempt to become the sequencer: a new lease, and the leader key
    /// created on it if no one holds it. `Ok(None)` when another node
    /// does (its lease is then left alone, ours revoked).
    ///
    /// # Errors
    /// etcd unreachable.
    pub async fn try_lead(&self) -> Result<Option<Term>, HaError> {
        let ttl = i64::try_from(self.settings.lease_ttl.as_secs()).unwrap_or(i64::MAX);
        let sent = Instant::now();
        let grant = self
            .retry("grant lease", |mut c| async move { c.lease_grant(ttl, None).await })
            .await?;
        let lease = grant.id();
        let valid_until = sent + Duration::from_secs(u64::try_from(grant.ttl()).unwrap_or(0));
        let me = serde_json::to_vec(&self.settings.me).map_err(|e| HaError::Config(e.to_string()))?;
        let key = self.leader_key.clone();
        let resp = self
            .retry("create leader key", |mut c| {
                let txn = Txn::new()
                    .when(vec![Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then(vec![TxnOp::put(
                        key.clone(),
                        me.clone(),
                        Some(PutOptions::new().with_lease(lease)),
                    )])
                    .or_else(vec![TxnOp::get(key.clone(), None)]);
                async move { c.txn(txn).await }
            })
            .await?;
        let revision = if resp.succeeded() {
            resp.header().map_or(0, etcd_client::ResponseHeader::revision)
        } else {
            // A retried transaction whose first try succeeded finds the key
            // on our own lease: that is a win too.
            match first_kv(&resp) {
                Some((l, rev)) if l == lease => rev,
                _ => {
                    let _ = self
                        .retry("revoke lease", |mut c| async move { c.lease_revoke(lease).await })
                        .await;
                    return Ok(None);
                }
            }
        };
        let (tx, rx) = watch::channel(Some(valid_until));
        let keeper = tokio::spawn(keep_alive(self.clone(), lease, tx));
        Ok(Some(Term {
            revision,
            lease,
            valid_until: rx,
            keeper,
        }))
    }

    /// Holds on to a term this node won in an earlier process (a standby
    /// that won the election restarts itself as the sequencer and hands
    /// the term over): renews `lease` once, checks that the leader key is
    /// still the one created at `revision` on that lease, and keeps the
    /// lease alive from then on.
    ///
    /// # Errors
    /// [`HaError::Deposed`] when the lease expired or the key is another's;
    /// etcd unreachable.
    pub async fn adopt(&self, lease: i64, revision: i64) -> Result<Term, HaError> {
        let sent = Instant::now();
        let ttl = self
            .retry("renew lease", |mut c| async move {
                let (mut keeper, mut responses) = c.lease_keep_alive(lease).await?;
                keeper.keep_alive().await?;
                Ok::<_, etcd_client::Error>(responses.message().await?.map_or(0, |r| r.ttl()))
            })
            .await?;
        if ttl <= 0 {
            return Err(HaError::Deposed { leader: None });
        }
        let valid_until = sent + Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
        match self.leader_kv().await? {
            Some(kv) if kv.lease() == lease && kv.create_revision() == revision => {}
            Some(kv) => {
                return Err(HaError::Deposed {
                    leader: self.parse_leader(kv.value()).ok(),
                });
            }
            None => return Err(HaError::Deposed { leader: None }),
        }
        let (tx, rx) = watch::channel(Some(valid_until));
        let keeper = tokio::spawn(keep_alive(self.clone(), lease, tx));
        Ok(Term {
            revision,
            lease,
            valid_until: rx,
            keeper,
        })
    }

    /// Waits until this node is the sequencer: tries, and while another
    /// node holds the key, watches it and tries again when it goes (or
    /// every TTL, in case a watch event is missed). etcd failures are
    /// retried for ever, logged once a TTL.
    pub async fn campaign(&self) -> Term {
        let mut last_warned: Option<Instant> = None;
        loop {
            match self.try_lead().await {
                Ok(Some(term)) => return term,
                Ok(None) => self.wait_for_vacancy().await,
                Err(e) => {
                    if last_warned.is_none_or(|t| t.elapsed() >= self.settings.lease_ttl) {
                        tracing::warn!(error = %crate::util::error_chain(&e), "campaign: etcd unreachable; retrying");
                        last_warned = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    /// Returns when the leader key is deleted, or after one TTL.
    async fn wait_for_vacancy(&self) {
        let ttl = self.settings.lease_ttl;
        let key = self.leader_key.clone();
        let watched = async {
            let mut c = self.client();
            let Ok(mut stream) = c.watch(key, None).await else {
                return;
            };
            // The key may have gone between the failed create and the
            // watch: look once more.
            if matches!(self.leader().await, Ok(None)) {
                return;
            }
            while let Ok(Some(resp)) = stream.message().await {
                if resp.canceled() || resp.events().iter().any(|e| e.event_type() == EventType::Delete) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(ttl, watched).await;
    }

    /// Ends a term now: revokes its lease, which deletes the leader key, so
    /// a standby takes over without waiting for the TTL.
    ///
    /// # Errors
    /// etcd unreachable (the lease then lapses on its own).
    pub async fn resign(&self, term: Term) -> Result<(), HaError> {
        let lease = term.lease;
        drop(term);
        self.retry("revoke lease", |mut c| async move { c.lease_revoke(lease).await })
            .await
            .map(|_| ())
    }

    /// Ends `term` now, while other parts still hold it (they see it lost):
    /// revokes its lease, which deletes the leader key.
    ///
    /// # Errors
    /// etcd unreachable (the lease then lapses on its own).
    pub async fn revoke(&self, term: &Term) -> Result<(), HaError> {
        let lease = term.lease;
        term.keeper.abort();
        self.retry("revoke lease", |mut c| async move { c.lease_revoke(lease).await })
            .await
            .map(|_| ())
    }

    /// Makes `note` the log's latest checkpoint if `term` still holds the
    /// leader key and the checkpoint in etcd is still the one at revision
    /// `prev` (0: none yet). Returns the new revision, the `prev` of the
    /// next call.
    ///
    /// A term already lost by this process's clock is refused without a
    /// request. A call whose earlier try reached etcd but whose answer was
    /// lost finds its own note in place and succeeds.
    ///
    /// # Errors
    /// [`HaError::Deposed`], [`HaError::Conflict`] (nothing written); etcd
    /// unreachable ([`HaError::Etcd`], [`HaError::Timeout`]: the outcome is
    /// unknown, and the caller must not treat the note as fenced until a
    /// later call or [`Coordinator::fenced`] says it is).
    pub async fn fence(&self, term: &Term, prev: i64, note: &[u8]) -> Result<i64, HaError> {
        if term.is_lost() {
            return Err(HaError::Deposed { leader: None });
        }
        let (lk, ck) = (self.leader_key.clone(), self.checkpoint_key.clone());
        let rev = term.revision;
        let resp = self
            .retry("fence checkpoint", |mut c| {
                let txn = Txn::new()
                    .when(vec![
                        Compare::create_revision(lk.clone(), CompareOp::Equal, rev),
                        Compare::mod_revision(ck.clone(), CompareOp::Equal, prev),
                    ])
                    .and_then(vec![TxnOp::put(ck.clone(), note.to_vec(), None)])
                    .or_else(vec![TxnOp::get(lk.clone(), None), TxnOp::get(ck.clone(), None)]);
                async move { c.txn(txn).await }
            })
            .await?;
        if resp.succeeded() {
            return Ok(resp.header().map_or(0, etcd_client::ResponseHeader::revision));
        }
        let gets: Vec<_> = resp
            .op_responses()
            .into_iter()
            .filter_map(|r| match r {
                TxnOpResponse::Get(g) => Some(g),
                _ => None,
            })
            .collect();
        let leader = gets.first().and_then(|g| g.kvs().first());
        let current = gets.get(1).and_then(|g| g.kvs().first()).map(|kv| Fenced {
            note: kv.value().to_vec(),
            revision: kv.mod_revision(),
        });
        match leader {
            Some(kv) if kv.create_revision() == rev => match current {
                Some(c) if c.note == note => Ok(c.revision),
                current => Err(HaError::Conflict {
                    current,
                    expected: prev,
                }),
            },
            Some(kv) => Err(HaError::Deposed {
                leader: self.parse_leader(kv.value()).ok(),
            }),
            None => Err(HaError::Deposed { leader: None }),
        }
    }
}

/// The lease and create revision of the first key a failed transaction's
/// `get` returned.
fn first_kv(resp: &etcd_client::TxnResponse) -> Option<(i64, i64)> {
    resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g.kvs().first().map(|kv| (kv.lease(), kv.create_revision())),
        _ => None,
    })
}

/// Renews `lease` every third of its TTL and publishes how long it is
/// certainly alive; publishes `None` and stops once it is not (etcd says it
/// expired, or no renewal was answered before the last deadline).
async fn keep_alive(coord: Coordinator, lease: i64, tx: watch::Sender<Option<Instant>>) {
    let ttl = coord.settings.lease_ttl;
    let every = ttl / 3;
    let mut stream = None;
    loop {
        tokio::time::sleep(every).await;
        let Some(deadline) = *tx.borrow() else { return };
        if Instant::now() >= deadline {
            tracing::warn!(
                lease,
                "the sequencer's lease lapsed: no keep-alive answered within its TTL"
            );
            tx.send_replace(None);
            return;
        }
        let sent = Instant::now();
        let left = deadline.saturating_duration_since(sent);
        let renewed = tokio::time::timeout(left.min(coord.settings.request_timeout), async {
            if stream.is_none() {
                let mut c = coord.client();
                stream = Some(c.lease_keep_alive(lease).await?);
            }
            let Some((keeper, responses)) = stream.as_mut() else {
                return Ok(None);
            };
            keeper.keep_alive().await?;
            responses.message().await
        })
        .await;
        match renewed {
            Ok(Ok(Some(r))) if r.ttl() > 0 => {
                tx.send_replace(Some(sent + Duration::from_secs(u64::try_from(r.ttl()).unwrap_or(0))));
            }
            Ok(Ok(Some(_))) => {
                tracing::warn!(lease, "the sequencer's lease expired in etcd");
                tx.send_replace(None);
                return;
            }
            Ok(Ok(None) | Err(_)) | Err(_) => {
                // The stream broke or timed out: a new one next time; the
                // deadline stands until then.
                stream = None;
            }
        }
    }
}
