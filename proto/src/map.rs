//! `provlog-map-v1`: a verifiable map from 32-byte keys to 32-byte values,
//! with proofs of inclusion and of non-inclusion (docs/MAP.md, the format
//! to the byte; vectors in `testdata/vectors/map_v1.json`).
//!
//! The map is a binary Patricia trie: an inner node exists for a key prefix
//! `P` exactly when some key starts `P‖0` and another `P‖1`, and it hashes
//! the bit it splits at with its two children. The set of keys alone fixes
//! the shape, so the root depends only on the (key, value) pairs, never on
//! the order they were set in. Hashes are SHA-256 with prefixes `0x12`
//! (leaf), `0x13` (inner) and `0x14` (empty map), apart from RFC 6962's
//! `0x00`/`0x01`, so no map hash is ever a log hash.
//!
//! No I/O. Nodes live in two arenas indexed by `u32`, hashes are
//! recomputed once per [`Map::root`] for the nodes changed since.

use provlog_tlog::merkle::{Hash, sha256};

/// A map key: see [`map_key`].
pub type Key = [u8; 32];
/// A map value: the hash of what the key maps to.
pub type Value = [u8; 32];

const LEAF: u8 = 0x12;
const INNER: u8 = 0x13;
const EMPTY: u8 = 0x14;
/// Most steps a proof can have: one per bit of a key.
pub const MAX_STEPS: usize = 256;

/// The root of the empty map: `SHA-256(0x14)`.
#[must_use]
pub fn empty_root() -> Hash {
    sha256(&[&[EMPTY]])
}

/// `SHA-256(0x12 ‖ key ‖ value)`.
#[must_use]
pub fn leaf_hash(key: &Key, value: &Value) -> Hash {
    sha256(&[&[LEAF], key, value])
}

/// `SHA-256(0x13 ‖ bit ‖ left ‖ right)`.
#[must_use]
pub fn inner_hash(bit: u8, left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[INNER, bit], left, right])
}

/// Bit `i` of `key`, most significant bit of byte 0 first.
#[must_use]
pub fn bit(key: &Key, i: u8) -> u8 {
    (key[usize::from(i >> 3)] >> (7 - (i & 7))) & 1
}

/// The first bit at which two different keys differ.
pub(crate) fn first_difference(a: &Key, b: &Key) -> Option<u8> {
    a.iter().zip(b).enumerate().find_map(|(i, (x, y))| {
        let d = x ^ y;
        if d == 0 {
            return None;
        }
        // i < 32 and leading_zeros < 8: the bit index is below 256.
        let (i, z) = (u8::try_from(i).ok()?, u8::try_from(d.leading_zeros()).ok()?);
        Some(i * 8 + z)
    })
}

/// A child: a leaf or an inner node, by arena index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ref {
    Leaf(u32),
    Inner(u32),
}

#[derive(Debug, Clone)]
struct Leaf {
    key: Key,
    value: Value,
}

#[derive(Debug, Clone)]
struct Inner {
    bit: u8,
    children: [Ref; 2],
    /// Valid unless `dirty`.
    hash: Hash,
    dirty: bool,
}

/// Why a map operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// More than `u32::MAX` keys.
    #[error("the map is full")]
    Full,
    /// A proof's bytes are not a proof.
    #[error("malformed proof: {0}")]
    Malformed(&'static str),
    /// A proof does not show what it is claimed to show.
    #[error("the proof does not verify: {0}")]
    Invalid(&'static str),
}

/// The map.
#[derive(Debug, Clone, Default)]
pub struct Map {
    root: Option<Ref>,
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
}

/// What a proof shows about its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofKind {
    /// The key is in the map with the value the verifier is given.
    Inclusion,
    /// The key is not in the map: the lookup for it ends at this other leaf.
    Absent {
        /// The leaf's key (never the key asked about).
        key: Key,
        /// The leaf's value.
        value: Value,
    },
    /// The map is empty.
    Empty,
}

