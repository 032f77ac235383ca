package provlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Hash is a SHA-256 hash: a Merkle tree node or root.
type Hash [32]byte

// EmptyRoot is the root of the empty tree, SHA-256 of nothing.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash is the RFC 9162 leaf hash SHA-256(0x00 || entry).
func LeafHash(entry []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	var out Hash
	copy(out[:], h.Sum(nil))
	return out
}

// NodeHash is the RFC 9162 interior node hash SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(left[:])
	h.Write(right[:])
	var out Hash
	copy(out[:], h.Sum(nil))
	return out
}

// MerkleRoot computes the RFC 9162 root of the given leaf hashes.
func MerkleRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return EmptyRoot
	case 1:
		return leaves[0]
	}
	k := splitPoint(uint64(len(leaves)))
	return NodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// splitPoint is the largest power of two smaller than n (n >= 2).
func splitPoint(n uint64) uint64 {
	k := uint64(1)
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// Errors of proof verification.
var (
	// ErrProofTooShort: a proof has fewer hashes than the tree needs.
	ErrProofTooShort = errors.New("proof too short")
	// ErrProofTooLong: a proof has more hashes than the tree needs.
	ErrProofTooLong = errors.New("proof too long")
	// ErrRootMismatch: a proof leads to another root.
	ErrRootMismatch = errors.New("the proof does not lead to the root")
)

// RootFromInclusion computes the root an RFC 9162 §2.1.3.2 inclusion proof
// of the leaf at index in a tree of size leads to.
func RootFromInclusion(index, size uint64, leaf Hash, proof []Hash) (Hash, error) {
	if index >= size {
		return Hash{}, fmt.Errorf("index %d is not below the tree size %d", index, size)
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range proof {
		if sn == 0 {
			return Hash{}, ErrProofTooLong
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, ErrProofTooShort
	}
	return r, nil
}

// VerifyInclusion checks an RFC 9162 inclusion proof against root.
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	r, err := RootFromInclusion(index, size, leaf, proof)
	if err != nil {
		return err
	}
	if r != root {
		return ErrRootMismatch
	}
	return nil
}

// VerifyConsistency checks an RFC 9162 §2.1.4.2 consistency proof that the
// tree of size oldSize and root oldRoot is a prefix of the tree of size
// newSize and root newRoot (1 <= oldSize <= newSize).
func VerifyConsistency(oldSize, newSize uint64, oldRoot, newRoot Hash, proof []Hash) error {
	if oldSize == 0 || oldSize > newSize {
		return fmt.Errorf("consistency: sizes %d and %d are not 1 <= old <= new", oldSize, newSize)
	}
	if oldSize == newSize {
		if len(proof) != 0 {
			return errors.New("consistency: a proof between equal sizes must be empty")
		}
		if oldRoot != newRoot {
			return ErrRootMismatch
		}
		return nil
	}
	if len(proof) == 0 {
		return ErrProofTooShort
	}
	path := proof
	if oldSize&(oldSize-1) == 0 {
		path = append([]Hash{oldRoot}, proof...)
	}
	fn, sn := oldSize-1, newSize-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return ErrProofTooLong
		}
		if fn&1 == 1 || fn == sn {
			fr = NodeHash(c, fr)
			sr = NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return ErrProofTooShort
	}
	if fr != oldRoot || sr != newRoot {
		return ErrRootMismatch
	}
	return nil
}

func decodeHash(s, what string) (Hash, error) {
	var h Hash
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("%s is not base64 of 32 bytes", what)
	}
	copy(h[:], b)
	return h, nil
}

func decodeHashes(ss []string, what string) ([]Hash, error) {
	out := make([]Hash, 0, len(ss))
	for _, s := range ss {
		h, err := decodeHash(s, what)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// String is the standard base64 of the hash.
func (h Hash) String() string { return b64.EncodeToString(h[:]) }

// Equal reports whether two hashes are equal.
func (h Hash) Equal(o Hash) bool { return bytes.Equal(h[:], o[:]) }
