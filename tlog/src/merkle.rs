//! RFC 6962 / RFC 9162 §2.1 Merkle trees.
//!
//! * Hashing: leaf `SHA-256(0x00 || entry)`, node `SHA-256(0x01 || l || r)`,
//!   empty tree `SHA-256("")`.
//! * Addressing: a perfect subtree is a [`NodeId`] `(level, index)` covering
//!   leaves `[index·2^level, (index+1)·2^level)`. Perfect nodes never change
//!   once complete, so storage keys them by `NodeId`.
//! * The [`CompactRange`] is the right edge of the tree (one perfect node per
//!   set bit of the size); extending it by a batch of leaf hashes yields the
//!   new root and every perfect node the batch completed.
//! * Proof generation follows the index-then-fetch shape of Go's
//!   `sumdb/tlog`: compute the perfect nodes a proof needs
//!   ([`inclusion_nodes`], [`consistency_nodes`]), read them in one call to a
//!   [`HashSource`], then assemble the proof. Right-edge ("ephemeral") nodes
//!   of RFC 9162 §2.1.3.1 / §2.1.4.1 are folded from perfect nodes.
//! * Verification is exactly RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2
//!   (consistency); the edge cases of consistency (`first == 0`,
//!   `first == second`) are handled as docs/SPECS.md §1.7 says.
//!
//! Nothing here does I/O.

use sha2::{Digest, Sha256};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// `SHA-256("")`, the root of the empty tree.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256 of the concatenation of `parts`.
#[must_use]
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 6962 leaf hash: `SHA-256(0x00 || entry)`.
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// A perfect subtree: `level` 0 is a leaf; the node covers leaves
/// `[index << level, (index + 1) << level)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height of the subtree (0 = leaf).
    pub level: u8,
    /// Position of the subtree among those of the same level.
    pub index: u64,
}

impl NodeId {
    /// The node at `level`, `index`.
    #[must_use]
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }
}

/// Something that can return the hashes of complete perfect subtrees.
///
/// Implementations must return exactly one hash per requested id, in request
/// order, and only for nodes that are complete in the tree the caller is
/// asking about; storage implements it with one batched read.
pub trait HashSource {
    /// The error reading hashes can produce.
    type Error;
    /// Returns the hash of every node in `ids`, in the same order.
    ///
    /// # Errors
    /// Whatever the underlying source fails with, including a missing node.
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a proof could not be generated.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError<E> {
    /// An inclusion proof was asked for an index at or beyond the tree size.
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A consistency proof was asked for `old > new`.
    #[error("old size {old} is greater than new size {new}")]
    SizeOrder {
        /// The older tree size.
        old: u64,
        /// The newer tree size.
        new: u64,
    },
    /// The hash source returned the wrong number of hashes.
    #[error("hash source returned {got} hashes for {want} nodes")]
    SourceLength {
        /// Hashes requested.
        want: usize,
        /// Hashes returned.
        got: usize,
    },
    /// The hash source failed.
    #[error("reading tree hashes: {0}")]
    Source(E),
}

/// Why a proof did not verify.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// A leaf hash, root or proof element is not 32 bytes long.
    #[error("a hash is {0} bytes long, not 32")]
    HashLength(usize),
    /// `index >= tree_size` (every index for an empty tree).
    #[error("index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// Consistency asked for sizes that admit no proof (`first == 0` or
    /// `first > second`) in the strict RFC 9162 sense.
    #[error("no consistency proof exists from size {first} to size {second}")]
    SizeOrder {
        /// Old size.
        first: u64,
        /// New size.
        second: u64,
    },
    /// The proof has more elements than the sizes allow.
    #[error("proof is too long")]
    ProofTooLong,
    /// The proof has fewer elements than the sizes require.
    #[error("proof is too short")]
    ProofTooShort,
    /// Same sizes must come with an empty proof.
    #[error("proof must be empty for equal sizes")]
    ProofNotEmpty,
    /// The proof recomputes a different root.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
}

