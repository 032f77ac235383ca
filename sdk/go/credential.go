package provlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// CredentialAnswer is what GET /v1/credentials/<fingerprint> answers
// (docs/MAP.md "Credential answers").
type CredentialAnswer struct {
	// Fingerprint is the credential asked about.
	Fingerprint string `json:"fingerprint"`
	// State is active, superseded, revoked, expired... or unknown.
	State string `json:"state"`
	// Record is the committed record (absent: proven unknown).
	Record json.RawMessage `json:"record,omitempty"`
	// MapProof is base64 of the provlog-map-v1 proof.
	MapProof string `json:"map_proof"`
	// Commitment is the state leaf, its index and inclusion proof.
	Commitment Commitment `json:"commitment"`
	// Checkpoint is the signed checkpoint that includes the commitment.
	Checkpoint string `json:"checkpoint"`
	// History are the events naming the credential (history=true).
	History []HistoryItem `json:"history,omitempty"`
	// NextAfter marks a page of a longer history.
	NextAfter *uint64 `json:"next_after,omitempty"`
}

// Commitment is a state commitment item of an answer.
type Commitment struct {
	// Index is the state leaf's index.
	Index uint64 `json:"index"`
	// Entry is base64 of the state leaf.
	Entry string `json:"entry"`
	// Proof is its inclusion proof against the checkpoint.
	Proof []string `json:"proof"`
}

// HistoryItem is an event naming the credential, proven against the
// answer's checkpoint.
type HistoryItem struct {
	// Index is the entry's index.
	Index uint64 `json:"index"`
	// LeafHash is base64 of its leaf hash.
	LeafHash string `json:"leaf_hash"`
	// Entry is base64 of the entry bytes.
	Entry string `json:"entry"`
	// Proof is its inclusion proof.
	Proof []string `json:"proof"`
}

// CredentialRecord is a record of the credential map.
type CredentialRecord struct {
	// V is the record format version.
	V int `json:"v"`
	// Fingerprint is the credential's.
	Fingerprint string `json:"fingerprint"`
	// State is the committed state.
	State string `json:"state"`
	// Owner is the target that owns the credential.
	Owner *Target `json:"owner,omitempty"`
	// IssuedBy is the submitter that issued it.
	IssuedBy string `json:"issued_by,omitempty"`
	// NotAfter is its expiry (RFC 3339).
	NotAfter string `json:"not_after,omitempty"`
	// LastIndex is the entry that last changed the record.
	LastIndex uint64 `json:"last_index"`
	// Version counts the record's changes.
	Version uint64 `json:"version"`
}

// StateLeaf is a state commitment leaf.
type StateLeaf struct {
	// Credentials counts the map's keys.
	Credentials uint64 `json:"credentials"`
	// LoggedAt is when the log committed it.
	LoggedAt string `json:"logged_at"`
	// MapRoot is base64 of the map's root.
	MapRoot string `json:"map_root"`
	// Size is the number of entries before it.
	Size uint64 `json:"size"`
}

// CredentialOptions are the verifier's requirements.
type CredentialOptions struct {
	// LogKey is the log's key (required).
	LogKey *Verifier
	// Witnesses are the witness keys whose cosignatures count.
	Witnesses []*Verifier
	// MinWitnesses is how many of them must have cosigned the checkpoint.
	MinWitnesses int
	// Now is the verifier's clock (zero: time.Now()). Freshness and
	// expiry are judged by it, never by a time the server chose.
	Now time.Time
	// MaxAge is the oldest commitment accepted (required unless AsOfEntry).
	MaxAge time.Duration
	// AsOfEntry asks a historical question: the state when that entry was
	// logged (the commitment must be at or before it; no freshness;
	// expiry judged at the commitment's logged_at).
	AsOfEntry *uint64
}

// VerifiedCredential is what a verified answer proves.
type VerifiedCredential struct {
	// State is the state at the verifier's clock (active becomes expired
	// past not_after), or at the commitment for a historical question.
	State string
	// Record is the committed record (nil: proven absent).
	Record *CredentialRecord
	// CommitmentIndex is the index of the state leaf.
	CommitmentIndex uint64
	// Commitment is the state leaf.
	Commitment StateLeaf
	// Checkpoint is the verified checkpoint.
	Checkpoint *Checkpoint
}

// MaxClockSkew is how far a commitment may be ahead of the verifier's clock.
const MaxClockSkew = 5 * time.Second

