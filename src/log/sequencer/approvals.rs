//! Approval uses as the sequencer counts them: the uses stored
//! (`approval_uses`, one key per use, written in the same write as the
//! entry that used it), the uses of batches handed to the committer and
//! perhaps not yet written, and this batch's. A use is consumed only when
//! its entry is sequenced, so a refused submission spends nothing, and the
//! same use is never counted twice: each is keyed by its entry's index, so
//! a batch whose write lands while it is being counted is counted once.

use super::{Durable, SeqError, Unavailable};
use provlog_proto::approval::{ApprovalUse, MAX_APPROVAL_USES};
use provlog_tlog::merkle::Hash;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

type Key = (String, String);

/// Uses not yet known to be stored: (digest, entry index) per approval.
type Held = HashMap<Key, Vec<(Hash, u64)>>;

/// The uses the sequencer has consumed.
#[derive(Default)]
pub struct ApprovalUses {
    /// This batch's uses.
    pending: Held,
    /// Earlier batches' uses the store may not hold yet (the batch's end
    /// index, its uses), oldest first.
    in_flight: VecDeque<(u64, Held)>,
}

impl ApprovalUses {
    fn settle(&mut self, store: &dyn Durable) {
        let stored = store.size();
        while self.in_flight.front().is_some_and(|(end, _)| *end <= stored) {
            self.in_flight.pop_front();
        }
    }

    /// What was recorded of the approval `key` before: its digest and the
    /// number of uses.
    fn prior(&self, store: &dyn Durable, key: &Key) -> Result<Option<(Hash, u64)>, Unavailable> {
        let limit = usize::try_from(MAX_APPROVAL_USES)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let (mut digest, stored) = store
            .approval_uses(&key.0, &key.1, limit)
            .map_err(|e| Unavailable::Map(Arc::new(e)))?;
        let mut seen: HashSet<u64> = stored.into_iter().collect();
        let held = self
            .in_flight
            .iter()
            .map(|(_, h)| h)
            .chain(std::iter::once(&self.pending))
            .filter_map(|h| h.get(key))
            .flatten();
        for (d, index) in held {
            digest.get_or_insert(*d);
            seen.insert(*index);
        }
        Ok(digest.map(|d| (d, seen.len() as u64)))
    }

    /// Checks that every use in `uses` is available; changes nothing.
    ///
    /// # Errors
    /// [`SeqError::Approval`] (used up, id reused); [`Unavailable`] if the
    /// store cannot be read.
    pub fn check(&mut self, store: &dyn Durable, uses: &[ApprovalUse]) -> Result<(), SeqError> {
        if uses.is_empty() {
            return Ok(());
        }
        self.settle(store);
        for u in uses {
            let key = (u.approver.clone(), u.id.clone());
            u.check(self.prior(store, &key)?).map_err(SeqError::Approval)?;
        }
        Ok(())
    }

    /// Consumes `uses` for the entry at `index` (after [`ApprovalUses::check`]).
    pub fn consume(&mut self, uses: Vec<ApprovalUse>, index: u64) {
        for u in uses {
            self.pending
                .entry((u.approver, u.id))
                .or_default()
                .push((u.digest, index));
        }
    }

    /// Ends the batch whose last entry is `end - 1`: its uses are held
    /// until the store's size reaches `end`.
    pub fn finish(&mut self, end: u64) {
        if !self.pending.is_empty() {
            self.in_flight.push_back((end, std::mem::take(&mut self.pending)));
        }
    }
}