/// The right edge of a Merkle tree: the root hash of each perfect subtree
/// given by the set bits of the size, largest (leftmost) first.
///
/// It is all that is needed to append leaves and compute the root; every
/// hash it holds is a complete perfect node that never changes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// The compact range of the empty tree.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            size: 0,
            nodes: Vec::new(),
        }
    }

    /// The perfect nodes that make up the compact range of a tree of `size`,
    /// largest first (one per set bit of `size`).
    #[must_use]
    pub fn node_ids(size: u64) -> Vec<NodeId> {
        range_nodes(0, size)
    }

    /// Rebuilds a compact range from the hashes of [`Self::node_ids`]`(size)`.
    /// Returns `None` when the number of hashes does not match `size`.
    #[must_use]
    pub fn from_hashes(size: u64, nodes: Vec<Hash>) -> Option<Self> {
        (nodes.len() == size.count_ones() as usize).then_some(Self { size, nodes })
    }

    /// Reads the compact range of a tree of `size` from `source`.
    ///
    /// # Errors
    /// Fails when the source fails or returns the wrong number of hashes.
    pub fn from_source<S: HashSource>(size: u64, source: &S) -> Result<Self, ProofError<S::Error>> {
        let ids = Self::node_ids(size);
        let nodes = fetch(source, &ids)?;
        Ok(Self { size, nodes })
    }

    /// Number of leaves in the tree.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The perfect-subtree hashes, largest first.
    #[must_use]
    pub fn hashes(&self) -> &[Hash] {
        &self.nodes
    }

    /// The RFC 6962 root of the tree.
    #[must_use]
    pub fn root(&self) -> Hash {
        fold_right(&self.nodes)
    }

    /// Appends one leaf hash and pushes onto `completed` the leaf node and
    /// every perfect node the leaf completes (lowest level first).
    pub fn append(&mut self, leaf: Hash, completed: &mut Vec<(NodeId, Hash)>) {
        let s = self.size;
        let mut h = leaf;
        completed.push((NodeId::new(0, s), h));
        let mut level: u8 = 0;
        while (s >> level) & 1 == 1 {
            // A set bit below the new leaf means a perfect sibling on the left.
            let Some(left) = self.nodes.pop() else { break };
            h = node_hash(&left, &h);
            level += 1;
            completed.push((NodeId::new(level, s >> level), h));
        }
        self.nodes.push(h);
        self.size = s + 1;
    }

    /// Appends a batch of leaf hashes and returns every completed perfect
    /// node (including the leaves themselves), in append order.
    pub fn extend(&mut self, leaves: &[Hash]) -> Vec<(NodeId, Hash)> {
        let mut completed = Vec::with_capacity(leaves.len() * 2 + 1);
        for leaf in leaves {
            self.append(*leaf, &mut completed);
        }
        completed
    }
}

/// Folds perfect-subtree hashes (left to right) into a root, starting from
/// the right: `acc = H(0x01 || x || acc)`.
fn fold_right(nodes: &[Hash]) -> Hash {
    let mut it = nodes.iter().rev();
    let Some(last) = it.next() else {
        return EMPTY_ROOT;
    };
    it.fold(*last, |acc, x| node_hash(x, &acc))
}

/// Largest power of two strictly less than `n` (`n >= 2`).
const fn split_point(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Decomposes `[lo, hi)` into maximal aligned perfect subtrees, left to right.
fn range_nodes(lo: u64, hi: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut a = lo;
    while a < hi {
        // Largest level allowed by the alignment of `a` and the room left.
        let align = if a == 0 { 63 } else { a.trailing_zeros() };
        let room = (hi - a).ilog2();
        let level = align.min(room);
        // `level` is at most 63, so it fits in a u8.
        out.push(NodeId::new(u8::try_from(level).unwrap_or(63), a >> level));
        a += 1 << level;
    }
    out
}

/// The leaf ranges whose hashes form the inclusion proof of `index` in
/// `[lo, hi)` (RFC 9162 §2.1.3.1), leaf side first.
fn inclusion_ranges(index: u64, mut lo: u64, mut hi: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            lo += k;
        }
    }
    out.reverse();
    out
}