/// A proof about one key, steps ordered from the leaf up to the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    /// Inclusion, absence (with the leaf the lookup ends at), or empty map.
    pub kind: ProofKind,
    /// `(bit, sibling hash)` of each inner node on the path, leaf first;
    /// bits strictly decrease.
    pub steps: Vec<(u8, Hash)>,
}

impl Map {
    /// The empty map.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Bytes the map holds on the heap (its two arenas), for the memory
    /// figures: about 64 per key plus about 48 per inner node.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.leaves.capacity() * std::mem::size_of::<Leaf>() + self.inners.capacity() * std::mem::size_of::<Inner>()
    }

    /// Whether the map has no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// The leaf the lookup for `key` ends at, and the path of inner nodes
    /// (root first) with the side taken at each.
    fn lookup(&self, key: &Key) -> Option<(u32, Vec<(u32, usize)>)> {
        let mut at = self.root?;
        let mut path = Vec::new();
        loop {
            match at {
                Ref::Leaf(l) => return Some((l, path)),
                Ref::Inner(i) => {
                    let n = &self.inners[i as usize];
                    let side = usize::from(bit(key, n.bit));
                    path.push((i, side));
                    at = n.children[side];
                }
            }
        }
    }

    /// The value of `key`, if it is in the map.
    #[must_use]
    pub fn get(&self, key: &Key) -> Option<&Value> {
        let (l, _) = self.lookup(key)?;
        let leaf = &self.leaves[l as usize];
        (leaf.key == *key).then_some(&leaf.value)
    }

    /// Sets `key` to `value` (inserting it if new). `O(depth)`; hashes are
    /// recomputed by the next [`Map::root`].
    ///
    /// # Errors
    /// [`MapError::Full`] beyond `u32::MAX` keys or inner nodes.
    pub fn set(&mut self, key: Key, value: Value) -> Result<(), MapError> {
        let Some((l, path)) = self.lookup(&key) else {
            let l = self.push_leaf(key, value)?;
            self.root = Some(Ref::Leaf(l));
            return Ok(());
        };
        let found = self.leaves[l as usize].key;
        let Some(d) = first_difference(&key, &found) else {
            self.leaves[l as usize].value = value;
            for (i, _) in path {
                self.inners[i as usize].dirty = true;
            }
            return Ok(());
        };
        // The new inner node goes above the first node on the path that
        // splits below bit d (or above the leaf): every key under that
        // node agrees with `found`, hence with `key`, before bit d.
        let depth = path
            .iter()
            .position(|(i, _)| self.inners[*i as usize].bit > d)
            .unwrap_or(path.len());
        let displaced = match path.get(depth) {
            Some((i, _)) => Ref::Inner(*i),
            None => Ref::Leaf(l),
        };
        let new_leaf = Ref::Leaf(self.push_leaf(key, value)?);
        let children = if bit(&key, d) == 0 {
            [new_leaf, displaced]
        } else {
            [displaced, new_leaf]
        };
        let node = u32::try_from(self.inners.len()).map_err(|_| MapError::Full)?;
        self.inners.push(Inner {
            bit: d,
            children,
            hash: [0; 32],
            dirty: true,
        });
        match depth.checked_sub(1).and_then(|p| path.get(p)) {
            Some((parent, side)) => self.inners[*parent as usize].children[*side] = Ref::Inner(node),
            None => self.root = Some(Ref::Inner(node)),
        }
        for (i, _) in &path[..depth] {
            self.inners[*i as usize].dirty = true;
        }
        Ok(())
    }

    fn push_leaf(&mut self, key: Key, value: Value) -> Result<u32, MapError> {
        let l = u32::try_from(self.leaves.len()).map_err(|_| MapError::Full)?;
        self.leaves.push(Leaf { key, value });
        Ok(l)
    }

    /// The hash of a child, recomputing changed inner nodes below it.
    fn hash_of(&mut self, r: Ref) -> Hash {
        match r {
            Ref::Leaf(l) => {
                let leaf = &self.leaves[l as usize];
                leaf_hash(&leaf.key, &leaf.value)
            }
            Ref::Inner(i) => {
                let n = &self.inners[i as usize];
                if !n.dirty {
                    return n.hash;
                }
                let (b, [left, right]) = (n.bit, n.children);
                let (lh, rh) = (self.hash_of(left), self.hash_of(right));
                let n = &mut self.inners[i as usize];
                n.hash = inner_hash(b, &lh, &rh);
                n.dirty = false;
                n.hash
            }
        }
    }

    /// The map's root hash ([`empty_root`] when empty).
    pub fn root(&mut self) -> Hash {
        match self.root {
            None => empty_root(),
            Some(r) => self.hash_of(r),
        }
    }

    /// The proof of what the map holds for `key`: its inclusion (the
    /// value is [`Map::get`]'s) or its absence.
    pub fn prove(&mut self, key: &Key) -> MapProof {
        let _ = self.root();
        // Every hash is current after `root`.
        self.prove_clean(key).unwrap_or(MapProof {
            kind: ProofKind::Empty,
            steps: Vec::new(),
        })
    }

    /// The cached hash of a child, `None` if it changed since the last
    /// [`Map::root`].
    fn clean_hash(&self, r: Ref) -> Option<Hash> {
        match r {
            Ref::Leaf(l) => {
                let leaf = &self.leaves[l as usize];
                Some(leaf_hash(&leaf.key, &leaf.value))
            }
            Ref::Inner(i) => {
                let n = &self.inners[i as usize];
                (!n.dirty).then_some(n.hash)
            }
        }
    }

    /// [`Map::prove`] without recomputing anything, for readers that share
    /// the map: `None` if a node on the path changed since the last
    /// [`Map::root`] (a map whose owner calls `root` after every change is
    /// always clean).
    #[must_use]
    pub fn prove_clean(&self, key: &Key) -> Option<MapProof> {
        let Some((l, path)) = self.lookup(key) else {
            return Some(MapProof {
                kind: ProofKind::Empty,
                steps: Vec::new(),
            });
        };
        let mut steps = Vec::with_capacity(path.len());
        for (i, side) in path.iter().rev() {
            let n = &self.inners[*i as usize];
            if n.dirty {
                return None;
            }
            steps.push((n.bit, self.clean_hash(n.children[1 - side])?));
        }
        let leaf = &self.leaves[l as usize];
        let kind = if leaf.key == *key {
            ProofKind::Inclusion
        } else {
            ProofKind::Absent {
                key: leaf.key,
                value: leaf.value,
            }
        };
        Some(MapProof { kind, steps })
    }

    /// The root without recomputing anything: `None` if the map changed
    /// since the last [`Map::root`].
    #[must_use]
    pub fn clean_root(&self) -> Option<Hash> {
        match self.root {
            None => Some(empty_root()),
            Some(r) => self.clean_hash(r),
        }
    }
}

