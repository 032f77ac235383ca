package provlog

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Signature contexts (docs/DESIGN.md "Submitters and delegated authority",
// "Approvals"; docs/REFUSALS.md).
const (
	// EventContextV1 starts a version 1 event signature's message.
	EventContextV1 = "provlog/event/v1\n"
	// EventContextV2 starts a version 2 event signature's message.
	EventContextV2 = "provlog/event/v2\n"
	// ApprovalContextV1 starts an approval signature's message.
	ApprovalContextV1 = "provlog/approval/v1\n"
	// RefusalContextV1 starts a signed refusal's message.
	RefusalContextV1 = "provlog/refusal/v1\n"
)

// Event is a provisioning event (docs/DESIGN.md "The provisioning
// event"). Optional members are left out when empty.
type Event struct {
	// EventID is the idempotency key, unique per submitter (1–128 ASCII
	// characters 0x21–0x7E).
	EventID string `json:"event_id"`
	// OccurredAt is when the action happened (RFC 3339).
	OccurredAt string `json:"occurred_at"`
	// Action is issue, rotate, revoke, bind, unbind, grant, expire or x-<name>.
	Action string `json:"action"`
	// Actor is the workflow or principal that performed it.
	Actor Actor `json:"actor"`
	// Target is the identity acted on.
	Target Target `json:"target"`
	// Authority is the delegated authority it ran under ({} allowed).
	Authority Authority `json:"authority"`
	// Decision is the policy decision.
	Decision Decision `json:"decision"`
	// Outcome is success or failure.
	Outcome string `json:"outcome"`
	// Credential is the credential state relied on, if any.
	Credential *Credential `json:"credential,omitempty"`
	// Details is free-form JSON (an object); nil or empty leaves it out.
	Details map[string]interface{} `json:"details,omitempty"`
	// Seq is the position in a sequenced submitter's chain (with Prev).
	Seq uint64 `json:"seq,omitempty"`
	// Prev is the base64 leaf hash of the chain's previous entry.
	Prev string `json:"prev,omitempty"`
}

// Actor is who performed an action.
type Actor struct {
	// ID identifies the actor.
	ID string `json:"id"`
	// Type is its kind, e.g. "workflow".
	Type string `json:"type"`
}

// Target is the identity acted on.
type Target struct {
	// ID identifies the target.
	ID string `json:"id"`
	// Type is e.g. service_account, api_key, token, certificate, role, secret.
	Type string `json:"type"`
	// System is where it lives, e.g. "gcp" (optional).
	System string `json:"system,omitempty"`
}

// Authority is the delegated authority an action ran under.
type Authority struct {
	// ApprovalID names an approval (optional).
	ApprovalID string `json:"approval_id,omitempty"`
	// ApprovedBy names the approver (optional).
	ApprovedBy string `json:"approved_by,omitempty"`
	// Scope is a scope string (optional).
	Scope string `json:"scope,omitempty"`
}

// Decision is the policy decision.
type Decision struct {
	// Result is allow or deny.
	Result string `json:"result"`
	// PolicyID names the policy (optional).
	PolicyID string `json:"policy_id,omitempty"`
	// PolicyVersion is the policy's version (optional).
	PolicyVersion string `json:"policy_version,omitempty"`
}

// Credential is the credential state an event relied on.
type Credential struct {
	// Fingerprint is "sha256:<64 lowercase hex>".
	Fingerprint string `json:"fingerprint"`
	// PreviousFingerprint is the credential it replaces (optional).
	PreviousFingerprint string `json:"previous_fingerprint,omitempty"`
	// NotAfter is its expiry, RFC 3339 (optional).
	NotAfter string `json:"not_after,omitempty"`
}

// CanonicalEvent returns the RFC 8785 bytes of an event, given as an
// [*Event], a [json.RawMessage] / []byte of JSON, or any value
// encoding/json marshals to an object.
func CanonicalEvent(event interface{}) ([]byte, error) {
	var raw []byte
	switch e := event.(type) {
	case json.RawMessage:
		raw = e
	case []byte:
		raw = e
	default:
		b, err := json.Marshal(event)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	c, err := Canonicalize(raw)
	if err != nil {
		return nil, err
	}
	if len(c) == 0 || c[0] != '{' {
		return nil, errors.New("event: not a JSON object")
	}
	return c, nil
}

// EventMessageV1 is what a version 1 signature covers:
// "provlog/event/v1\n" || JCS(event).
func EventMessageV1(eventJCS []byte) []byte {
	return append([]byte(EventContextV1), eventJCS...)
}

// EventMessageV2 is what a version 2 signature covers:
// "provlog/event/v2\n" || origin || "\n" || JCS(event).
func EventMessageV2(origin string, eventJCS []byte) []byte {
	m := append([]byte(EventContextV2), origin...)
	m = append(m, '\n')
	return append(m, eventJCS...)
}

// Submission is what POST /v1/entries takes.
type Submission struct {
	// Event is the event JSON, as signed.
	Event json.RawMessage `json:"event"`
	// Submitter is the submitter id.
	Submitter string `json:"submitter"`
	// Signature is base64 Ed25519 over the event message.
	Signature string `json:"signature"`
	// SignatureVersion is 2 (bound to the log's origin) or 1.
	SignatureVersion int `json:"signature_version,omitempty"`
	// Approvals are signed approvals carried with the event (optional).
	Approvals []SignedApproval `json:"approvals,omitempty"`
}

// Sign signs event (see [CanonicalEvent] for what it may be) as submitter
// for the log whose checkpoint origin is origin (signature version 2,
// valid in that log only).
func Sign(event interface{}, submitter string, key *Signer, origin string) (*Submission, error) {
	raw, c, err := eventBytes(event)
	if err != nil {
		return nil, err
	}
	sig := key.SignRaw(EventMessageV2(origin, c))
	return &Submission{Event: raw, Submitter: submitter, Signature: b64.EncodeToString(sig), SignatureVersion: 2}, nil
}

// SignV1 signs event with signature version 1 (bound to no log; refused
// by logs that require origin binding).
func SignV1(event interface{}, submitter string, key *Signer) (*Submission, error) {
	raw, c, err := eventBytes(event)
	if err != nil {
		return nil, err
	}
	sig := key.SignRaw(EventMessageV1(c))
	return &Submission{Event: raw, Submitter: submitter, Signature: b64.EncodeToString(sig), SignatureVersion: 1}, nil
}

func eventBytes(event interface{}) (json.RawMessage, []byte, error) {
	c, err := CanonicalEvent(event)
	if err != nil {
		return nil, nil, err
	}
	return json.RawMessage(c), c, nil
}

// WithApprovals returns the submission carrying these approvals (they are
// not part of what the submitter signs).
func (s *Submission) WithApprovals(a ...SignedApproval) *Submission {
	c := *s
	c.Approvals = append(append([]SignedApproval(nil), s.Approvals...), a...)
	return &c
}

// Verify checks the submission's signature with the submitter's key for
// the log whose origin is origin.
func (s *Submission) Verify(key *Verifier, origin string) error {
	c, err := CanonicalEvent(s.Event)
	if err != nil {
		return err
	}
	sig, err := b64.DecodeString(s.Signature)
	if err != nil {
		return errors.New("signature is not base64")
	}
	var m []byte
	switch s.SignatureVersion {
	case 0, 1:
		m = EventMessageV1(c)
	case 2:
		m = EventMessageV2(origin, c)
	default:
		return fmt.Errorf("unknown signature version %d", s.SignatureVersion)
	}
	if !key.VerifyRaw(m, sig) {
		return errors.New("the submission's signature does not verify")
	}
	return nil
}

// Digest is base64 SHA-256 of the submission's canonical JSON, what a
// signed refusal names.
func (s *Submission) Digest() (string, error) {
	return SubmissionDigest(s)
}

// Approval is an approval object (docs/DESIGN.md "Approvals").
type Approval struct {
	// ID is the approval's id (submitter-id alphabet).
	ID string `json:"id"`
	// Approver is the approver's id.
	Approver string `json:"approver"`
	// Submitter is the submitter the approval is for.
	Submitter string `json:"submitter"`
	// Actor is the event's actor.id it is for (optional).
	Actor string `json:"actor,omitempty"`
	// Actions are 1–16 exact action names.
	Actions []string `json:"actions"`
	// Target is a target id or glob.
	Target string `json:"target"`
	// System restricts target.system (optional).
	System string `json:"system,omitempty"`
	// Fingerprint restricts credential.fingerprint (optional).
	Fingerprint string `json:"fingerprint,omitempty"`
	// NotBefore starts the validity window (RFC 3339).
	NotBefore string `json:"not_before"`
	// NotAfter ends it (RFC 3339).
	NotAfter string `json:"not_after"`
	// MaxUses is how many events may carry it (0: left out, default 1).
	MaxUses int `json:"max_uses,omitempty"`
	// Refs are 1–8 references such as change tickets (optional).
	Refs []string `json:"refs,omitempty"`
}

// SignedApproval is {"approval": {...}, "signature": "<base64>"}.
type SignedApproval struct {
	// Approval is the approval object, as signed.
	Approval json.RawMessage `json:"approval"`
	// Signature is base64 Ed25519 by the approver's key.
	Signature string `json:"signature"`
}

// ApprovalMessage is what an approval signature covers:
// "provlog/approval/v1\n" || origin || "\n" || JCS(approval).
func ApprovalMessage(origin string, approvalJCS []byte) []byte {
	m := append([]byte(ApprovalContextV1), origin...)
	m = append(m, '\n')
	return append(m, approvalJCS...)
}

// SignApproval signs an approval (an [*Approval] or its JSON) with the
// approver's key for the log whose origin is origin.
func SignApproval(approval interface{}, key *Signer, origin string) (SignedApproval, error) {
	_, c, err := eventBytes(approval)
	if err != nil {
		return SignedApproval{}, err
	}
	return SignedApproval{Approval: c, Signature: b64.EncodeToString(key.SignRaw(ApprovalMessage(origin, c)))}, nil
}

// Verify checks the approval's signature under the approver's key for the
// log whose origin is origin.
func (a SignedApproval) Verify(key *Verifier, origin string) error {
	c, err := Canonicalize(a.Approval)
	if err != nil {
		return err
	}
	sig, err := b64.DecodeString(a.Signature)
	if err != nil || !key.VerifyRaw(ApprovalMessage(origin, c), sig) {
		return errors.New("the approval's signature does not verify")
	}
	return nil
}