/// The leaf ranges whose hashes form the consistency proof from `m` to
/// `[0, n)` (RFC 9162 §2.1.4.1 SUBPROOF), leaf side first.
fn consistency_ranges(m: u64, n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut m, mut lo, mut hi, mut complete) = (m, 0u64, n, true);
    while m != hi - lo {
        let k = split_point(hi - lo);
        if m <= k {
            out.push((lo + k, hi));
            hi = lo + k;
        } else {
            out.push((lo, lo + k));
            m -= k;
            lo += k;
            complete = false;
        }
    }
    if !complete {
        out.push((lo, hi));
    }
    out.reverse();
    out
}

fn fetch<S: HashSource>(source: &S, ids: &[NodeId]) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = source.node_hashes(ids).map_err(ProofError::Source)?;
    if hashes.len() != ids.len() {
        return Err(ProofError::SourceLength {
            want: ids.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Resolves a list of leaf ranges to their hashes with one read.
fn ranges_to_hashes<S: HashSource>(ranges: &[(u64, u64)], source: &S) -> Result<Vec<Hash>, ProofError<S::Error>> {
    let parts: Vec<Vec<NodeId>> = ranges.iter().map(|&(a, b)| range_nodes(a, b)).collect();
    let ids: Vec<NodeId> = parts.iter().flatten().copied().collect();
    let hashes = fetch(source, &ids)?;
    let mut out = Vec::with_capacity(parts.len());
    let mut at = 0;
    for p in &parts {
        let end = at + p.len();
        out.push(fold_right(hashes.get(at..end).unwrap_or_default()));
        at = end;
    }
    Ok(out)
}

/// The perfect nodes [`consistency_proof`] reads for `(old, new)`.
#[must_use]
pub fn consistency_nodes(old: u64, new: u64) -> Vec<NodeId> {
    if old == 0 || old >= new {
        return Vec::new();
    }
    consistency_ranges(old, new)
        .iter()
        .flat_map(|&(a, b)| range_nodes(a, b))
        .collect()
}

/// The perfect nodes [`inclusion_proof`] reads for `(index, size)`.
#[must_use]
pub fn inclusion_nodes(index: u64, size: u64) -> Vec<NodeId> {
    if index >= size {
        return Vec::new();
    }
    inclusion_ranges(index, 0, size)
        .iter()
        .flat_map(|&(a, b)| range_nodes(a, b))
        .collect()
}

/// Generates the RFC 9162 inclusion proof of leaf `index` in the tree of
/// `size` leaves, leaf side first, reading the nodes it needs from `source`
/// in one call.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index >= size`; source failures.
pub fn inclusion_proof<S: HashSource>(index: u64, size: u64, source: &S) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    ranges_to_hashes(&inclusion_ranges(index, 0, size), source)
}

/// Generates the RFC 9162 consistency proof from tree size `old` to `new`.
/// Sizes `old == 0` and `old == new` give an empty proof (nothing to prove).
///
/// # Errors
/// [`ProofError::SizeOrder`] when `old > new`; source failures.
pub fn consistency_proof<S: HashSource>(old: u64, new: u64, source: &S) -> Result<Vec<Hash>, ProofError<S::Error>> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    ranges_to_hashes(&consistency_ranges(old, new), source)
}

/// Computes the root of the tree of `size` leaves from its perfect nodes.
///
/// # Errors
/// Source failures.
pub fn root<S: HashSource>(size: u64, source: &S) -> Result<Hash, ProofError<S::Error>> {
    Ok(CompactRange::from_source(size, source)?.root())
}

fn to_hash(bytes: &[u8]) -> Result<Hash, VerifyError> {
    bytes.try_into().map_err(|_| VerifyError::HashLength(bytes.len()))
}

fn to_hashes<P: AsRef<[u8]>>(proof: &[P]) -> Result<Vec<Hash>, VerifyError> {
    proof.iter().map(|p| to_hash(p.as_ref())).collect()
}

/// Shifts `fn_` and `sn` right until `fn_` is odd or zero (RFC 9162).
fn shift_until_odd(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Recomputes the root from an inclusion proof (RFC 9162 §2.1.3.2 steps 1–3).
///
/// # Errors
/// Index out of range, wrong hash lengths, a proof too long or too short.
pub fn root_from_inclusion_proof<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[P],
) -> Result<Hash, VerifyError> {
    let leaf = to_hash(leaf)?;
    let proof = to_hashes(proof)?;
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, leaf);
    for p in &proof {
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            shift_until_odd(&mut fn_, &mut sn);
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    Ok(r)
}

/// Verifies an inclusion proof exactly as RFC 9162 §2.1.3.2.
///
/// `size` and `root` must come from the same verified checkpoint.
///
/// # Errors
/// Any reason the proof does not show `leaf` at `index` under `root`.
pub fn verify_inclusion<P: AsRef<[u8]>>(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[P],
    root: &[u8],
) -> Result<(), VerifyError> {
    let root = to_hash(root)?;
    if root_from_inclusion_proof(index, size, leaf, proof)? == root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Verifies a consistency proof exactly as RFC 9162 §2.1.4.2, for
/// `0 < first <= second`; `first == second` requires an empty proof and
/// equal roots. `first == 0` is an error here (the strict RFC reading);
/// callers that treat size 0 as trivially consistent use
/// [`verify_consistency_from_any`].
///
/// # Errors
/// Any reason the proof does not show that `first_root` is a prefix of
/// `second_root`.
pub fn verify_consistency<P: AsRef<[u8]>>(
    first: u64,
    second: u64,
    first_root: &[u8],
    second_root: &[u8],
    proof: &[P],
) -> Result<(), VerifyError> {
    let first_root = to_hash(first_root)?;
    let second_root = to_hash(second_root)?;
    let proof = to_hashes(proof)?;
    if first == 0 || first > second {
        return Err(VerifyError::SizeOrder { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(VerifyError::ProofNotEmpty);
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(VerifyError::ProofTooShort);
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(first_root);
    }
    path.extend_from_slice(&proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(VerifyError::ProofTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            shift_until_odd(&mut fn_, &mut sn);
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofTooShort);
    }
    if fr == first_root && sr == second_root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Like [`verify_consistency`], but with the witness/monitor convention that
/// a tree of size 0 is a prefix of every tree: `first == 0` requires an
/// empty proof and `first_root` equal to [`EMPTY_ROOT`].
///
/// # Errors
/// As [`verify_consistency`].
pub fn verify_consistency_from_any<P: AsRef<[u8]>>(
    first: u64,
    second: u64,
    first_root: &[u8],
    second_root: &[u8],
    proof: &[P],
) -> Result<(), VerifyError> {
    if first == 0 {
        let first_root = to_hash(first_root)?;
        to_hash(second_root)?;
        if !proof.is_empty() {
            return Err(VerifyError::ProofNotEmpty);
        }
        return if first_root == EMPTY_ROOT {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    verify_consistency(first, second, first_root, second_root, proof)
}

/// A Merkle tree held in memory: every perfect node of every level.
///
/// Meant for tests, benchmarks and small clients; servers read nodes from
/// storage instead.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

/// A node a [`MemoryTree`] does not (yet) hold.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("node ({}, {}) is not in the tree", .0.level, .0.index)]
pub struct MissingNode(pub NodeId);

impl MemoryTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash, completing every perfect node it closes.
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(h);
            let n = self.levels[level].len();
            if n % 2 == 1 {
                break;
            }
            h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    /// The root of the first `size` leaves.
    ///
    /// # Errors
    /// [`MissingNode`] when `size` exceeds the tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError<MissingNode>> {
        root(size, self)
    }
}

impl HashSource for MemoryTree {
    type Error = MissingNode;
    fn node_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        ids.iter()
            .map(|id| {
                usize::try_from(id.index)
                    .ok()
                    .and_then(|i| self.levels.get(usize::from(id.level))?.get(i))
                    .copied()
                    .ok_or(MissingNode(*id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{b64, hex};
    use proptest::prelude::*;
    use serde_json::Value;

    fn h(v: &Value) -> Hash {
        hex::decode_hash(v.as_str().expect("hex string")).expect("32-byte hex")
    }
    fn hs(v: &Value) -> Vec<Hash> {
        v.as_array().expect("array").iter().map(h).collect()
    }
    fn b(v: &Value) -> Vec<u8> {
        b64::decode(v.as_str().expect("b64 string")).expect("base64")
    }
    fn bs(v: &Value) -> Vec<Vec<u8>> {
        v.as_array().expect("array").iter().map(b).collect()
    }
    fn u(v: &Value) -> u64 {
        v.as_u64().expect("integer")
    }

    fn tree_of(leaves: impl IntoIterator<Item = Hash>) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// The recursive MTH of RFC 6962 §2.1, as an independent model.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn hashes_match_spec_examples() {
        assert_eq!(sha256(&[]), EMPTY_ROOT);
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            b64::encode(leaf_hash(b"hello world")),
            "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
        );
    }

    #[test]
    fn reference_8_roots_nodes_and_proofs() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/merkle_reference_8.json")).expect("json");
        let inputs: Vec<Vec<u8>> = v["leaf_inputs_hex"]
            .as_array()
            .expect("array")
            .iter()
            .map(|x| hex::decode(x.as_str().expect("str")).expect("hex"))
            .collect();
        let leaves: Vec<Hash> = inputs.iter().map(|d| leaf_hash(d)).collect();
        assert_eq!(leaves, hs(&v["leaf_hashes"]));
        let tree = tree_of(leaves.iter().copied());
        for (level, hashes) in v["node_hashes_by_level"].as_array().expect("levels").iter().enumerate() {
            for (i, want) in hs(hashes).iter().enumerate() {
                let got = tree.node_hashes(&[NodeId::new(level as u8, i as u64)]).expect("node");
                assert_eq!(&got[0], want, "node ({level}, {i})");
            }
        }
        for (size, root_hex) in v["roots_by_size"].as_object().expect("roots") {
            let size: u64 = size.parse().expect("size");
            let want = h(root_hex);
            assert_eq!(tree.root_at(size).expect("root"), want, "root {size}");
            let mut cr = CompactRange::new();
            cr.extend(&leaves[..size as usize]);
            assert_eq!(cr.root(), want, "compact range root {size}");
        }
        let incl = v["inclusion_proofs"].as_array().expect("inclusion");
        assert!(incl.len() >= 36);
        for p in incl {
            let (i, n) = (u(&p["leaf_index"]), u(&p["tree_size"]));
            let want = hs(&p["proof"]);
            assert_eq!(inclusion_proof(i, n, &tree).expect("proof"), want, "inclusion {i}@{n}");
            verify_inclusion(i, n, &h(&p["leaf_hash"]), &want, &h(&p["root"])).expect("verifies");
        }
        let cons = v["consistency_proofs"].as_array().expect("consistency");
        assert!(cons.len() >= 28);
        for p in cons {
            let (m, n) = (u(&p["size1"]), u(&p["size2"]));
            let want = hs(&p["proof"]);
            assert_eq!(
                consistency_proof(m, n, &tree).expect("proof"),
                want,
                "consistency {m}->{n}"
            );
            verify_consistency(m, n, &h(&p["root1"]), &h(&p["root2"]), &want).expect("verifies");
        }
    }

    #[test]
    fn rfc_example_tree() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/merkle_reference_8.json")).expect("json");
        let ex = &v["rfc_example_7_leaves"];
        // The named proofs of RFC 6962 §2.1.3, checked structurally against
        // the reference tree built from the first 7 leaves.
        let inputs: Vec<Vec<u8>> = v["leaf_inputs_hex"].as_array().expect("a")[..7]
            .iter()
            .map(|x| hex::decode(x.as_str().expect("s")).expect("hex"))
            .collect();
        let tree = tree_of(inputs.iter().map(|d| leaf_hash(d)));
        let letters = ex["letters"].as_object().expect("letters");
        let get = |c: &Value| h(&letters[c.as_str().expect("letter")]);
        assert_eq!(tree.root_at(7).expect("root"), h(&ex["root"]));
        let mut n = 0;
        for (leaf, names) in ex["inclusion"].as_object().expect("inclusion") {
            let i: u64 = leaf.trim_start_matches('d').parse().expect("dN");
            let want: Vec<Hash> = names.as_array().expect("a").iter().map(get).collect();
            assert_eq!(inclusion_proof(i, 7, &tree).expect("proof"), want, "{leaf}");
            n += 1;
        }
        for (sizes, names) in ex["consistency"].as_object().expect("consistency") {
            let (m, k) = sizes.split_once("->").expect("m->n");
            let (m, k): (u64, u64) = (m.parse().expect("m"), k.parse().expect("n"));
            let want: Vec<Hash> = names.as_array().expect("a").iter().map(get).collect();
            assert_eq!(consistency_proof(m, k, &tree).expect("proof"), want, "{sizes}");
            n += 1;
        }
        assert_eq!(n, 7);
    }

    #[test]
    fn transparency_dev_probes() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/merkle_verify_probes.json")).expect("json");
        let mut checked = 0;
        for p in v["inclusion"].as_array().expect("inclusion") {
            let got = verify_inclusion(
                u(&p["leafIdx"]),
                u(&p["treeSize"]),
                &b(&p["leafHash"]),
                &bs(&p["proof"]),
                &b(&p["root"]),
            );
            assert_eq!(got.is_err(), p["wantErr"].as_bool().expect("bool"), "{p}");
            checked += 1;
        }
        for p in v["consistency"].as_array().expect("consistency") {
            let (r1, r2) = (b(&p["root1"]), b(&p["root2"]));
            let got = verify_consistency(u(&p["size1"]), u(&p["size2"]), &r1, &r2, &bs(&p["proof"]));
            let want_err = p["wantErr"].as_bool().expect("bool");
            if !want_err && (r1.len() != 32 || r2.len() != 32) {
                // transparency-dev compares roots of any length; a root that
                // is not 32 bytes cannot be a SHA-256 tree head, so we refuse.
                assert_eq!(got, Err(VerifyError::HashLength(r1.len().min(r2.len()))), "{p}");
            } else {
                assert_eq!(got.is_err(), want_err, "{p}");
            }
            checked += 1;
        }
        assert!(checked >= 196, "only {checked} probes");
    }

    #[test]
    fn argon2020_real_log() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/merkle_ct_argon2020.json")).expect("json");
        let leaf = leaf_hash(&b(&v["leaf_input_b64"]));
        assert_eq!(leaf.to_vec(), b(&v["leaf_hash"]));
        let n = u(&v["tree_size"]);
        let root = b(&v["root_hash"]);
        let proof = bs(&v["inclusion_proof"]);
        verify_inclusion(u(&v["leaf_index"]), n, &leaf, &proof, &root).expect("inclusion");
        assert!(verify_inclusion(u(&v["leaf_index"]) + 1, n, &leaf, &proof, &root).is_err());
        let cproof = bs(&v["consistency_proof"]);
        let m = u(&v["consistency_old_size"]);
        let old = b(&v["consistency_old_root"]);
        verify_consistency(m, n, &old, &root, &cproof).expect("consistency");
        assert!(verify_consistency(m + 1, n, &old, &root, &cproof).is_err());
        assert!(verify_consistency(m, n, &root, &old, &cproof).is_err());
    }

    #[test]
    fn tree_of_70000_matches_tile_computed_proofs() {
        let v: Value =
            serde_json::from_str(include_str!("../../testdata/vectors/tlog_tiles_70000.json")).expect("json");
        let tree = tree_of((0..70_000).map(|i| leaf_hash(format!("leaf {i}").as_bytes())));
        for (size, root_hex) in v["roots_by_size"].as_object().expect("roots") {
            let size: u64 = size.parse().expect("size");
            assert_eq!(tree.root_at(size).expect("root"), h(root_hex), "root {size}");
        }
        let ip = &v["inclusion_proofs_at_70000"];
        let n = u(&ip["tree_size"]);
        for p in ip["proofs"].as_array().expect("proofs") {
            let i = u(&p["leaf_index"]);
            assert_eq!(
                inclusion_proof(i, n, &tree).expect("proof"),
                hs(&p["proof"]),
                "inclusion {i}"
            );
        }
        for p in v["consistency_proofs"].as_array().expect("consistency") {
            let (m, n) = (u(&p["size1"]), u(&p["size2"]));
            assert_eq!(
                consistency_proof(m, n, &tree).expect("proof"),
                hs(&p["proof"]),
                "{m}->{n}"
            );
        }
    }

    #[test]
    fn proof_lengths_follow_the_closed_forms() {
        for n in 1u64..130 {
            for m in 0..n {
                let inner = 64 - (m ^ (n - 1)).leading_zeros();
                let border = (m >> inner).count_ones();
                assert_eq!(
                    inclusion_ranges(m, 0, n).len(),
                    (inner + border) as usize,
                    "inclusion {m}@{n}"
                );
            }
            for m in 1..n {
                let bl = 64 - ((m - 1) ^ (n - 1)).leading_zeros();
                let want = (bl - m.trailing_zeros()) + ((m - 1) >> bl).count_ones() + u32::from(!m.is_power_of_two());
                assert_eq!(consistency_ranges(m, n).len(), want as usize, "{m}->{n}");
            }
        }
    }

    #[test]
    fn errors_for_impossible_requests() {
        let tree = tree_of((0..5).map(|i| leaf_hash(&[i])));
        assert_eq!(
            inclusion_proof(5, 5, &tree),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            consistency_proof(6, 5, &tree),
            Err(ProofError::SizeOrder { old: 6, new: 5 })
        );
        assert_eq!(consistency_proof(0, 5, &tree), Ok(vec![]));
        assert_eq!(consistency_proof(5, 5, &tree), Ok(vec![]));
        assert!(matches!(inclusion_proof(3, 9, &tree), Err(ProofError::Source(_))));
        let r = tree.root_at(5).expect("root");
        assert!(verify_consistency_from_any(0, 5, &EMPTY_ROOT, &r, &[] as &[Hash]).is_ok());
        assert!(verify_consistency_from_any(0, 5, &r, &r, &[] as &[Hash]).is_err());
        assert!(verify_consistency(0, 5, &EMPTY_ROOT, &r, &[] as &[Hash]).is_err());
    }

    /// A tree of `n` distinct leaves.
    fn random_tree(n: u64, salt: u64) -> (Vec<Hash>, MemoryTree) {
        let leaves: Vec<Hash> = (0..n)
            .map(|i| leaf_hash(&[i.to_be_bytes(), salt.to_be_bytes()].concat()))
            .collect();
        let tree = tree_of(leaves.iter().copied());
        (leaves, tree)
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        FlipBit(usize, u8),
        Drop(usize),
        Extra,
        Size(i8),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 0u8..=255).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
            any::<usize>().prop_map(Mutation::Drop),
            Just(Mutation::Extra),
            prop_oneof![Just(-1i8), Just(1), Just(2), Just(-2)].prop_map(Mutation::Size),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn compact_range_matches_model(n in 0u64..3000, split in 0u64..3000) {
            let (leaves, tree) = random_tree(n, 7);
            let split = split.min(n) as usize;
            let mut cr = CompactRange::new();
            let mut done = cr.extend(&leaves[..split]);
            done.extend(cr.extend(&leaves[split..]));
            prop_assert_eq!(cr.root(), mth(&leaves));
            prop_assert_eq!(cr.size(), n);
            // Every completed node is the model's node, and every node of the
            // tree was reported exactly once.
            let mut count = 0u64;
            for (id, hash) in &done {
                prop_assert_eq!(tree.node_hashes(&[*id]).expect("node")[0], *hash);
                count += 1;
            }
            let total: u64 = (0..64).map(|l| n >> l).sum();
            prop_assert_eq!(count, total);
            let rebuilt = CompactRange::from_source(n, &tree).expect("source");
            prop_assert_eq!(rebuilt, cr);
        }

        #[test]
        fn inclusion_proofs_verify_and_mutations_fail(
            n in 1u64..5000, i in any::<u64>(), m in mutation(), salt in any::<u64>()
        ) {
            // Two spare leaves so that a wrong size above n has a real root.
            let (leaves, tree) = random_tree(n + 2, salt);
            let i = i % n;
            let root = mth(&leaves[..n as usize]);
            let proof = inclusion_proof(i, n, &tree).expect("proof");
            prop_assert!(verify_inclusion(i, n, &leaves[i as usize], &proof, &root).is_ok());
            let mut bad = proof.clone();
            let (mut size, mut want_root) = (n, root);
            match m {
                Mutation::FlipBit(at, bit) => {
                    if bad.is_empty() { return Ok(()); }
                    let k = at % bad.len();
                    bad[k][usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
                }
                Mutation::Drop(at) => {
                    if bad.is_empty() { return Ok(()); }
                    let k = at % bad.len();
                    bad.remove(k);
                }
                Mutation::Extra => bad.push(leaves[0]),
                Mutation::Size(d) => {
                    // The wrong size comes with the real root of that size, as
                    // it would from a checkpoint for it.
                    size = n.saturating_add_signed(i64::from(d));
                    if size == n || size == 0 { return Ok(()); }
                    want_root = mth(&leaves[..size as usize]);
                }
            }
            prop_assert!(verify_inclusion(i, size, &leaves[i as usize], &bad, &want_root).is_err());
        }

        #[test]
        fn consistency_proofs_verify_and_mutations_fail(
            n in 2u64..5000, m0 in any::<u64>(), mu in mutation(), salt in any::<u64>()
        ) {
            let (leaves, tree) = random_tree(n + 2, salt);
            let m = 1 + m0 % (n - 1);
            let root_at = |s: u64| mth(&leaves[..s as usize]);
            let proof = consistency_proof(m, n, &tree).expect("proof");
            prop_assert!(verify_consistency(m, n, &root_at(m), &root_at(n), &proof).is_ok());
            let mut bad = proof.clone();
            let (mut m2, mut n2) = (m, n);
            match mu {
                Mutation::FlipBit(at, bit) => {
                    if bad.is_empty() { return Ok(()); }
                    let k = at % bad.len();
                    bad[k][usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
                }
                Mutation::Drop(at) => {
                    if bad.is_empty() { return Ok(()); }
                    let k = at % bad.len();
                    bad.remove(k);
                }
                Mutation::Extra => bad.push(leaves[0]),
                Mutation::Size(d) => {
                    // Odd deltas move the old size, even ones the new size.
                    if d % 2 == 0 {
                        n2 = n.saturating_add_signed(i64::from(d / 2));
                    } else {
                        m2 = m.saturating_add_signed(i64::from(d));
                    }
                    if (m2, n2) == (m, n) || m2 == 0 || m2 >= n2 { return Ok(()); }
                }
            }
            prop_assert!(verify_consistency(m2, n2, &root_at(m2), &root_at(n2), &bad).is_err());
        }
    }
}
