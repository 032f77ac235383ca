//! Fork evidence: two checkpoints signed by the same log key that cannot
//! both describe one append-only log. Anyone holding only the log's vkey can
//! check it ([`ForkEvidence::verify`]).
//!
//! * Same size, different roots: the two notes are the evidence.
//! * Sizes `m < n`: the evidence adds the root `X` of the first `m` leaves
//!   of the larger tree and a consistency proof from `m` to `n` that holds
//!   for `X` and the larger checkpoint's root. The proof binds `X` to the
//!   larger tree; `X` differing from the smaller checkpoint's root shows
//!   the smaller one is not a prefix of the larger one.

use provlog_tlog::b64;
use provlog_tlog::checkpoint::{Checkpoint, open_checkpoint};
use provlog_tlog::keys::VerifierKey;
use provlog_tlog::merkle::{Hash, verify_consistency};
use serde::{Deserialize, Serialize};

/// Evidence that a log signed two inconsistent checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkEvidence {
    /// The log's origin.
    pub origin: String,
    /// One signed checkpoint note.
    pub checkpoint_a: String,
    /// The other (same size, or larger).
    pub checkpoint_b: String,
    /// For different sizes: base64 root of the first `a.size` leaves of `b`'s tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_root: Option<String>,
    /// For different sizes: base64 consistency proof from `a.size` to `b.size`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proof: Vec<String>,
    /// Who found it and how (informative, not checked).
    #[serde(default)]
    pub found: String,
}

/// What the evidence proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehavior {
    /// Two different roots for one size.
    SameSize {
        /// The size.
        size: u64,
    },
    /// The smaller checkpoint is not a prefix of the larger.
    NotAPrefix {
        /// Smaller size.
        smaller: u64,
        /// Larger size.
        larger: u64,
    },
}

/// Why the evidence proves nothing.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForkError {
    /// A checkpoint is not validly signed by the log key.
    #[error("checkpoint {which}: {reason}")]
    Checkpoint {
        /// `a` or `b`.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// The checkpoints are of different logs.
    #[error("the checkpoints are of different origins")]
    Origin,
    /// The checkpoints agree.
    #[error("the checkpoints are consistent: {0}")]
    Consistent(String),
    /// The proof or prefix root is missing or malformed.
    #[error("{0}")]
    Malformed(String),
}

