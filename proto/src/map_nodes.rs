//! The map of [`crate::map`] kept as stored nodes, so that it need not
//! fit in memory and every version of it stays provable (docs/MAP.md
//! "Stored nodes").
//!
//! A node is stored under a number ([`At`]) given in the order nodes are
//! made, so that the nodes of one update sit side by side in the store and
//! new nodes always go at its end. Its stored bytes begin with the input of
//! its hash: `0x12 ‖ key ‖ value` for a leaf (65 bytes),
//! `0x13 ‖ bit ‖ left ‖ right ‖ left_at ‖ right_at` for an inner node
//! (66 + 16 bytes: the children's hashes, then their numbers, u64 BE). A
//! version of the map is its root (hash and number): walking from any root
//! that was ever committed reaches only nodes of that version, because a
//! node never changes once stored. An update writes the nodes on the changed
//! paths under new numbers and names the numbers it made unreachable from
//! the new root, so that a store can delete them once no root it keeps
//! reaches them.
//!
//! No I/O: callers give a [`NodeSource`] that reads stored nodes.
//! [`WorkingMap`] holds the nodes an update touched (and, between updates,
//! the top of the tree) in memory.

use crate::map::{Key, MapError, MapProof, ProofKind, Value, bit, empty_root, first_difference};
use provlog_tlog::merkle::{Hash, sha256};

const LEAF: u8 = 0x12;
const INNER: u8 = 0x13;

/// The number a node is stored under. Numbers grow with every node made
/// and are never given twice.
pub type At = u64;

/// A version of the stored map: its root's hash and number (the number is
/// 0 and means nothing for the empty map, which has no node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Root {
    /// The root hash the state leaf commits.
    pub hash: Hash,
    /// The number its node is stored under.
    pub at: At,
}

impl Root {
    /// The empty map's root.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            hash: empty_root(),
            at: 0,
        }
    }
}

/// A stored node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A key and its value.
    Leaf {
        /// The key.
        key: Key,
        /// Its value.
        value: Value,
    },
    /// A split at `bit`: children `[bit 0, bit 1]`, by hash and number.
    Inner {
        /// The bit it splits at.
        bit: u8,
        /// The hashes of its two children.
        children: [Hash; 2],
        /// The numbers they are stored under.
        at: [At; 2],
    },
}

impl Node {
    /// The input of its hash (65 or 66 bytes).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(82);
        self.hash_input(&mut v);
        v
    }

    fn hash_input(&self, v: &mut Vec<u8>) {
        match self {
            Self::Leaf { key, value } => {
                v.push(LEAF);
                v.extend_from_slice(key);
                v.extend_from_slice(value);
            }
            Self::Inner { bit, children, .. } => {
                v.extend_from_slice(&[INNER, *bit]);
                v.extend_from_slice(&children[0]);
                v.extend_from_slice(&children[1]);
            }
        }
    }

    /// Its stored bytes: [`Node::encode`], then for an inner node its
    /// children's numbers (u64 BE each): 65 or 82 bytes.
    #[must_use]
    pub fn stored(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(82);
        self.hash_input(&mut v);
        if let Self::Inner { at, .. } = self {
            v.extend_from_slice(&at[0].to_be_bytes());
            v.extend_from_slice(&at[1].to_be_bytes());
        }
        v
    }

    /// Its hash: `SHA-256` of [`Node::encode`] (the leaf and inner hashes
    /// of docs/MAP.md).
    #[must_use]
    pub fn hash(&self) -> Hash {
        sha256(&[&self.encode()])
    }

    /// The node stored as `bytes` ([`Node::stored`]).
    ///
    /// # Errors
    /// [`MapError::Malformed`] for bytes that are no node.
    pub fn decode(bytes: &[u8]) -> Result<Self, MapError> {
        let arr =
            |b: &[u8]| -> Result<[u8; 32], MapError> { b.try_into().map_err(|_| MapError::Malformed("node length")) };
        let num = |b: &[u8]| -> Result<At, MapError> {
            b.try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| MapError::Malformed("node length"))
        };
        match (bytes.first(), bytes.len()) {
            (Some(&LEAF), 65) => Ok(Self::Leaf {
                key: arr(&bytes[1..33])?,
                value: arr(&bytes[33..65])?,
            }),
            (Some(&INNER), 82) => Ok(Self::Inner {
                bit: bytes[1],
                children: [arr(&bytes[2..34])?, arr(&bytes[34..66])?],
                at: [num(&bytes[66..74])?, num(&bytes[74..82])?],
            }),
            _ => Err(MapError::Malformed("not a map node")),
        }
    }
}