impl MapProof {
    /// The compact binary form (docs/MAP.md): `kind u8` (0 inclusion, 1
    /// absent, 2 empty), for absent the leaf's `key ‖ value`, `count u16`
    /// big-endian, then `count × (bit u8 ‖ sibling[32])` leaf first.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(67 + 33 * self.steps.len());
        match &self.kind {
            ProofKind::Inclusion => out.push(0),
            ProofKind::Absent { key, value } => {
                out.push(1);
                out.extend_from_slice(key);
                out.extend_from_slice(value);
            }
            ProofKind::Empty => out.push(2),
        }
        let n = u16::try_from(self.steps.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for (b, s) in &self.steps {
            out.push(*b);
            out.extend_from_slice(s);
        }
        out
    }

    /// Parses the binary form; nothing may follow the last step.
    ///
    /// # Errors
    /// [`MapError::Malformed`].
    pub fn decode(bytes: &[u8]) -> Result<Self, MapError> {
        let take32 = |b: &[u8]| -> Option<[u8; 32]> { b.get(..32)?.try_into().ok() };
        let (&kind, rest) = bytes.split_first().ok_or(MapError::Malformed("empty"))?;
        let (kind, rest) = match kind {
            0 => (ProofKind::Inclusion, rest),
            1 => {
                let key = take32(rest).ok_or(MapError::Malformed("truncated leaf"))?;
                let value = take32(&rest[32..]).ok_or(MapError::Malformed("truncated leaf"))?;
                (ProofKind::Absent { key, value }, &rest[64..])
            }
            2 => (ProofKind::Empty, rest),
            _ => return Err(MapError::Malformed("unknown kind")),
        };
        let count = rest.get(..2).ok_or(MapError::Malformed("truncated count"))?;
        let count = usize::from(u16::from_be_bytes([count[0], count[1]]));
        if count > MAX_STEPS {
            return Err(MapError::Malformed("more than 256 steps"));
        }
        let rest = &rest[2..];
        if rest.len() != count * 33 {
            return Err(MapError::Malformed("steps do not match the count"));
        }
        let steps = rest
            .chunks_exact(33)
            .map(|s| {
                let mut h = [0u8; 32];
                h.copy_from_slice(&s[1..]);
                (s[0], h)
            })
            .collect();
        Ok(Self { kind, steps })
    }

