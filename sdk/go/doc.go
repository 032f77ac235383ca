// Package provlog is the Go SDK of provlog, a transparency log of
// provisioning events of non-human identities.
//
// It signs events and approvals in provlog's formats (RFC 8785 canonical
// JSON, C2SP signed-note keys), submits them over HTTP with retries, and
// verifies offline everything the log answers: receipts (RFC 9162
// inclusion proofs under a C2SP signed checkpoint, optionally cosigned by
// witnesses), consistency between checkpoints, credential-state answers
// (map proofs under a state commitment), signed refusals and entries read
// through the C2SP tlog-tiles API.
//
// Only the Go standard library is used (crypto/ed25519, crypto/sha256).
package provlog