impl ForkEvidence {
    /// Builds evidence from two notes; for different sizes `prefix_root`
    /// and `proof` come from the larger tree (whoever holds it).
    #[must_use]
    pub fn new(origin: &str, a: &str, b: &str, prefix_root: Option<Hash>, proof: &[Hash], found: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            checkpoint_a: a.to_owned(),
            checkpoint_b: b.to_owned(),
            prefix_root: prefix_root.map(b64::encode),
            proof: proof.iter().map(b64::encode).collect(),
            found: found.to_owned(),
        }
    }

    /// Checks the evidence with only the log's key.
    ///
    /// # Errors
    /// [`ForkError`] when it does not prove misbehavior.
    pub fn verify(&self, log_key: &VerifierKey) -> Result<Misbehavior, ForkError> {
        let open = |which: &'static str, note: &str| -> Result<Checkpoint, ForkError> {
            open_checkpoint(note.as_bytes(), log_key)
                .map(|(c, _)| c)
                .map_err(|e| ForkError::Checkpoint {
                    which,
                    reason: e.to_string(),
                })
        };
        let a = open("a", &self.checkpoint_a)?;
        let b = open("b", &self.checkpoint_b)?;
        if a.origin != b.origin || a.origin != self.origin {
            return Err(ForkError::Origin);
        }
        if a.size == b.size {
            return if a.root == b.root {
                Err(ForkError::Consistent(format!("same size {} and same root", a.size)))
            } else {
                Ok(Misbehavior::SameSize { size: a.size })
            };
        }
        if a.size > b.size {
            return Err(ForkError::Malformed("checkpoint_a must be the smaller one".into()));
        }
        let x: Hash = self
            .prefix_root
            .as_deref()
            .and_then(b64::decode_array)
            .ok_or_else(|| ForkError::Malformed("prefix_root must be base64 of 32 bytes".into()))?;
        let proof = self
            .proof
            .iter()
            .map(|p| {
                b64::decode_array::<32>(p)
                    .ok_or_else(|| ForkError::Malformed("proof hash is not base64 of 32 bytes".into()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        verify_consistency(a.size, b.size, &x, &b.root, &proof)
            .map_err(|e| ForkError::Malformed(format!("the proof does not bind prefix_root to checkpoint b: {e}")))?;
        if x == a.root {
            return Err(ForkError::Consistent(format!(
                "checkpoint a (size {}) is a prefix of checkpoint b (size {})",
                a.size, b.size
            )));
        }
        Ok(Misbehavior::NotAPrefix {
            smaller: a.size,
            larger: b.size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provlog_tlog::checkpoint::sign_checkpoint;
    use provlog_tlog::keys::{ALG_ED25519, SignerKey};
    use provlog_tlog::merkle::{MemoryTree, consistency_proof, leaf_hash};

    fn tree(prefix: &str, n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(leaf_hash(format!("{prefix}{i}").as_bytes()));
        }
        t
    }

    #[test]
    fn forks_are_proven_and_honest_histories_are_not() {
        let key = SignerKey::from_seed("fork.example", ALG_ED25519, [8; 32]).expect("k");
        let note = |t: &MemoryTree, n: u64| {
            sign_checkpoint(&Checkpoint::new("fork.example", n, t.root_at(n).expect("root")), &key)
                .expect("sign")
                .to_string()
        };
        // Two branches sharing 10 leaves, then diverging.
        let mut a = tree("x", 10);
        let mut b = tree("x", 10);
        for i in 0..10 {
            a.push(leaf_hash(format!("a{i}").as_bytes()));
            b.push(leaf_hash(format!("b{i}").as_bytes()));
        }
        let vk = key.verifier();
        // Same size.
        let ev = ForkEvidence::new("fork.example", &note(&a, 15), &note(&b, 15), None, &[], "test");
        assert_eq!(ev.verify(&vk), Ok(Misbehavior::SameSize { size: 15 }));
        // Smaller a-branch checkpoint vs larger b-branch tree.
        let x = b.root_at(13).expect("root");
        let proof = consistency_proof(13, 20, &b).expect("proof");
        let ev = ForkEvidence::new("fork.example", &note(&a, 13), &note(&b, 20), Some(x), &proof, "test");
        assert_eq!(
            ev.verify(&vk),
            Ok(Misbehavior::NotAPrefix {
                smaller: 13,
                larger: 20
            })
        );
        // The honest case proves nothing.
        let x = b.root_at(8).expect("root");
        let proof = consistency_proof(8, 20, &b).expect("proof");
        let ev = ForkEvidence::new("fork.example", &note(&a, 8), &note(&b, 20), Some(x), &proof, "test");
        assert!(matches!(ev.verify(&vk), Err(ForkError::Consistent(_))));
        // A made-up prefix root without a valid proof proves nothing.
        let ev = ForkEvidence::new(
            "fork.example",
            &note(&a, 13),
            &note(&b, 20),
            Some([1; 32]),
            &proof,
            "test",
        );
        assert!(matches!(ev.verify(&vk), Err(ForkError::Malformed(_))));
        // Checkpoints signed by another key prove nothing about this log.
        let other = SignerKey::from_seed("fork.example", ALG_ED25519, [9; 32]).expect("k");
        let ev = ForkEvidence::new("fork.example", &note(&a, 15), &note(&b, 15), None, &[], "test");
        assert!(matches!(
            ev.verify(&other.verifier()),
            Err(ForkError::Checkpoint { .. })
        ));
        let ev = ForkEvidence::new("fork.example", &note(&a, 15), &note(&a, 15), None, &[], "test");
        assert!(matches!(ev.verify(&vk), Err(ForkError::Consistent(_))));
    }
}
