//! Merkle proof verification.
//!
//! Part 1 (no panics): an index, two sizes, a leaf, two roots and a proof
//! (hashes mostly 32 bytes, some of other lengths) taken from the input go
//! through `verify_inclusion`, `root_from_inclusion_proof`,
//! `verify_consistency` and `verify_consistency_from_any`.
//!
//! Part 2 (soundness on real trees): a `MemoryTree` of 1..=300 leaves
//! derived from the input; generated inclusion and consistency proofs
//! verify, and flipping one bit of any proof element, of the leaf or of a
//! root, or adding/removing a proof element, makes verification fail.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use provlog_tlog::merkle::{
    CompactRange, EMPTY_ROOT, Hash, MemoryTree, consistency_proof, inclusion_proof, leaf_hash,
    root_from_inclusion_proof, verify_consistency, verify_consistency_from_any, verify_inclusion,
};

/// A size or index: small values most of the time, edge values sometimes.
fn number(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0..=2 => u64::from(u.arbitrary::<u8>()?),
        3 => u64::from(u.arbitrary::<u16>()?),
        4 => u64::from(u.arbitrary::<u32>()?),
        5 => u64::MAX - u64::from(u.arbitrary::<u8>()?),
        6 => 1u64 << u.int_in_range(0u32..=63)?,
        _ => u.arbitrary::<u64>()?,
    })
}

/// Hash-like bytes: 32 bytes most of the time, any length sometimes.
fn hash_bytes(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    if u.ratio(1u8, 16u8)? {
        let len = u.int_in_range(0usize..=40)?;
        return Ok(u.bytes(len)?.to_vec());
    }
    let h: Hash = u.arbitrary()?;
    Ok(h.to_vec())
}

fn raw_checks(u: &mut Unstructured<'_>) -> Result<()> {
    let index = number(u)?;
    let first = number(u)?;
    let second = number(u)?;
    let leaf = hash_bytes(u)?;
    let r1 = hash_bytes(u)?;
    let r2 = hash_bytes(u)?;
    let n = u.int_in_range(0usize..=70)?;
    let mut proof = Vec::with_capacity(n);
    for _ in 0..n {
        proof.push(hash_bytes(u)?);
    }
    let _ = verify_inclusion(index, second, &leaf, &proof, &r2);
    let _ = root_from_inclusion_proof(index, second, &leaf, &proof);
    let _ = verify_consistency(first, second, &r1, &r2, &proof);
    let _ = verify_consistency_from_any(first, second, &r1, &r2, &proof);
    Ok(())
}

fn flip(h: &Hash, bit: u16) -> Hash {
    let mut out = *h;
    out[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
    out
}

fn tree_checks(u: &mut Unstructured<'_>) -> Result<()> {
    let n = u.int_in_range(1u64..=300)?;
    let salt: u32 = u.arbitrary()?;
    let mut tree = MemoryTree::new();
    let mut leaves = Vec::new();
    for i in 0..n {
        let h = leaf_hash(&[&salt.to_be_bytes()[..], &i.to_be_bytes()[..]].concat());
        leaves.push(h);
        tree.push(h);
    }
    assert_eq!(tree.size(), n);
    let mut cr = CompactRange::new();
    cr.extend(&leaves);
    assert_eq!(
        tree.root_at(n).expect("root"),
        cr.root(),
        "MemoryTree and CompactRange roots differ"
    );
    assert_eq!(tree.root_at(0).expect("root 0"), EMPTY_ROOT);

    // Inclusion.
    let size = u.int_in_range(1..=n)?;
    let index = u.int_in_range(0..=size - 1)?;
    let root = tree.root_at(size).expect("root");
    let leaf = leaves[usize::try_from(index).expect("small")];
    let proof = inclusion_proof(index, size, &tree).expect("inclusion proof");
    assert_eq!(
        verify_inclusion(index, size, &leaf, &proof, &root),
        Ok(()),
        "valid inclusion proof rejected"
    );
    assert_eq!(root_from_inclusion_proof(index, size, &leaf, &proof), Ok(root));
    let bit: u16 = u.arbitrary()?;
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i] = flip(&bad[i], bit);
        assert!(
            verify_inclusion(index, size, &leaf, &bad, &root).is_err(),
            "flipped inclusion proof element {i} accepted"
        );
    }
    assert!(
        verify_inclusion(index, size, &flip(&leaf, bit), &proof, &root).is_err(),
        "flipped leaf accepted"
    );
    assert!(
        verify_inclusion(index, size, &leaf, &proof, &flip(&root, bit)).is_err(),
        "flipped root accepted"
    );
    let mut longer = proof.clone();
    longer.push(flip(&root, bit));
    assert!(
        verify_inclusion(index, size, &leaf, &longer, &root).is_err(),
        "over-long inclusion proof accepted"
    );
    if !proof.is_empty() {
        assert!(
            verify_inclusion(index, size, &leaf, &proof[..proof.len() - 1], &root).is_err(),
            "truncated inclusion proof accepted"
        );
    }
    // A proof of one index does not prove another leaf at that index.
    let other = leaves[usize::try_from((index + 1) % size).expect("small")];
    if other != leaf {
        assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
    }

    // Consistency.
    let new = u.int_in_range(0..=n)?;
    let old = u.int_in_range(0..=new)?;
    let old_root = tree.root_at(old).expect("old root");
    let new_root = tree.root_at(new).expect("new root");
    let proof = consistency_proof(old, new, &tree).expect("consistency proof");
    assert_eq!(
        verify_consistency_from_any(old, new, &old_root, &new_root, &proof),
        Ok(()),
        "valid consistency proof {old} -> {new} rejected"
    );
    if old == 0 {
        assert!(proof.is_empty());
        assert!(verify_consistency(old, new, &old_root, &new_root, &proof).is_err());
        return Ok(());
    }
    assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
    for i in 0..proof.len() {
        let mut bad = proof.clone();
        bad[i] = flip(&bad[i], bit);
        assert!(
            verify_consistency(old, new, &old_root, &new_root, &bad).is_err(),
            "flipped consistency proof element {i} accepted ({old} -> {new})"
        );
    }
    assert!(
        verify_consistency(old, new, &flip(&old_root, bit), &new_root, &proof).is_err(),
        "flipped old root accepted"
    );
    assert!(
        verify_consistency(old, new, &old_root, &flip(&new_root, bit), &proof).is_err(),
        "flipped new root accepted"
    );
    let mut longer = proof.clone();
    longer.push(flip(&new_root, bit));
    assert!(
        verify_consistency(old, new, &old_root, &new_root, &longer).is_err(),
        "over-long consistency proof accepted"
    );
    if !proof.is_empty() {
        assert!(
            verify_consistency(old, new, &old_root, &new_root, &proof[..proof.len() - 1]).is_err(),
            "truncated consistency proof accepted"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = raw_checks(&mut u);
    let _ = tree_checks(&mut u);
});