    /// Verifies that the map of root `root` holds `value` for `key`
    /// (`None`: that `key` is not in it).
    ///
    /// # Errors
    /// [`MapError::Invalid`] naming the first check that fails.
    pub fn verify(&self, root: &Hash, key: &Key, value: Option<&Value>) -> Result<(), MapError> {
        if self.steps.len() > MAX_STEPS {
            return Err(MapError::Invalid("more than 256 steps"));
        }
        let (k, v) = match (&self.kind, value) {
            (ProofKind::Empty, None) => {
                return if self.steps.is_empty() && *root == empty_root() {
                    Ok(())
                } else {
                    Err(MapError::Invalid("the map is not empty"))
                };
            }
            (ProofKind::Inclusion, Some(v)) => (key, v),
            (ProofKind::Absent { key: k, value: v }, None) => {
                if k == key {
                    return Err(MapError::Invalid("the other leaf is the key itself"));
                }
                (k, v)
            }
            (ProofKind::Empty | ProofKind::Absent { .. }, Some(_)) => {
                return Err(MapError::Invalid("an absence proof for a claimed value"));
            }
            (ProofKind::Inclusion, None) => {
                return Err(MapError::Invalid("an inclusion proof for a claimed absence"));
            }
        };
        let mut h = leaf_hash(k, v);
        let mut prev: u16 = 256;
        for (b, sibling) in &self.steps {
            if u16::from(*b) >= prev {
                return Err(MapError::Invalid("bits do not decrease from leaf to root"));
            }
            prev = u16::from(*b);
            if bit(key, *b) != bit(k, *b) {
                return Err(MapError::Invalid("the lookup for the key does not take this path"));
            }
            h = if bit(key, *b) == 0 {
                inner_hash(*b, &h, sibling)
            } else {
                inner_hash(*b, sibling, &h)
            };
        }
        if h == *root {
            Ok(())
        } else {
            Err(MapError::Invalid("the path does not hash to the root"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as Json;

    const VECTORS: &str = include_str!("../../testdata/vectors/map_v1.json");

    fn b64_32(v: &Json) -> [u8; 32] {
        provlog_tlog::b64::decode_array(v.as_str().expect("string")).expect("32 bytes")
    }

    #[test]
    fn vectors_of_the_independent_model() {
        let v: Json = serde_json::from_str(VECTORS).expect("json");
        assert_eq!(b64_32(&v["empty_root"]), empty_root());
        for c in v["valid"].as_array().expect("valid") {
            let mut m = Map::new();
            // Set in reverse order: the model built the map from sorted pairs.
            for p in c["pairs"].as_array().expect("pairs").iter().rev() {
                m.set(b64_32(&p[0]), b64_32(&p[1])).expect("set");
            }
            let root = m.root();
            assert_eq!(root, b64_32(&c["root"]), "{}", c["name"]);
            for p in c["proofs"].as_array().expect("proofs") {
                let key = b64_32(&p["key"]);
                let value = (!p["value"].is_null()).then(|| b64_32(&p["value"]));
                let want = provlog_tlog::b64::decode(p["proof"].as_str().expect("proof")).expect("b64");
                let got = m.prove(&key);
                assert_eq!(got.encode(), want, "{}: the proof, byte for byte", c["name"]);
                assert_eq!(m.get(&key), value.as_ref());
                MapProof::decode(&want)
                    .expect("decode")
                    .verify(&root, &key, value.as_ref())
                    .expect("verifies");
            }
        }
        for bad in v["invalid"].as_array().expect("invalid") {
            let root = b64_32(&bad["root"]);
            let key = b64_32(&bad["key"]);
            let value = (!bad["value"].is_null()).then(|| b64_32(&bad["value"]));
            let bytes = provlog_tlog::b64::decode(bad["proof"].as_str().expect("proof")).expect("b64");
            let r = MapProof::decode(&bytes).and_then(|p| p.verify(&root, &key, value.as_ref()));
            assert!(r.is_err(), "must fail: {}", bad["why"]);
        }
    }

    fn keys() -> impl Strategy<Value = Vec<([u8; 32], [u8; 32])>> {
        // Keys from a small alphabet of prefixes, so that long shared
        // prefixes and early divergences both occur.
        prop::collection::vec((any::<[u8; 32]>(), any::<u8>(), any::<[u8; 32]>()), 0..60).prop_map(|v| {
            v.into_iter()
                .map(|(mut k, p, val)| {
                    k[0] = p & 0b1100_0011;
                    (k, val)
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn roots_do_not_depend_on_order_and_every_proof_verifies(
            pairs in keys(),
            absent in prop::collection::vec(any::<[u8; 32]>(), 1..8),
        ) {
            let mut a = Map::new();
            for (k, v) in &pairs {
                a.set(*k, *v).expect("set");
            }
            // The last write of a key wins; rebuild the same final set the other way round.
            let mut last = std::collections::BTreeMap::new();
            for (k, v) in &pairs {
                last.insert(*k, *v);
            }
            let mut b = Map::new();
            for (k, v) in last.iter().rev() {
                b.set(*k, *v).expect("set");
            }
            let root = a.root();
            prop_assert_eq!(root, b.root());
            prop_assert_eq!(a.len(), last.len());
            for (k, v) in &last {
                let p = a.prove(k);
                prop_assert_eq!(&p.kind, &ProofKind::Inclusion);
                prop_assert!(MapProof::decode(&p.encode()).expect("decode").verify(&root, k, Some(v)).is_ok());
                prop_assert!(p.verify(&root, k, None).is_err());
                let mut other = *v;
                other[0] ^= 1;
                prop_assert!(p.verify(&root, k, Some(&other)).is_err());
            }
            for k in absent.iter().filter(|k| !last.contains_key(*k)) {
                let p = a.prove(k);
                prop_assert!(p.verify(&root, k, None).is_ok());
                prop_assert!(p.verify(&root, k, Some(&[0; 32])).is_err());
                // The same proof says nothing about any other key.
                let mut k2 = *k;
                k2[31] ^= 1;
                if !last.contains_key(&k2) && p.kind != ProofKind::Empty {
                    let stolen = p.verify(&root, &k2, None).is_ok();
                    let own = a.prove(&k2);
                    prop_assert!(!stolen || own == p, "a proof verifies only for the keys whose lookup it is");
                }
            }
        }
    }

    #[test]
    fn updates_change_the_root_and_only_the_path() {
        let mut m = Map::new();
        assert_eq!(m.root(), empty_root());
        let k = |i: u8| sha256(&[b"k", &[i]]);
        for i in 0..100 {
            m.set(k(i), [i; 32]).expect("set");
        }
        let before = m.root();
        m.set(k(7), [200; 32]).expect("set");
        let after = m.root();
        assert_ne!(before, after);
        m.set(k(7), [7; 32]).expect("set");
        assert_eq!(m.root(), before, "setting the old value back restores the root");
        assert_eq!(m.len(), 100);
    }
}
