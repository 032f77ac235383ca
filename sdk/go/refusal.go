package provlog

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// Refusal is the statement of a signed refusal (docs/REFUSALS.md).
type Refusal struct {
	// V is the format version (1).
	V int `json:"v"`
	// Origin is the log's origin.
	Origin string `json:"origin"`
	// Kind is event or heartbeat.
	Kind string `json:"kind"`
	// Submission is base64 SHA-256 of the submission's canonical JSON.
	Submission string `json:"submission"`
	// Submitter is the submitter it authenticated as.
	Submitter string `json:"submitter"`
	// EventID is the event's id (for an event).
	EventID string `json:"event_id,omitempty"`
	// Code is the error code.
	Code string `json:"code"`
	// Message is the error message.
	Message string `json:"message"`
	// PolicyIndex is the index of the policy leaf it was judged under.
	PolicyIndex uint64 `json:"policy_index"`
	// RefusedAt is the log's time of the refusal.
	RefusedAt string `json:"refused_at"`
	// TreeSize is the log's published tree size then.
	TreeSize uint64 `json:"tree_size"`
}

// SignedRefusal is {"refusal": {...}, "signature": "<base64>"}.
type SignedRefusal struct {
	// Refusal is the refusal object, as signed.
	Refusal json.RawMessage `json:"refusal"`
	// Signature is base64 Ed25519 by the log's key.
	Signature string `json:"signature"`
}

// RefusalMessage is what the log signs: "provlog/refusal/v1\n" || JCS(refusal).
func RefusalMessage(refusalJCS []byte) []byte {
	return append([]byte(RefusalContextV1), refusalJCS...)
}

// Verify checks the log's signature (the origin must be the log key's
// name) and returns the parsed refusal.
func (s *SignedRefusal) Verify(logKey *Verifier) (*Refusal, error) {
	c, err := Canonicalize(s.Refusal)
	if err != nil {
		return nil, fmt.Errorf("refusal: %w", err)
	}
	var r Refusal
	if err := json.Unmarshal(s.Refusal, &r); err != nil {
		return nil, fmt.Errorf("refusal: %w", err)
	}
	sig, err := b64.DecodeString(s.Signature)
	if err != nil || r.Origin != logKey.Name() || !logKey.VerifyRaw(RefusalMessage(c), sig) {
		return nil, fmt.Errorf("refusal: not signed by the log key %s", logKey.Name())
	}
	return &r, nil
}

// Covers checks that the refusal is about submission (a [*Submission],
// its JSON, or any value that marshals to the submission object).
func (s *SignedRefusal) Covers(submission interface{}) error {
	var r Refusal
	if err := json.Unmarshal(s.Refusal, &r); err != nil {
		return fmt.Errorf("refusal: %w", err)
	}
	d, err := SubmissionDigest(submission)
	if err != nil {
		return err
	}
	if d != r.Submission {
		return errors.New("refusal: about another submission")
	}
	return nil
}

// SubmissionDigest is base64 SHA-256 of the canonical JSON of a
// submission (what a refusal's submission member holds).
func SubmissionDigest(submission interface{}) (string, error) {
	var c []byte
	var err error
	switch v := submission.(type) {
	case json.RawMessage:
		c, err = Canonicalize(v)
	case []byte:
		c, err = Canonicalize(v)
	default:
		c, err = CanonicalizeValue(v)
	}
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(c)
	return b64.EncodeToString(h[:]), nil
}
