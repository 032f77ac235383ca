package provlog

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const vectorsDir = "../../testdata/vectors"

func loadJSON(t *testing.T, path string, v interface{}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type expect struct {
	OK    bool            `json:"ok"`
	Index *uint64         `json:"index"`
	State string          `json:"state"`
	Code  string          `json:"code"`
	Cos   *int            `json:"cosigned"`
	Extra json.RawMessage `json:"-"`
}

type sdkVectors struct {
	Origin  string `json:"origin"`
	LogVkey string `json:"log_vkey"`
	Keys    []struct {
		Name, Type, Skey, Vkey string
		KeyIDHex               string `json:"key_id_hex"`
		PublicKeyB64           string `json:"public_key_b64"`
	} `json:"keys"`
	BadVkeys []struct{ Vkey, Why string } `json:"bad_vkeys"`
	JCS      []struct{ Input, Canonical string }
	Events   []struct {
		Event        json.RawMessage `json:"event"`
		Canonical    string          `json:"canonical"`
		Submitter    string          `json:"submitter"`
		MessageV1Hex string          `json:"message_v1_hex"`
		SignatureV1  string          `json:"signature_v1"`
		Origin       string          `json:"origin"`
		MessageV2Hex string          `json:"message_v2_hex"`
		SignatureV2  string          `json:"signature_v2"`
		SubmissionV2 json.RawMessage `json:"submission_v2"`
	} `json:"events"`
	Receipts []struct {
		Receipt Receipt `json:"receipt"`
		Why     string  `json:"why"`
		Expect  expect  `json:"expect"`
	} `json:"receipts"`
	Checkpoints []struct {
		Note         string   `json:"note"`
		Witnesses    []string `json:"witnesses"`
		MinWitnesses int      `json:"min_witnesses"`
		Why          string   `json:"why"`
		Expect       expect   `json:"expect"`
	} `json:"checkpoints"`
	WitnessedReceipts []struct {
		Receipt      Receipt  `json:"receipt"`
		Witnesses    []string `json:"witnesses"`
		MinWitnesses int      `json:"min_witnesses"`
		Expect       expect   `json:"expect"`
	} `json:"witnessed_receipts"`
	CheckpointPair struct{ Old, New string } `json:"checkpoint_pair"`
	Consistency    []struct {
		OldSize uint64   `json:"old_size"`
		OldRoot string   `json:"old_root"`
		NewSize uint64   `json:"new_size"`
		NewRoot string   `json:"new_root"`
		Proof   []string `json:"proof"`
		Why     string   `json:"why"`
		Expect  expect   `json:"expect"`
	} `json:"consistency"`
	CredentialAnswers struct {
		NowMs    int64 `json:"now_ms"`
		MaxAgeMs int64 `json:"max_age_ms"`
		Cases    []struct {
			Fingerprint string           `json:"fingerprint"`
			Answer      CredentialAnswer `json:"answer"`
			Why         string           `json:"why"`
			Expect      expect           `json:"expect"`
		} `json:"cases"`
	} `json:"credential_answers"`
	Refusals []struct {
		Submission json.RawMessage `json:"submission"`
		Refusal    SignedRefusal   `json:"refusal"`
		Error      *Error          `json:"error"`
		Why        string          `json:"why"`
		Expect     expect          `json:"expect"`
	} `json:"refusals"`
	Chain struct {
		Submitter      string `json:"submitter"`
		RegisteredHead string `json:"registered_head"`
		Entries        []struct {
			Seq        uint64     `json:"seq"`
			Submission Submission `json:"submission"`
			Receipt    Receipt    `json:"receipt"`
		} `json:"entries"`
	} `json:"chain"`
	Tiles struct {
		Checkpoint string `json:"checkpoint"`
		Size       uint64 `json:"size"`
		Tile0      string `json:"tile_0_000"`
		Bundle0    string `json:"bundle_000"`
	} `json:"tiles"`
}

func loadSDK(t *testing.T) (*sdkVectors, *Verifier) {
	var v sdkVectors
	loadJSON(t, filepath.Join(vectorsDir, "sdk_v1.json"), &v)
	log, err := ParseVerifier(v.LogVkey)
	if err != nil {
		t.Fatal(err)
	}
	if log.Name() != v.Origin {
		t.Fatalf("log key name %q, origin %q", log.Name(), v.Origin)
	}
	return &v, log
}

func parseVkeys(t *testing.T, ss []string) []*Verifier {
	var out []*Verifier
	for _, s := range ss {
		k, err := ParseVerifier(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func TestVectorKeys(t *testing.T) {
	v, _ := loadSDK(t)
	if len(v.Keys) != 6 || len(v.BadVkeys) != 5 {
		t.Fatalf("%d keys, %d bad vkeys", len(v.Keys), len(v.BadVkeys))
	}
	for _, k := range v.Keys {
		s, err := ParseSigner(k.Skey)
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		want := map[string]byte{"ed25519": AlgEd25519, "cosignature/v1": AlgCosignatureV1}[k.Type]
		if s.Alg() != want || s.Name() != k.Name {
			t.Errorf("%s: alg %x name %q", k.Name, s.Alg(), s.Name())
		}
		if s.Public().String() != k.Vkey || s.SkeyString() != k.Skey {
			t.Errorf("%s: renders %s / %s", k.Name, s.Public(), s.SkeyString())
		}
		if fmt.Sprintf("%08x", s.KeyID()) != k.KeyIDHex || b64.EncodeToString(s.PublicKey()) != k.PublicKeyB64 {
			t.Errorf("%s: key id %08x", k.Name, s.KeyID())
		}
		p, err := ParseVerifier(k.Vkey)
		if err != nil || p.String() != k.Vkey || p.KeyID() != s.KeyID() {
			t.Errorf("%s: vkey %v", k.Name, err)
		}
		if KeyID(k.Name, want, p.PublicKey()) != s.KeyID() {
			t.Errorf("%s: KeyID", k.Name)
		}
	}
	for _, b := range v.BadVkeys {
		if _, err := ParseVerifier(b.Vkey); err == nil {
			t.Errorf("bad vkey accepted (%s): %s", b.Why, b.Vkey)
		}
	}
}

func TestVectorJCS(t *testing.T) {
	v, _ := loadSDK(t)
	if len(v.JCS) == 0 {
		t.Fatal("no jcs vectors")
	}
	for _, c := range v.JCS {
		got, err := Canonicalize([]byte(c.Input))
		if err != nil || string(got) != c.Canonical {
			t.Errorf("%s: got %s (%v), want %s", c.Input, got, err, c.Canonical)
		}
	}
}

func TestVectorEvents(t *testing.T) {
	v, _ := loadSDK(t)
	var ci *Signer
	for _, k := range v.Keys {
		if k.Name == "ci" {
			ci, _ = ParseSigner(k.Skey)
		}
	}
	if ci == nil || len(v.Events) != 4 {
		t.Fatal("no ci key or events")
	}
	for i, e := range v.Events {
		c, err := CanonicalEvent(e.Event)
		if err != nil || string(c) != e.Canonical {
			t.Fatalf("event %d: canonical %s %v", i, c, err)
		}
		// The typed struct gives the same bytes.
		var ev Event
		if err := json.Unmarshal(e.Event, &ev); err != nil {
			t.Fatal(err)
		}
		if c2, err := CanonicalEvent(&ev); err != nil || string(c2) != e.Canonical {
			t.Errorf("event %d: typed canonical %s %v", i, c2, err)
		}
		m1, m2 := EventMessageV1(c), EventMessageV2(e.Origin, c)
		if hex.EncodeToString(m1) != e.MessageV1Hex || hex.EncodeToString(m2) != e.MessageV2Hex {
			t.Errorf("event %d: messages differ", i)
		}
		if b64.EncodeToString(ci.SignRaw(m1)) != e.SignatureV1 || b64.EncodeToString(ci.SignRaw(m2)) != e.SignatureV2 {
			t.Errorf("event %d: signatures differ", i)
		}
		sub, err := Sign(&ev, e.Submitter, ci, e.Origin)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := CanonicalizeValue(sub)
		want, _ := Canonicalize(e.SubmissionV2)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d: submission_v2\n got %s\nwant %s", i, got, want)
		}
		var vs Submission
		if err := json.Unmarshal(e.SubmissionV2, &vs); err != nil || vs.Verify(ci.Public(), e.Origin) != nil {
			t.Errorf("event %d: submission_v2 does not verify", i)
		}
		if vs.Verify(ci.Public(), "other.example/log") == nil {
			t.Errorf("event %d: v2 verifies for another origin", i)
		}
		s1, _ := SignV1(e.Event, e.Submitter, ci)
		if s1.Signature != e.SignatureV1 || s1.Verify(ci.Public(), "") != nil {
			t.Errorf("event %d: v1", i)
		}
	}
}

func TestVectorReceipts(t *testing.T) {
	v, log := loadSDK(t)
	if len(v.Receipts) != 10 {
		t.Fatalf("%d receipts", len(v.Receipts))
	}
	for i, c := range v.Receipts {
		r, err := c.Receipt.Verify(log)
		if (err == nil) != c.Expect.OK {
			t.Errorf("receipt %d (%s): %v", i, c.Why, err)
			continue
		}
		if err == nil && r.Index != *c.Expect.Index {
			t.Errorf("receipt %d: index %d", i, r.Index)
		}
	}
}

func TestVectorCheckpoints(t *testing.T) {
	v, log := loadSDK(t)
	if len(v.Checkpoints) != 5 || len(v.WitnessedReceipts) != 2 {
		t.Fatal("missing cases")
	}
	for i, c := range v.Checkpoints {
		cp, err := VerifyCheckpointWitnessed(c.Note, log, parseVkeys(t, c.Witnesses), c.MinWitnesses)
		if (err == nil) != c.Expect.OK {
			t.Errorf("checkpoint %d (%s): %v", i, c.Why, err)
		}
		if err == nil && c.Expect.Cos != nil && cp.Cosigned != *c.Expect.Cos {
			t.Errorf("checkpoint %d: cosigned %d", i, cp.Cosigned)
		}
	}
	for i, c := range v.WitnessedReceipts {
		r, err := c.Receipt.VerifyWitnessed(log, parseVkeys(t, c.Witnesses), c.MinWitnesses)
		if (err == nil) != c.Expect.OK {
			t.Errorf("witnessed receipt %d: %v", i, err)
		}
		if err == nil && r.Index != *c.Expect.Index {
			t.Errorf("witnessed receipt %d: index %d", i, r.Index)
		}
	}
}

func TestVectorConsistency(t *testing.T) {
	v, log := loadSDK(t)
	if len(v.Consistency) != 5 {
		t.Fatal("missing cases")
	}
	for i, c := range v.Consistency {
		or, _ := base64.StdEncoding.DecodeString(c.OldRoot)
		nr, _ := base64.StdEncoding.DecodeString(c.NewRoot)
		var o, n Hash
		copy(o[:], or)
		copy(n[:], nr)
		proof, err := decodeHashes(c.Proof, "proof")
		if err == nil {
			err = VerifyConsistency(c.OldSize, c.NewSize, o, n, proof)
		}
		if (err == nil) != c.Expect.OK {
			t.Errorf("consistency %d (%s): %v", i, c.Why, err)
		}
	}
	oldCP, err := VerifyCheckpoint(v.CheckpointPair.Old, log)
	if err != nil {
		t.Fatal(err)
	}
	newCP, err := VerifyCheckpoint(v.CheckpointPair.New, log)
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := decodeHashes(v.Consistency[0].Proof, "proof")
	if err := VerifyConsistency(oldCP.Size, newCP.Size, oldCP.Root, newCP.Root, proof); err != nil {
		t.Errorf("checkpoint pair: %v", err)
	}
}

func TestVectorCredentialAnswers(t *testing.T) {
	v, log := loadSDK(t)
	ca := v.CredentialAnswers
	if len(ca.Cases) != 8 {
		t.Fatal("missing cases")
	}
	now := time.UnixMilli(ca.NowMs)
	maxAge := time.Duration(ca.MaxAgeMs) * time.Millisecond
	for i, c := range ca.Cases {
		opt := CredentialOptions{LogKey: log, Now: now, MaxAge: maxAge}
		got, err := c.Answer.Verify(c.Fingerprint, opt)
		if (err == nil) != c.Expect.OK {
			t.Errorf("answer %d (%s): %v", i, c.Why, err)
			continue
		}
		if err != nil {
			continue
		}
		if got.State != c.Expect.State {
			t.Errorf("answer %d: state %s, want %s", i, got.State, c.Expect.State)
		}
		opt.Now = now.Add(maxAge + time.Minute)
		if _, err := c.Answer.Verify(c.Fingerprint, opt); err == nil {
			t.Errorf("answer %d: not stale a minute past max age", i)
		}
		opt.Now = now.Add(-time.Minute)
		if _, err := c.Answer.Verify(c.Fingerprint, opt); err == nil {
			t.Errorf("answer %d: accepted a minute ahead of the clock", i)
		}
		// Historical: at the commitment's own index, no freshness asked.
		at := got.CommitmentIndex
		opt = CredentialOptions{LogKey: log, Now: now.Add(24 * time.Hour), AsOfEntry: &at}
		if _, err := c.Answer.Verify(c.Fingerprint, opt); err != nil {
			t.Errorf("answer %d: as of %d: %v", i, at, err)
		}
		before := at - 1
		opt.AsOfEntry = &before
		if _, err := c.Answer.Verify(c.Fingerprint, opt); err == nil {
			t.Errorf("answer %d: a commitment after the entry asked about", i)
		}
	}
}

func TestVectorRefusals(t *testing.T) {
	v, log := loadSDK(t)
	if len(v.Refusals) != 3 {
		t.Fatal("missing cases")
	}
	for i, c := range v.Refusals {
		r, err := c.Refusal.Verify(log)
		if err == nil {
			err = c.Refusal.Covers(c.Submission)
		}
		if (err == nil) != c.Expect.OK {
			t.Errorf("refusal %d (%s): %v", i, c.Why, err)
		}
		if err == nil && r.Code != c.Expect.Code {
			t.Errorf("refusal %d: code %s", i, r.Code)
		}
		if c.Error != nil {
			if c.Error.Code != c.Expect.Code || c.Error.Refusal == nil {
				t.Errorf("refusal %d: error body %+v", i, c.Error)
			} else if _, err := c.Error.Refusal.Verify(log); err != nil {
				t.Errorf("refusal %d: error body's refusal: %v", i, err)
			}
		}
	}
}

func TestVectorChain(t *testing.T) {
	v, log := loadSDK(t)
	var seqKey *Verifier
	for _, k := range v.Keys {
		if k.Name == v.Chain.Submitter {
			seqKey, _ = ParseVerifier(k.Vkey)
		}
	}
	head, err := decodeHash(v.Chain.RegisteredHead, "head")
	if err != nil || len(v.Chain.Entries) != 2 {
		t.Fatal("bad chain vectors")
	}
	st := NewChainState(v.Chain.Submitter, 0, head)
	for i, e := range v.Chain.Entries {
		var ev Event
		if err := json.Unmarshal(e.Submission.Event, &ev); err != nil {
			t.Fatal(err)
		}
		seq, prev := st.Next()
		if ev.Seq != seq || ev.Prev != prev || e.Seq != seq {
			t.Errorf("chain %d: seq %d prev %s, want %d %s", i, ev.Seq, ev.Prev, seq, prev)
		}
		if err := e.Submission.Verify(seqKey, v.Origin); err != nil {
			t.Errorf("chain %d: %v", i, err)
		}
		r, err := e.Receipt.Verify(log)
		if err != nil {
			t.Fatalf("chain %d: %v", i, err)
		}
		if err := st.Advance(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVectorTiles(t *testing.T) {
	v, log := loadSDK(t)
	cp, err := VerifyCheckpoint(v.Tiles.Checkpoint, log)
	if err != nil || cp.Size != v.Tiles.Size {
		t.Fatalf("%v", err)
	}
	bundle, _ := base64.StdEncoding.DecodeString(v.Tiles.Bundle0)
	tile, _ := base64.StdEncoding.DecodeString(v.Tiles.Tile0)
	entries, err := DecodeBundle(bundle, int(cp.Size))
	if err != nil {
		t.Fatal(err)
	}
	var leaves []Hash
	var flat []byte
	for _, e := range entries {
		h := LeafHash(e)
		leaves = append(leaves, h)
		flat = append(flat, h[:]...)
	}
	if !bytes.Equal(flat, tile) {
		t.Error("the level-0 tile is not the bundle's leaf hashes")
	}
	if MerkleRoot(leaves) != cp.Root {
		t.Error("the bundle does not make the checkpoint's root")
	}
	if _, err := DecodeBundle(bundle[:len(bundle)-1], int(cp.Size)); err == nil {
		t.Error("a truncated bundle decoded")
	}
}

func TestEventSignatureV2Vectors(t *testing.T) {
	var v struct {
		SeedHex      string          `json:"seed_hex"`
		PublicKeyHex string          `json:"public_key_hex"`
		Submitter    string          `json:"submitter"`
		Event        json.RawMessage `json:"event"`
		EventJCS     string          `json:"event_jcs"`
		MessageV1Hex string          `json:"message_v1_hex"`
		SignatureV1  string          `json:"signature_v1"`
		Cases        []struct {
			Origin       string `json:"origin"`
			MessageV2Hex string `json:"message_v2_hex"`
			SignatureV2  string `json:"signature_v2"`
		} `json:"cases"`
	}
	loadJSON(t, filepath.Join(vectorsDir, "event_signature_v2.json"), &v)
	seed, _ := hex.DecodeString(v.SeedHex)
	k, err := NewSigner(v.Submitter, AlgEd25519, seed)
	if err != nil || hex.EncodeToString(k.PublicKey()) != v.PublicKeyHex {
		t.Fatal("key")
	}
	c, err := CanonicalEvent(v.Event)
	if err != nil || string(c) != v.EventJCS {
		t.Fatalf("jcs %s", c)
	}
	if hex.EncodeToString(EventMessageV1(c)) != v.MessageV1Hex || b64.EncodeToString(k.SignRaw(EventMessageV1(c))) != v.SignatureV1 {
		t.Error("v1")
	}
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, cs := range v.Cases {
		s, _ := Sign(v.Event, v.Submitter, k, cs.Origin)
		if hex.EncodeToString(EventMessageV2(cs.Origin, c)) != cs.MessageV2Hex || s.Signature != cs.SignatureV2 {
			t.Errorf("v2 for %s", cs.Origin)
		}
	}
}

func TestApprovalVectors(t *testing.T) {
	var v struct {
		SeedHex     string          `json:"seed_hex"`
		Approval    json.RawMessage `json:"approval"`
		ApprovalJCS string          `json:"approval_jcs"`
		DigestHex   string          `json:"digest_hex"`
		Cases       []struct {
			Origin     string `json:"origin"`
			MessageHex string `json:"message_hex"`
			Signature  string `json:"signature"`
		} `json:"cases"`
		SignedJCS string `json:"signed_jcs"`
	}
	loadJSON(t, filepath.Join(vectorsDir, "approval_v1.json"), &v)
	seed, _ := hex.DecodeString(v.SeedHex)
	k, _ := NewSigner("alice", AlgEd25519, seed)
	var typed Approval
	if err := json.Unmarshal(v.Approval, &typed); err != nil {
		t.Fatal(err)
	}
	for _, a := range []interface{}{v.Approval, &typed} {
		c, err := CanonicalEvent(a)
		if err != nil || string(c) != v.ApprovalJCS {
			t.Fatalf("approval jcs %s", c)
		}
		for i, cs := range v.Cases {
			if hex.EncodeToString(ApprovalMessage(cs.Origin, c)) != cs.MessageHex {
				t.Errorf("message for %s", cs.Origin)
			}
			sa, _ := SignApproval(a, k, cs.Origin)
			if sa.Signature != cs.Signature || sa.Verify(k.Public(), cs.Origin) != nil {
				t.Errorf("signature for %s", cs.Origin)
			}
			if sa.Verify(k.Public(), v.Cases[1-i].Origin) == nil {
				t.Errorf("an approval for %s verifies for another log", cs.Origin)
			}
			if i == 0 {
				got, _ := CanonicalizeValue(sa)
				if string(got) != v.SignedJCS {
					t.Errorf("signed approval %s", got)
				}
			}
		}
	}
}

func TestCyberphoneJCS(t *testing.T) {
	files, _ := filepath.Glob("testdata/jcs/input/*.json")
	if len(files) != 6 {
		t.Fatalf("%d input files", len(files))
	}
	for _, f := range files {
		in, _ := os.ReadFile(f)
		want, err := os.ReadFile(filepath.Join("testdata/jcs/output", filepath.Base(f)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonicalize(in)
		if err != nil || !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
			t.Errorf("%s: got %s (%v)\nwant %s", f, got, err, want)
		}
	}
}

func TestES6Numbers(t *testing.T) {
	b, err := os.ReadFile("testdata/jcs/es6numbers.txt")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ",", 2)
		bits, err := strconv.ParseUint(parts[0], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := FormatNumber(math.Float64frombits(bits))
		if parts[1] == "null" {
			if err == nil {
				t.Errorf("%s: formatted %s", parts[0], got)
			}
		} else if err != nil || got != parts[1] {
			t.Errorf("%s: got %s (%v), want %s", parts[0], got, err, parts[1])
		}
		n++
	}
	if n < 20 {
		t.Fatal("too few number vectors")
	}
}

func TestJCSRejects(t *testing.T) {
	for _, in := range []string{`{"a":1,"a":2}`, `[1] 2`, `{"a":1e400}`, "\"\xff\"", `{`, `[1,]`} {
		if got, err := Canonicalize([]byte(in)); err == nil {
			t.Errorf("%q canonicalized to %s", in, got)
		}
	}
}