/// Where stored nodes are read from.
pub trait NodeSource {
    /// What reading can fail with.
    type Error;
    /// The node stored under number `at`, if any.
    ///
    /// # Errors
    /// The source's own failures (a node that is not stored is `Ok(None)`).
    fn node(&self, at: At) -> Result<Option<Node>, Self::Error>;
}

/// Why walking stored nodes failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError<E> {
    /// A node the walk needs is not stored: the version was pruned, or the
    /// store is damaged.
    #[error("map node #{0} is not stored (a pruned version, or a damaged store)")]
    Missing(At),
    /// A node's bits do not lead where a trie's must.
    #[error("the stored map is malformed at node #{at}: {why}")]
    Malformed {
        /// The node's number.
        at: At,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The source failed.
    #[error("reading the map: {0}")]
    Source(#[source] E),
}

fn fetch<S: NodeSource>(src: &S, at: At) -> Result<Node, NodeError<S::Error>> {
    src.node(at).map_err(NodeError::Source)?.ok_or(NodeError::Missing(at))
}

/// The proof of what the map of `root` holds for `key`, read from `src`,
/// and the key's value if it is present. The proof is the one
/// [`crate::map::Map::prove`] gives for the same pairs.
///
/// # Errors
/// [`NodeError`]: a node not stored (a pruned version), a malformed one,
/// or the source's failure.
pub fn prove<S: NodeSource>(src: &S, root: &Root, key: &Key) -> Result<(MapProof, Option<Value>), NodeError<S::Error>> {
    if root.hash == empty_root() {
        return Ok((
            MapProof {
                kind: ProofKind::Empty,
                steps: Vec::new(),
            },
            None,
        ));
    }
    let mut steps = Vec::new();
    let mut at = root.at;
    let mut prev: Option<u8> = None;
    loop {
        match fetch(src, at)? {
            Node::Inner {
                bit: b,
                children,
                at: below,
            } => {
                if prev.is_some_and(|p| b <= p) || steps.len() >= crate::map::MAX_STEPS {
                    return Err(NodeError::Malformed {
                        at,
                        why: "split bits do not increase",
                    });
                }
                prev = Some(b);
                let side = usize::from(bit(key, b));
                steps.push((b, children[1 - side]));
                at = below[side];
            }
            Node::Leaf { key: k, value } => {
                steps.reverse();
                return Ok(if k == *key {
                    (
                        MapProof {
                            kind: ProofKind::Inclusion,
                            steps,
                        },
                        Some(value),
                    )
                } else {
                    (
                        MapProof {
                            kind: ProofKind::Absent { key: k, value },
                            steps,
                        },
                        None,
                    )
                });
            }
        }
    }
}

/// Where a lookup ends: the leaf's node index and the inner nodes on the
/// way, root first, with the side taken at each.
type Walk = (u32, Vec<(u32, usize)>);

/// A child of a node in memory: stored (known by its hash and number only)
/// or loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Stored(Hash, At),
    At(u32),
}

#[derive(Debug, Clone)]
enum Kind {
    Leaf { key: Key, value: Value },
    Inner { bit: u8, children: [Child; 2] },
}

#[derive(Debug, Clone)]
struct Loaded {
    kind: Kind,
    /// The hash and number it is stored under (`None`: made in memory).
    stored: Option<(Hash, At)>,
    /// Its current hash; `None` while it has changes not hashed yet.
    hash: Option<Hash>,
}

/// Most nodes [`WorkingMap::shrink_to_top`] leaves in memory before it
/// drops the bottom (about 100 bytes each).
pub const MAX_LOADED: usize = 1 << 18;
/// Levels [`WorkingMap::shrink_to_top`] keeps: 2^14 inner nodes at most,
/// the part of the tree every update walks.
pub const KEEP_DEPTH: usize = 14;

