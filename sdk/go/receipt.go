package provlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// TlogProofHeader is the first line of a C2SP tlog-proof.
const TlogProofHeader = "c2sp.org/tlog-proof@v1"

// Receipt is what the log answers a submission: the entry, its leaf hash,
// the signed checkpoint and the inclusion proof, twice (JSON and C2SP
// tlog-proof).
type Receipt struct {
	// Index is the entry's index.
	Index uint64 `json:"index"`
	// LeafHash is base64 SHA-256(0x00 || entry).
	LeafHash string `json:"leaf_hash"`
	// Entry is base64 of the entry bytes (the canonical leaf JSON).
	Entry string `json:"entry"`
	// Checkpoint is the signed checkpoint note, verbatim.
	Checkpoint string `json:"checkpoint"`
	// InclusionProof are base64 hashes, leaf side first.
	InclusionProof []string `json:"inclusion_proof"`
	// TlogProof is the same proof as a c2sp.org/tlog-proof@v1 text.
	TlogProof string `json:"tlog_proof"`
}

// Leaf is a parsed provlog leaf (the entry bytes are canonical JSON).
type Leaf struct {
	// V is the leaf format version (for events, the signature version).
	V int `json:"v"`
	// Kind is event, policy, state, heartbeat or statement.
	Kind string `json:"kind"`
	// LoggedAt is the log's time, YYYY-MM-DDTHH:MM:SS.mmmZ.
	LoggedAt string `json:"logged_at"`
	// Submitter is the submitter id (events, heartbeats, statements).
	Submitter string `json:"submitter,omitempty"`
	// Signature is the submitter's signature (events, heartbeats).
	Signature string `json:"signature,omitempty"`
	// Event is the event (kind event).
	Event json.RawMessage `json:"event,omitempty"`
	// Approvals are the approvals the event carried.
	Approvals []SignedApproval `json:"approvals,omitempty"`
	// Raw is the whole leaf JSON.
	Raw json.RawMessage `json:"-"`
}

var leafKinds = map[string]bool{"event": true, "policy": true, "state": true, "heartbeat": true, "statement": true}

// ParseLeaf parses entry bytes as a provlog leaf: a canonical JSON object
// with a known kind, an integer v and a logged_at. (The server checks
// each kind's members; this is a reader's check.)
func ParseLeaf(entry []byte) (*Leaf, error) {
	c, err := Canonicalize(entry)
	if err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	if !bytes.Equal(c, entry) {
		return nil, errors.New("entry: not canonical JSON")
	}
	var l Leaf
	if err := json.Unmarshal(entry, &l); err != nil {
		return nil, fmt.Errorf("entry: %w", err)
	}
	if !leafKinds[l.Kind] || l.V < 1 || l.LoggedAt == "" {
		return nil, errors.New("entry: not a provlog leaf")
	}
	l.Raw = append(json.RawMessage(nil), entry...)
	return &l, nil
}

// VerifiedReceipt is what a verified receipt proves.
type VerifiedReceipt struct {
	// Index is the entry's index.
	Index uint64
	// LeafHash is the entry's leaf hash.
	LeafHash Hash
	// Entry is the entry bytes.
	Entry []byte
	// Leaf is the parsed entry.
	Leaf *Leaf
	// Checkpoint is the verified checkpoint that includes it.
	Checkpoint *Checkpoint
}

type tlogProof struct {
	index      uint64
	proof      []Hash
	checkpoint string
}

func parseTlogProof(text string) (*tlogProof, error) {
	i := strings.Index(text, "\n\n")
	if i < 0 {
		return nil, errors.New("tlog_proof: no blank line before the checkpoint")
	}
	lines := strings.Split(text[:i], "\n")
	if lines[0] != TlogProofHeader {
		return nil, errors.New("tlog_proof: first line is not " + TlogProofHeader)
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		if _, err := b64.DecodeString(lines[0][6:]); err != nil {
			return nil, errors.New("tlog_proof: extra is not base64")
		}
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return nil, errors.New("tlog_proof: missing index line")
	}
	n := lines[0][6:]
	idx, err := strconv.ParseUint(n, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != n {
		return nil, errors.New("tlog_proof: index is not canonical decimal")
	}
	proof, err := decodeHashes(lines[1:], "tlog_proof hash")
	if err != nil {
		return nil, err
	}
	if len(proof) > 64 {
		return nil, errors.New("tlog_proof: more than 64 hashes")
	}
	return &tlogProof{index: idx, proof: proof, checkpoint: text[i+2:]}, nil
}

// Verify checks everything the receipt claims, offline, with only the
// log's key: the checkpoint's signature and origin, the leaf hash, the
// inclusion proof, that the tlog-proof agrees with the JSON members, and
// that the entry is a provlog leaf.
func (r *Receipt) Verify(logKey *Verifier) (*VerifiedReceipt, error) {
	entry, err := b64.DecodeString(r.Entry)
	if err != nil {
		return nil, errors.New("receipt: entry is not base64")
	}
	claimed, err := decodeHash(r.LeafHash, "leaf_hash")
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	lh := LeafHash(entry)
	if lh != claimed {
		return nil, errors.New("receipt: leaf_hash is not SHA-256(0x00 || entry)")
	}
	proof, err := decodeHashes(r.InclusionProof, "inclusion_proof hash")
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	t, err := parseTlogProof(r.TlogProof)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if t.index != r.Index {
		return nil, errors.New("receipt: tlog_proof disagrees with the index")
	}
	if t.checkpoint != r.Checkpoint {
		return nil, errors.New("receipt: tlog_proof disagrees with the checkpoint")
	}
	if len(t.proof) != len(proof) {
		return nil, errors.New("receipt: tlog_proof disagrees with the inclusion_proof")
	}
	for i := range proof {
		if proof[i] != t.proof[i] {
			return nil, errors.New("receipt: tlog_proof disagrees with the inclusion_proof")
		}
	}
	cp, err := VerifyCheckpoint(r.Checkpoint, logKey)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if err := VerifyInclusion(r.Index, cp.Size, lh, proof, cp.Root); err != nil {
		return nil, fmt.Errorf("receipt: inclusion proof: %w", err)
	}
	leaf, err := ParseLeaf(entry)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	return &VerifiedReceipt{Index: r.Index, LeafHash: lh, Entry: entry, Leaf: leaf, Checkpoint: cp}, nil
}

// VerifyWitnessed is [Receipt.Verify] and, on the receipt's checkpoint,
// at least min cosignatures by the given witnesses.
func (r *Receipt) VerifyWitnessed(logKey *Verifier, witnesses []*Verifier, min int) (*VerifiedReceipt, error) {
	v, err := r.Verify(logKey)
	if err != nil {
		return nil, err
	}
	got, err := RequireCosignatures(r.Checkpoint, witnesses, min)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	v.Checkpoint.Cosigned = got
	return v, nil
}
