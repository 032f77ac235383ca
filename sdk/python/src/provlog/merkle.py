"""RFC 6962 / RFC 9162 Merkle tree hashing and proof verification."""

from __future__ import annotations

from collections.abc import Sequence

from ._encoding import sha256
from .errors import VerificationError

EMPTY_ROOT = sha256(b"")
"""The root of the empty tree, SHA-256 of nothing."""


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)``."""
    return sha256(b"\x00", entry)


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return sha256(b"\x01", left, right)


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(root_from_leaf_hashes(leaves[:k]), root_from_leaf_hashes(leaves[k:]))


def _check32(h: bytes, what: str) -> None:
    if len(h) != 32:
        raise VerificationError(f"{what} is {len(h)} bytes, not 32")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an RFC 9162 §2.1.3.2 inclusion proof leads to (raises on a malformed proof)."""
    _check32(leaf, "the leaf hash")
    if index < 0 or index >= size:
        raise VerificationError(f"index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _check32(p, "a proof hash")
        if sn == 0:
            raise VerificationError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn != 0 and fn & 1 == 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raises :class:`VerificationError` unless ``proof`` proves ``leaf`` at ``index`` under ``root``."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError("the inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raises :class:`VerificationError` unless ``proof`` shows the tree ``old`` is a prefix of ``new``.

    RFC 9162 §2.1.4.2, with the edge cases of docs/SPECS.md §1.7: equal sizes
    need an empty proof and equal roots; an old size of 0 needs an empty proof
    and the empty-tree root; a smaller new size is refused.
    """
    if old_size < 0 or new_size < old_size:
        raise VerificationError(f"the new size {new_size} is below the old size {old_size}")
    if old_size == 0:
        if proof or old_root != EMPTY_ROOT:
            raise VerificationError("a consistency proof from the empty tree is empty")
        return
    if old_size == new_size:
        if proof:
            raise VerificationError("a consistency proof between equal sizes is empty")
        if old_root != new_root:
            raise VerificationError("two different roots for one size: a fork")
        return
    _check32(old_root, "the old root")
    _check32(new_root, "the new root")
    for p in proof:
        _check32(p, "a proof hash")
    if not proof:
        raise VerificationError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn != 0 and fn & 1 == 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the consistency proof is too short")
    if fr != old_root:
        raise VerificationError("the consistency proof does not lead to the old root")
    if sr != new_root:
        raise VerificationError("the consistency proof does not lead to the new root")