var (
	fingerprintRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	loggedAtRE    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	rfc3339RE     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$`)
)

func parseTime(s string) (time.Time, error) {
	if !rfc3339RE.MatchString(s) {
		return time.Time{}, fmt.Errorf("not an RFC 3339 time: %q", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}

// CredentialKey is the credential map key of a fingerprint.
func CredentialKey(fingerprint string) Hash {
	return sha256.Sum256([]byte("provlog/credential-key/v1\n" + fingerprint))
}

// Verify checks the answer about fingerprint (docs/MAP.md "Verifying an
// answer"): the checkpoint (and cosignatures), the commitment's inclusion
// and freshness, the record under the committed map root (or its
// absence), the stated state, and the history items.
func (a *CredentialAnswer) Verify(fingerprint string, opt CredentialOptions) (*VerifiedCredential, error) {
	fail := func(f string, args ...interface{}) (*VerifiedCredential, error) {
		return nil, fmt.Errorf("credential answer: "+f, args...)
	}
	if opt.LogKey == nil {
		return fail("no log key")
	}
	if !fingerprintRE.MatchString(fingerprint) || a.Fingerprint != fingerprint {
		return fail("the answer is about another credential")
	}
	if a.NextAfter != nil {
		return fail("a page of a longer history (next_after %d)", *a.NextAfter)
	}
	cp, err := VerifyCheckpointWitnessed(a.Checkpoint, opt.LogKey, opt.Witnesses, opt.MinWitnesses)
	if err != nil {
		return fail("%v", err)
	}
	c := a.Commitment
	entry, err := b64.DecodeString(c.Entry)
	if err != nil {
		return fail("the commitment entry is not base64")
	}
	proof, err := decodeHashes(c.Proof, "commitment proof hash")
	if err != nil {
		return fail("%v", err)
	}
	if err := VerifyInclusion(c.Index, cp.Size, LeafHash(entry), proof, cp.Root); err != nil {
		return fail("the commitment is not included in the checkpoint: %v", err)
	}
	canon, err := Canonicalize(entry)
	if err != nil || !bytes.Equal(canon, entry) {
		return fail("the commitment leaf is not canonical JSON")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(entry, &members); err != nil {
		return fail("the commitment leaf is not an object")
	}
	for _, k := range []string{"credentials", "kind", "logged_at", "map_root", "size", "v"} {
		if _, ok := members[k]; !ok {
			return fail("not a state leaf")
		}
	}
	if len(members) != 6 {
		return fail("not a state leaf")
	}
	var head struct {
		Kind string `json:"kind"`
		V    uint64 `json:"v"`
		StateLeaf
	}
	if err := json.Unmarshal(entry, &head); err != nil {
		return fail("not a state leaf: %v", err)
	}
	if head.Kind != "state" || head.V != 1 || head.Size != c.Index {
		return fail("not a state leaf covering the entries before it")
	}
	if !loggedAtRE.MatchString(head.LoggedAt) {
		return fail("logged_at is not YYYY-MM-DDTHH:MM:SS.mmmZ")
	}
	committedAt, err := parseTime(head.LoggedAt)
	if err != nil {
		return fail("%v", err)
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	if opt.AsOfEntry == nil {
		age := now.Sub(committedAt)
		skew := MaxClockSkew
		if opt.MaxAge < skew {
			skew = opt.MaxAge
		}
		if age > opt.MaxAge || age < -skew {
			return fail("stale: the commitment logged at %s is older than %v (or ahead of this clock)", head.LoggedAt, opt.MaxAge)
		}
	} else if c.Index > *opt.AsOfEntry {
		return fail("the commitment is at entry %d, after entry %d the question is about", c.Index, *opt.AsOfEntry)
	}
	mapRoot, err := decodeHash(head.MapRoot, "map_root")
	if err != nil {
		return fail("%v", err)
	}
	var rec *CredentialRecord
	var value *Hash
	if len(a.Record) > 0 && string(a.Record) != "null" {
		rec = new(CredentialRecord)
		if err := json.Unmarshal(a.Record, rec); err != nil {
			return fail("record: %v", err)
		}
		if rec.Fingerprint != fingerprint || rec.LastIndex >= c.Index {
			return fail("the record does not fit the answer")
		}
		if rec.Version >= 1<<53 || rec.LastIndex >= 1<<53 {
			return fail("version or last_index beyond 2^53")
		}
		if rec.NotAfter != "" {
			if _, err := parseTime(rec.NotAfter); err != nil {
				return fail("record not_after: %v", err)
			}
		}
		rc, err := Canonicalize(a.Record)
		if err != nil {
			return fail("record: %v", err)
		}
		v := Hash(sha256.Sum256(append([]byte("provlog/credential-record/v1\n"), rc...)))
		value = &v
	}
	mp, err := b64.DecodeString(a.MapProof)
	if err != nil {
		return fail("the map proof is not base64")
	}
	if !VerifyMapProof(mapRoot, CredentialKey(fingerprint), value, mp) {
		return fail("the map proof does not verify")
	}
	committed := "unknown"
	if rec != nil {
		committed = rec.State
	}
	if a.State != committed {
		return fail("the stated state %q is not the record's %q", a.State, committed)
	}
	if err := a.verifyHistory(fingerprint, cp, c.Index, rec, opt.AsOfEntry != nil); err != nil {
		return fail("%v", err)
	}
	state := committed
	judged := now
	if opt.AsOfEntry != nil {
		judged = committedAt
	}
	if state == "active" && rec.NotAfter != "" {
		if t, _ := parseTime(rec.NotAfter); !t.After(judged) {
			state = "expired"
		}
	}
	return &VerifiedCredential{State: state, Record: rec, CommitmentIndex: c.Index, Commitment: head.StateLeaf, Checkpoint: cp}, nil
}

func (a *CredentialAnswer) verifyHistory(fp string, cp *Checkpoint, commitment uint64, rec *CredentialRecord, historical bool) error {
	var last *uint64
	haveLast := false
	for n := range a.History {
		it := a.History[n]
		if last != nil && *last >= it.Index {
			return fmt.Errorf("history: entry %d out of order", it.Index)
		}
		last = &a.History[n].Index
		entry, err := b64.DecodeString(it.Entry)
		if err != nil {
			return fmt.Errorf("history: entry %d is not base64", it.Index)
		}
		lh, err := decodeHash(it.LeafHash, "history leaf_hash")
		if err != nil || LeafHash(entry) != lh {
			return fmt.Errorf("history: entry %d: leaf_hash is not the entry's", it.Index)
		}
		proof, err := decodeHashes(it.Proof, "history proof hash")
		if err != nil {
			return err
		}
		if err := VerifyInclusion(it.Index, cp.Size, lh, proof, cp.Root); err != nil {
			return fmt.Errorf("history: entry %d is not included: %v", it.Index, err)
		}
		leaf, err := ParseLeaf(entry)
		if err != nil || leaf.Kind != "event" {
			return fmt.Errorf("history: entry %d is not an event", it.Index)
		}
		var ev Event
		if err := json.Unmarshal(leaf.Event, &ev); err != nil || ev.Credential == nil ||
			(ev.Credential.Fingerprint != fp && ev.Credential.PreviousFingerprint != fp) {
			return fmt.Errorf("history: entry %d does not name the credential", it.Index)
		}
		if !historical && it.Index > commitment && ev.Outcome == "success" {
			return fmt.Errorf("history: a change of the credential at entry %d, after the commitment at %d", it.Index, commitment)
		}
		if rec != nil && it.Index == rec.LastIndex {
			haveLast = true
		}
	}
	if rec != nil && len(a.History) > 0 && !haveLast {
		return fmt.Errorf("history: does not hold entry %d, the record's last change", rec.LastIndex)
	}
	return nil
}

// Map-proof node domains (provlog-map-v1, docs/MAP.md).
const (
	mapLeaf  = 0x12
	mapInner = 0x13
	mapEmpty = 0x14
)

// MapEmptyRoot is the root of the empty provlog-map-v1 map.
var MapEmptyRoot = Hash(sha256.Sum256([]byte{mapEmpty}))

func mapBit(k Hash, b int) int { return int(k[b>>3]>>(7-uint(b&7))) & 1 }

func mapLeafHash(k, v Hash) Hash {
	return sha256.Sum256(append(append([]byte{mapLeaf}, k[:]...), v[:]...))
}

func mapInnerHash(b byte, l, r Hash) Hash {
	buf := append([]byte{mapInner, b}, l[:]...)
	return sha256.Sum256(append(buf, r[:]...))
}

// VerifyMapProof checks a provlog-map-v1 proof that key maps to *value
// under root, or (value nil) that key is absent.
func VerifyMapProof(root, key Hash, value *Hash, proof []byte) bool {
	if len(proof) < 3 {
		return false
	}
	kind, p := proof[0], 1
	var k, v Hash
	switch kind {
	case 1:
		if len(proof) < 67 {
			return false
		}
		copy(k[:], proof[1:33])
		copy(v[:], proof[33:65])
		p = 65
	case 0, 2:
	default:
		return false
	}
	n := int(binary.BigEndian.Uint16(proof[p : p+2]))
	p += 2
	if n > 256 || len(proof) != p+33*n {
		return false
	}
	switch kind {
	case 2:
		return value == nil && n == 0 && root == MapEmptyRoot
	case 0:
		if value == nil {
			return false
		}
		k, v = key, *value
	case 1:
		if value != nil || k == key {
			return false
		}
	}
	h, prev := mapLeafHash(k, v), 256
	for i := 0; i < n; i++ {
		b := int(proof[p])
		var s Hash
		copy(s[:], proof[p+1:p+33])
		p += 33
		if b >= prev || mapBit(key, b) != mapBit(k, b) {
			return false
		}
		prev = b
		if mapBit(key, b) == 0 {
			h = mapInnerHash(byte(b), h, s)
		} else {
			h = mapInnerHash(byte(b), s, h)
		}
	}
	return h == root
}