/// What [`WorkingMap::finish`] hands the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapUpdate {
    /// The root after the changes.
    pub root: Root,
    /// Every node the changes made, with its number and stored bytes, in
    /// the order of their numbers (which follow each other).
    pub nodes: Vec<(At, Vec<u8>)>,
    /// The numbers of every stored node the new root no longer reaches.
    pub unreachable: Vec<At>,
    /// The number the next node made will get.
    pub next: At,
}

/// The map as of a stored root, with changes on top: reads load nodes
/// from a [`NodeSource`] into memory, [`WorkingMap::set`] changes them
/// there, and [`WorkingMap::finish`] hashes what changed and lists the
/// nodes to store. Between updates the map keeps the nodes it loaded;
/// [`WorkingMap::shrink`] drops all but the top of the tree.
#[derive(Debug, Clone)]
pub struct WorkingMap {
    root: Option<Child>,
    nodes: Vec<Loaded>,
    len: u64,
    next: At,
}

impl WorkingMap {
    /// The map whose root is `root` (stored, or [`Root::empty`]) and that
    /// holds `len` keys; the nodes it makes are numbered from `next` on,
    /// which must be above every number stored.
    #[must_use]
    pub fn open(root: Root, len: u64, next: At) -> Self {
        Self {
            root: (root.hash != empty_root()).then_some(Child::Stored(root.hash, root.at)),
            nodes: Vec::new(),
            len,
            next,
        }
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the map has no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Nodes held in memory.
    #[must_use]
    pub fn loaded(&self) -> usize {
        self.nodes.len()
    }

    /// The node index of `c`, loading it from `src` if it is stored; the
    /// reference to it (in `parent`'s `side`, or the root) then points at
    /// the loaded copy.
    fn load<S: NodeSource>(
        &mut self,
        src: &S,
        c: Child,
        parent: Option<(u32, usize)>,
    ) -> Result<u32, NodeError<S::Error>> {
        let (h, at) = match c {
            Child::At(i) => return Ok(i),
            Child::Stored(h, at) => (h, at),
        };
        let kind = match fetch(src, at)? {
            Node::Leaf { key, value } => Kind::Leaf { key, value },
            Node::Inner { bit, children, at } => Kind::Inner {
                bit,
                children: [Child::Stored(children[0], at[0]), Child::Stored(children[1], at[1])],
            },
        };
        let i = u32::try_from(self.nodes.len()).map_err(|_| NodeError::Malformed {
            at,
            why: "more nodes in memory than a u32 counts",
        })?;
        self.nodes.push(Loaded {
            kind,
            stored: Some((h, at)),
            hash: Some(h),
        });
        match parent {
            None => self.root = Some(Child::At(i)),
            Some((p, side)) => {
                if let Kind::Inner { children, .. } = &mut self.nodes[p as usize].kind {
                    children[side] = Child::At(i);
                }
            }
        }
        Ok(i)
    }

    /// The leaf the lookup for `key` ends at (loaded) and the inner nodes on
    /// the way, root first, with the side taken at each.
    fn walk<S: NodeSource>(&mut self, src: &S, key: &Key) -> Result<Option<Walk>, NodeError<S::Error>> {
        let Some(mut at) = self.root else { return Ok(None) };
        let mut parent = None;
        let mut path = Vec::with_capacity(40);
        loop {
            let i = self.load(src, at, parent)?;
            match &self.nodes[i as usize].kind {
                Kind::Leaf { .. } => return Ok(Some((i, path))),
                Kind::Inner { bit: b, children } => {
                    if path.len() >= crate::map::MAX_STEPS {
                        return Err(NodeError::Malformed {
                            at: self.nodes[i as usize].stored.map_or(0, |(_, a)| a),
                            why: "a path longer than a key",
                        });
                    }
                    let side = usize::from(bit(key, *b));
                    at = children[side];
                    path.push((i, side));
                    parent = Some((i, side));
                }
            }
        }
    }

    /// The value of `key`, if it is in the map.
    ///
    /// # Errors
    /// [`NodeError`] reading nodes.
    pub fn get<S: NodeSource>(&mut self, src: &S, key: &Key) -> Result<Option<Value>, NodeError<S::Error>> {
        let Some((l, _)) = self.walk(src, key)? else {
            return Ok(None);
        };
        Ok(match &self.nodes[l as usize].kind {
            Kind::Leaf { key: k, value } if k == key => Some(*value),
            _ => None,
        })
    }

    fn push(&mut self, kind: Kind) -> Result<u32, MapError> {
        let i = u32::try_from(self.nodes.len()).map_err(|_| MapError::Full)?;
        self.nodes.push(Loaded {
            kind,
            stored: None,
            hash: None,
        });
        Ok(i)
    }

    fn touch(&mut self, path: &[(u32, usize)]) {
        for (i, _) in path {
            self.nodes[*i as usize].hash = None;
        }
    }

    /// Sets `key` to `value`, inserting it if new; hashes are computed by
    /// [`WorkingMap::finish`]. Gives the same map as
    /// [`crate::map::Map::set`].
    ///
    /// # Errors
    /// [`NodeError`] reading nodes; a map of more nodes than a `u32` counts.
    pub fn set<S: NodeSource>(&mut self, src: &S, key: Key, value: Value) -> Result<(), NodeError<S::Error>> {
        let full = |_| NodeError::Malformed {
            at: 0,
            why: "more nodes in memory than a u32 counts",
        };
        let Some((l, path)) = self.walk(src, &key)? else {
            let l = self.push(Kind::Leaf { key, value }).map_err(full)?;
            self.root = Some(Child::At(l));
            self.len += 1;
            return Ok(());
        };
        let Kind::Leaf { key: found, value: old } = self.nodes[l as usize].kind.clone() else {
            return Ok(());
        };
        let Some(d) = first_difference(&key, &found) else {
            if old != value {
                self.nodes[l as usize].kind = Kind::Leaf { key, value };
                self.nodes[l as usize].hash = None;
                self.touch(&path);
            }
            return Ok(());
        };
        // As in `Map::set`: the new inner node goes above the first node on
        // the path that splits below bit d, or above the leaf.
        let bit_of = |m: &Self, i: u32| match m.nodes[i as usize].kind {
            Kind::Inner { bit, .. } => bit,
            Kind::Leaf { .. } => u8::MAX,
        };
        let depth = path
            .iter()
            .position(|(i, _)| bit_of(self, *i) > d)
            .unwrap_or(path.len());
        let displaced = match path.get(depth) {
            Some((i, _)) => Child::At(*i),
            None => Child::At(l),
        };
        let new_leaf = Child::At(self.push(Kind::Leaf { key, value }).map_err(full)?);
        let children = if bit(&key, d) == 0 {
            [new_leaf, displaced]
        } else {
            [displaced, new_leaf]
        };
        let node = self.push(Kind::Inner { bit: d, children }).map_err(full)?;
        match depth.checked_sub(1).and_then(|p| path.get(p)) {
            Some((parent, side)) => {
                if let Kind::Inner { children, .. } = &mut self.nodes[*parent as usize].kind {
                    children[*side] = Child::At(node);
                }
            }
            None => self.root = Some(Child::At(node)),
        }
        self.touch(&path[..depth]);
        self.len += 1;
        Ok(())
    }

    /// The hash and number of `c`, hashing and numbering what changed
    /// below it (children first, so a node's number is above its new
    /// children's).
    fn hash_child(&mut self, c: Child, out: &mut MapUpdate) -> (Hash, At) {
        let i = match c {
            Child::Stored(h, at) => return (h, at),
            Child::At(i) => i as usize,
        };
        if let (Some(h), Some((s, at))) = (self.nodes[i].hash, self.nodes[i].stored)
            && h == s
        {
            return (h, at);
        }
        let node = match self.nodes[i].kind.clone() {
            Kind::Leaf { key, value } => Node::Leaf { key, value },
            Kind::Inner { bit, children } => {
                let (h0, a0) = self.hash_child(children[0], out);
                let (h1, a1) = self.hash_child(children[1], out);
                Node::Inner {
                    bit,
                    children: [h0, h1],
                    at: [a0, a1],
                }
            }
        };
        let h = node.hash();
        let at = match self.nodes[i].stored {
            // Changed and changed back: the stored node still holds it.
            Some((s, at)) if s == h => at,
            old => {
                let at = self.next;
                self.next += 1;
                out.nodes.push((at, node.stored()));
                if let Some((_, was)) = old {
                    out.unreachable.push(was);
                }
                at
            }
        };
        let n = &mut self.nodes[i];
        n.stored = Some((h, at));
        n.hash = Some(h);
        (h, at)
    }

    /// Hashes every change since the last call and returns the new root,
    /// the nodes to store and the stored nodes it no longer reaches. The
    /// changes then count as stored: the caller must store the nodes
    /// before the map reads from the source again.
    pub fn finish(&mut self) -> MapUpdate {
        let mut out = MapUpdate::default();
        out.root = match self.root {
            None => Root::empty(),
            Some(c) => {
                let (hash, at) = self.hash_child(c, &mut out);
                Root { hash, at }
            }
        };
        out.next = self.next;
        out
    }

    /// Keeps in memory only the nodes less than `depth` below the root,
    /// once more than `max_loaded` are; the rest are read again from the
    /// source when needed. Call only after [`WorkingMap::finish`] (an
    /// unhashed node is kept, with its path).
    pub fn shrink(&mut self, max_loaded: usize, depth: usize) {
        if self.nodes.len() <= max_loaded {
            return;
        }
        let Some(root) = self.root else {
            self.nodes.clear();
            return;
        };
        let mut kept: Vec<Loaded> = Vec::with_capacity(max_loaded.min(1 << depth.min(20)) * 2);
        let new_root = self.keep(root, 0, depth, &mut kept);
        // Back into the same buffer: it keeps its capacity, so the next
        // batches' loads neither reallocate nor fault new pages in
        // (measured: regrowing it was a tenth of the sequencer's time).
        self.nodes.clear();
        self.nodes.extend_from_slice(&kept);
        self.root = Some(new_root);
    }

    /// [`WorkingMap::shrink`] with [`MAX_LOADED`] and [`KEEP_DEPTH`]: what
    /// the sequencer does after each batch, so that its memory stays flat
    /// whatever the map's size.
    pub fn shrink_to_top(&mut self) {
        self.shrink(MAX_LOADED, KEEP_DEPTH);
    }

    fn keep(&self, c: Child, level: usize, depth: usize, kept: &mut Vec<Loaded>) -> Child {
        let Child::At(i) = c else { return c };
        let n = &self.nodes[i as usize];
        if level >= depth
            && let (Some(h), Some((s, at))) = (n.hash, n.stored)
            && h == s
        {
            return Child::Stored(h, at);
        }
        let mut copy = n.clone();
        if let Kind::Inner { children, .. } = &mut copy.kind {
            let [a, b] = *children;
            *children = [
                self.keep(a, level + 1, depth, kept),
                self.keep(b, level + 1, depth, kept),
            ];
        }
        let at = kept.len();
        kept.push(copy);
        // Fewer nodes than before, each counted by a u32 then.
        Child::At(u32::try_from(at).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Map;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// Stored nodes in memory, counting reads.
    #[derive(Default)]
    struct Nodes {
        map: HashMap<At, Vec<u8>>,
        reads: RefCell<usize>,
    }

    impl NodeSource for Nodes {
        type Error = std::convert::Infallible;
        fn node(&self, at: At) -> Result<Option<Node>, Self::Error> {
            *self.reads.borrow_mut() += 1;
            Ok(self.map.get(&at).map(|b| {
                let n = Node::decode(b).expect("stored node");
                assert_eq!(n.stored(), *b, "stored bytes round-trip");
                n
            }))
        }
    }

    impl Nodes {
        /// Stores an update's nodes, checking that its numbers are new
        /// and follow each other, children before parents.
        fn store(&mut self, u: &MapUpdate) {
            let mut expect = u.nodes.first().map(|(a, _)| *a);
            for (at, b) in &u.nodes {
                assert_eq!(Some(*at), expect, "numbers follow each other");
                expect = Some(at + 1);
                assert!(self.map.insert(*at, b.clone()).is_none(), "a number given twice");
                if let Ok(Node::Inner { at: below, .. }) = Node::decode(b) {
                    assert!(below.iter().all(|c| c < at), "children are numbered first");
                }
            }
            assert_eq!(expect.unwrap_or(u.next), u.next);
        }
    }

    fn pairs() -> impl Strategy<Value = Vec<Vec<(u8, u8, u8)>>> {
        // Small key and value spaces, so that batches update, insert and
        // share prefixes; keys spread over the first and last bytes.
        prop::collection::vec(prop::collection::vec((any::<u8>(), 0u8..4, any::<u8>()), 0..24), 1..6)
    }

    fn key(a: u8, b: u8) -> Key {
        let mut k = [0u8; 32];
        k[0] = a;
        k[31] = b;
        k
    }

    proptest! {
        #[test]
        fn stored_versions_match_the_memory_map_and_stay_provable(batches in pairs(), shrink in 0usize..4) {
            let mut nodes = Nodes::default();
            let mut mem = Map::new();
            let mut work = WorkingMap::open(Root::empty(), 0, 1);
            let mut roots = vec![(Root::empty(), mem.clone())];
            for batch in &batches {
                for (a, b, v) in batch {
                    let (k, val) = (key(*a, *b), [*v; 32]);
                    mem.set(k, val).expect("set");
                    work.set(&nodes, k, val).expect("set");
                }
                let u = work.finish();
                prop_assert_eq!(u.root.hash, mem.root());
                prop_assert_eq!(work.len(), mem.len() as u64);
                // Nothing written twice, nothing new called unreachable,
                // every node made reachable from the new root.
                let new: std::collections::HashSet<_> = u.nodes.iter().map(|(a, _)| *a).collect();
                prop_assert_eq!(new.len(), u.nodes.len());
                for a in &u.unreachable {
                    prop_assert!(nodes.map.contains_key(a) && !new.contains(a));
                }
                let unreachable: std::collections::HashSet<_> = u.unreachable.iter().copied().collect();
                prop_assert_eq!(unreachable.len(), u.unreachable.len());
                let before = roots.last().map(|(r, _)| *r).unwrap_or_default();
                nodes.store(&u);
                let mut now = Vec::new();
                collect(&nodes, &u.root, &mut now);
                for a in &new {
                    prop_assert!(now.contains(a), "a new node the root does not reach");
                }
                // Exactly the old version's nodes the new one left behind.
                let mut old = Vec::new();
                collect(&nodes, &before, &mut old);
                let left: std::collections::HashSet<_> = old.into_iter().filter(|a| !now.contains(a)).collect();
                prop_assert_eq!(left, unreachable);
                work.shrink(shrink * 3, shrink);
                roots.push((u.root, mem.clone()));
            }
            // Every version proves what it held, read back from the nodes.
            for (root, m) in &mut roots {
                for a in [0u8, 1, 7, 128, 255] {
                    for b in 0..4 {
                        let k = key(a, b);
                        let (p, v) = prove(&nodes, root, &k).expect("prove");
                        prop_assert_eq!(&p, &m.prove(&k));
                        prop_assert_eq!(v.as_ref(), m.get(&k));
                        p.verify(&root.hash, &k, v.as_ref()).expect("verifies");
                    }
                }
            }
            // A store that drops what the last update made unreachable
            // still proves the last version.
            let (last, m) = roots.last_mut().expect("a version");
            let mut reach = Vec::new();
            collect(&nodes, last, &mut reach);
            let live: std::collections::HashSet<_> = reach.into_iter().collect();
            nodes.map.retain(|a, _| live.contains(a));
            for a in [0u8, 128, 255] {
                let k = key(a, 1);
                let (p, _) = prove(&nodes, last, &k).expect("prove");
                prop_assert_eq!(p, m.prove(&k));
            }
        }
    }

    /// The numbers of every node `root` reaches.
    fn collect(nodes: &Nodes, root: &Root, out: &mut Vec<At>) {
        if root.hash == empty_root() {
            return;
        }
        out.push(root.at);
        if let Ok(Some(Node::Inner { children, at, .. })) = nodes.node(root.at) {
            for side in 0..2 {
                collect(
                    nodes,
                    &Root {
                        hash: children[side],
                        at: at[side],
                    },
                    out,
                );
            }
        }
    }

    #[test]
    fn an_update_lists_exactly_the_nodes_it_replaced() {
        let mut nodes = Nodes::default();
        let mut work = WorkingMap::open(Root::empty(), 0, 1);
        for i in 0..64u8 {
            work.set(&nodes, key(i, 0), [i; 32]).expect("set");
        }
        let first = work.finish();
        nodes.store(&first);
        // Reopened from the stored root: a value change replaces the leaf
        // and every inner node above it, nothing else.
        let mut again = WorkingMap::open(first.root, 64, first.next);
        again.set(&nodes, key(5, 0), [99; 32]).expect("set");
        let (_, before) = prove(&nodes, &first.root, &key(5, 0)).expect("prove");
        assert!(before.is_some());
        let u = again.finish();
        let (proof, _) = prove(&nodes, &first.root, &key(5, 0)).expect("old version");
        assert_eq!(u.unreachable.len(), proof.steps.len() + 1, "the path and the leaf");
        assert_eq!(u.nodes.len(), proof.steps.len() + 1);
        // Setting a value it already has changes nothing.
        let mut same = WorkingMap::open(first.root, 64, first.next);
        same.set(&nodes, key(6, 0), [6; 32]).expect("set");
        let u = same.finish();
        assert_eq!((u.root, u.nodes.len(), u.unreachable.len()), (first.root, 0, 0));
        // A pruned node is reported, not guessed.
        nodes.map.remove(&first.root.at);
        assert!(matches!(
            prove(&nodes, &first.root, &key(1, 0)),
            Err(NodeError::Missing(a)) if a == first.root.at
        ));
    }

    #[test]
    fn shrinking_keeps_the_top_and_reads_the_rest_again() {
        let mut nodes = Nodes::default();
        let mut work = WorkingMap::open(Root::empty(), 0, 1);
        for i in 0..=255u8 {
            work.set(&nodes, key(i, i), [i; 32]).expect("set");
        }
        nodes.store(&work.finish());
        let before = work.loaded();
        work.shrink(16, 3);
        assert!(work.loaded() < 16, "{} of {before}", work.loaded());
        *nodes.reads.borrow_mut() = 0;
        assert_eq!(work.get(&nodes, &key(9, 9)).expect("get"), Some([9; 32]));
        assert!(*nodes.reads.borrow() > 0, "the bottom is read again");
        let reads = *nodes.reads.borrow();
        assert_eq!(work.get(&nodes, &key(9, 9)).expect("get"), Some([9; 32]));
        assert_eq!(*nodes.reads.borrow(), reads, "and then kept");
    }

    #[test]
    fn node_bytes_are_the_hash_input() {
        let leaf = Node::Leaf {
            key: [1; 32],
            value: [2; 32],
        };
        assert_eq!(leaf.hash(), crate::map::leaf_hash(&[1; 32], &[2; 32]));
        let inner = Node::Inner {
            bit: 7,
            children: [[3; 32], [4; 32]],
            at: [5, 6],
        };
        assert_eq!(inner.hash(), crate::map::inner_hash(7, &[3; 32], &[4; 32]));
        // The numbers are stored after the hash input, not hashed.
        let stored = inner.stored();
        assert_eq!(
            (&stored[..66], &stored[66..74], &stored[74..]),
            (&inner.encode()[..], &5u64.to_be_bytes()[..], &6u64.to_be_bytes()[..])
        );
        assert_eq!(leaf.stored(), leaf.encode());
        for n in [leaf, inner] {
            assert_eq!(Node::decode(&n.stored()), Ok(n.clone()));
            let mut b = n.stored();
            b.push(0);
            assert!(Node::decode(&b).is_err());
        }
        assert!(
            Node::decode(
                &crate::map_nodes::Node::Inner {
                    bit: 1,
                    children: [[0; 32]; 2],
                    at: [0; 2]
                }
                .encode()
            )
            .is_err(),
            "an inner node without numbers"
        );
        assert!(Node::decode(&[0x14]).is_err());
    }
}
