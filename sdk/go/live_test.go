package provlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var liveSeq int64

func fp(n int64) string { return fmt.Sprintf("sha256:%064x", n) }

func testEvent(target string, n int64) *Event {
	return &Event{
		EventID:    fmt.Sprintf("go-%d-%d", time.Now().UnixNano(), n),
		OccurredAt: "2026-12-04T10:00:00Z",
		Action:     "issue",
		Actor:      Actor{ID: "wf/go-sdk", Type: "workflow"},
		Target:     Target{ID: target, Type: "service_account", System: "gcp"},
		Decision:   Decision{Result: "allow"},
		Outcome:    "success",
		Credential: &Credential{Fingerprint: fp(time.Now().UnixNano() + n), NotAfter: "2099-01-01T00:00:00Z"},
		Details:    map[string]interface{}{"note": "caf\u00e9 \U0001F600", "n": n},
	}
}

func live(t *testing.T) (*TestServer, *Client, string, context.Context) {
	s := sharedServer(t)
	c := NewClient(s.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	info, err := c.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Vkey != s.LogKey().String() || info.Origin != s.LogKey().Name() {
		t.Fatalf("log %s %s", info.Origin, info.Vkey)
	}
	return s, c, info.Origin, ctx
}

func TestLiveSubmitRetryConflictRefusal(t *testing.T) {
	s, c, origin, ctx := live(t)
	key := s.Submitters["go"]
	ev := testEvent("svc-live", atomic.AddInt64(&liveSeq, 1))
	sub, err := Sign(ev, "go", key, origin)
	if err != nil {
		t.Fatal(err)
	}
	r, created, err := c.Submit(ctx, sub)
	if err != nil || !created {
		t.Fatalf("submit: %v created=%v", err, created)
	}
	v, err := r.Verify(s.LogKey())
	if err != nil {
		t.Fatal(err)
	}
	if v.Leaf.Kind != "event" || v.Leaf.V != 2 || v.Leaf.Submitter != "go" {
		t.Errorf("leaf %+v", v.Leaf)
	}
	if err := sub.Verify(key.Public(), origin); err != nil {
		t.Error(err)
	}
	// Retry: 200, same index.
	r2, created, err := c.Submit(ctx, sub)
	if err != nil || created || r2.Index != r.Index {
		t.Fatalf("retry: %v created=%v index %d/%d", err, created, r2.Index, r.Index)
	}
	if _, err := r2.Verify(s.LogKey()); err != nil {
		t.Error(err)
	}
	// Conflict: same event_id, another event.
	ev2 := *ev
	ev2.Outcome = "failure"
	sub2, _ := Sign(&ev2, "go", key, origin)
	_, _, err = c.Submit(ctx, sub2)
	var e *Error
	if !errors.As(err, &e) || e.Status != 409 || e.Code != "event_id_conflict" {
		t.Fatalf("conflict: %v", err)
	}
	// A signed refusal: out of the submitter's targets.
	ev3 := testEvent("prod-db", atomic.AddInt64(&liveSeq, 1))
	sub3, _ := Sign(ev3, "go", key, origin)
	_, _, err = c.Submit(ctx, sub3)
	if !errors.As(err, &e) || e.Status != 403 || e.Code != "out_of_scope" || e.Refusal == nil {
		t.Fatalf("refusal: %v", err)
	}
	rf, err := e.Refusal.Verify(s.LogKey())
	if err != nil || rf.Code != "out_of_scope" || rf.EventID != ev3.EventID {
		t.Fatalf("refusal: %v %+v", err, rf)
	}
	if err := e.Refusal.Covers(sub3); err != nil {
		t.Error(err)
	}
	if err := e.Refusal.Covers(sub); err == nil {
		t.Error("the refusal covers another submission")
	}
	// A bad signature (signed for another log): 401.
	sub4, _ := Sign(testEvent("svc-live", atomic.AddInt64(&liveSeq, 1)), "go", key, "other.example/log")
	if _, _, err = c.Submit(ctx, sub4); !errors.As(err, &e) || e.Status != 401 || e.Code != "bad_signature" {
		t.Fatalf("bad signature: %v", err)
	}
}

func TestLiveBatchSearchCredentialTamper(t *testing.T) {
	s, c, origin, ctx := live(t)
	key := s.Submitters["go"]
	target := fmt.Sprintf("svc-batch-%d", time.Now().UnixNano())
	var subs []*Submission
	for i := 0; i < 3; i++ {
		sub, _ := Sign(testEvent(target, atomic.AddInt64(&liveSeq, 1)), "go", key, origin)
		subs = append(subs, sub)
	}
	bad, _ := Sign(testEvent("prod-x", atomic.AddInt64(&liveSeq, 1)), "go", key, origin)
	res, err := c.SubmitBatch(ctx, append(subs, subs[0], bad))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if res[i].Status != 201 || res[i].Receipt == nil {
			t.Fatalf("item %d: %+v", i, res[i])
		}
		if _, err := res[i].Receipt.Verify(s.LogKey()); err != nil {
			t.Fatal(err)
		}
	}
	if res[3].Status != 200 && res[3].Status != 201 || res[3].Receipt.Index != res[0].Receipt.Index {
		t.Errorf("in-batch retry: %+v", res[3])
	}
	if res[4].Status != 403 || res[4].Error == nil || res[4].Error.Code != "out_of_scope" || res[4].Error.Refusal == nil {
		t.Fatalf("refused item: %+v", res[4])
	}
	if err := res[4].Error.Refusal.Covers(bad); err != nil {
		t.Error(err)
	}

	// Search, one entry per page, following next_after.
	found, err := c.Search(ctx, SearchQuery{Target: target, Limit: 1}, nil)
	if err != nil || len(found) != 3 {
		t.Fatalf("search: %d %v", len(found), err)
	}
	for i, e := range found {
		if e.Index != res[i].Receipt.Index {
			t.Errorf("search %d: index %d", i, e.Index)
		}
	}

	// The credential of the first event, verified; and through a proxy
	// that tampers with the answer, refused.
	var ev Event
	mustUnmarshal(t, subs[0].Event, &ev)
	f := ev.Credential.Fingerprint
	opt := CredentialOptions{LogKey: s.LogKey(), MaxAge: 10 * time.Minute}
	deadline := time.Now().Add(20 * time.Second)
	var vc *VerifiedCredential
	for {
		vc, _, err = c.Credential(ctx, f, opt)
		if err == nil && vc.State == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("credential: %v %+v", err, vc)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if vc.Record == nil || vc.Record.LastIndex != res[0].Receipt.Index {
		t.Errorf("record %+v", vc.Record)
	}
	unknown, _, err := c.Credential(ctx, fp(0), opt)
	if err != nil || unknown.State != "unknown" {
		t.Errorf("unknown: %v %+v", err, unknown)
	}
	for name, tamper := range map[string]func([]byte) []byte{
		"active to revoked": func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"active"`), []byte(`"revoked"`)) },
		"a map proof byte": func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"map_proof":"`)) + len(`"map_proof":"`) + 10
			out := append([]byte(nil), b...)
			if out[i] == 'A' {
				out[i] = 'B'
			} else {
				out[i] = 'A'
			}
			return out
		},
	} {
		p := tamperingProxy(t, s.URL, tamper)
		_, _, err := NewClient(p.URL).Credential(ctx, f, opt)
		if err == nil {
			t.Errorf("a tampered answer (%s) verified", name)
		}
	}
	// The untampered proxy passes (the proxy itself is not what fails).
	p := tamperingProxy(t, s.URL, func(b []byte) []byte { return b })
	if _, _, err := NewClient(p.URL).Credential(ctx, f, opt); err != nil {
		t.Errorf("through the honest proxy: %v", err)
	}
	// Stale by the caller's clock.
	opt.Now = time.Now().Add(time.Hour)
	if _, _, err := c.Credential(ctx, f, opt); err == nil {
		t.Error("an answer an hour old verified")
	}
}

func mustUnmarshal(t *testing.T, b []byte, v interface{}) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func tamperingProxy(t *testing.T, target string, f func([]byte) []byte) *httptest.Server {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body.Close()
		b = f(b)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Del("Content-Length")
		return nil
	}
	p := httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

func TestLiveChain(t *testing.T) {
	s, c, origin, ctx := live(t)
	key := s.Submitters["goseq"]
	st, err := c.ChainHead(ctx, "goseq", s.LogKey())
	if err != nil {
		t.Fatal(err)
	}
	if seq, _ := st.Head(); seq != 0 {
		t.Fatalf("a fresh chain at seq %d", seq)
	}
	for i := 1; i <= 3; i++ {
		ev := testEvent(fmt.Sprintf("svc-seq-%d", i), atomic.AddInt64(&liveSeq, 1))
		st.Apply(ev)
		if ev.Seq != uint64(i) {
			t.Fatalf("seq %d", ev.Seq)
		}
		sub, _ := Sign(ev, "goseq", key, origin)
		r, _, err := c.Submit(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		v, err := r.Verify(s.LogKey())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Advance(v); err != nil {
			t.Fatal(err)
		}
		if _, head := st.Head(); head != v.LeafHash {
			t.Fatal("head")
		}
	}
	// A fork (prev not the head) is refused with the expected position,
	// and Resync recovers.
	ev := testEvent("svc-seq-x", atomic.AddInt64(&liveSeq, 1))
	st.Apply(ev)
	good := ev.Prev
	ev.Prev = EmptyRoot.String()
	sub, _ := Sign(ev, "goseq", key, origin)
	_, _, err = c.Submit(ctx, sub)
	var e *Error
	if !errors.As(err, &e) || e.Status != 409 || !strings.HasPrefix(e.Code, "chain_") {
		t.Fatalf("fork: %v", err)
	}
	if !st.Resync(err) {
		t.Fatal("no expected position")
	}
	if seq, prev := st.Next(); seq != ev.Seq || prev != good {
		t.Fatalf("resync: %d %s", seq, prev)
	}
	// A receipt of another submitter does not advance the chain.
	other, _ := Sign(testEvent("svc-other", atomic.AddInt64(&liveSeq, 1)), "go", s.Submitters["go"], origin)
	r, _, err := c.Submit(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := r.Verify(s.LogKey())
	if st.Advance(v) == nil {
		t.Error("advanced by another submitter's entry")
	}
}

func TestLiveTilesAndCheckpointStore(t *testing.T) {
	s, c, origin, ctx := live(t)
	store := &CheckpointStore{Path: filepath.Join(t.TempDir(), "checkpoint"), LogKey: s.LogKey()}
	first, err := store.Refresh(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	// Grow the log past a full bundle so that level-1 tiles are used.
	var subs []*Submission
	for i := 0; i < 300; i++ {
		sub, _ := Sign(testEvent("svc-tiles", atomic.AddInt64(&liveSeq, 1)), "dev", s.Submitters["dev"], origin)
		subs = append(subs, sub)
	}
	if _, err := c.SubmitBatch(ctx, subs); err != nil {
		t.Fatal(err)
	}
	var cp *Checkpoint
	for deadline := time.Now().Add(20 * time.Second); ; {
		cp, err = store.Refresh(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size >= first.Size+300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("size %d", cp.Size)
		}
		time.Sleep(100 * time.Millisecond)
	}
	last, err := store.Last()
	if err != nil || last.Size != cp.Size {
		t.Fatalf("stored %v %v", last, err)
	}
	// A rollback and a fork (a checkpoint the log key signed with another
	// root) are refused.
	if _, err := store.Update(ctx, c, first.Note); !errors.Is(err, ErrFork) {
		t.Errorf("rollback: %v", err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, LeafHash([]byte("fork")))
	sig, _ := SignNoteText(text, s.LogSigner, 0)
	if _, err := store.Update(ctx, c, text+"\n"+sig.Line()); !errors.Is(err, ErrFork) {
		t.Errorf("fork: %v", err)
	}
	bigger := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size+1, LeafHash([]byte("fork")))
	sig, _ = SignNoteText(bigger, s.LogSigner, 0)
	if _, err := store.Update(ctx, c, bigger+"\n"+sig.Line()); err == nil {
		t.Error("a checkpoint beyond the log accepted")
	}
	if now, _ := store.Last(); now.Size != cp.Size || now.Root != cp.Root {
		t.Error("a refused checkpoint replaced the stored one")
	}

	// Every entry through the tiles, checked against the root.
	it := c.Entries(ctx, cp, 0)
	n := uint64(0)
	for it.Next() {
		e := it.Entry()
		if e.Index != n {
			t.Fatalf("entry %d at %d", e.Index, n)
		}
		if _, err := e.Leaf(); err != nil {
			t.Fatalf("entry %d: %v", n, err)
		}
		n++
	}
	if it.Err() != nil || n != cp.Size {
		t.Fatalf("read %d of %d: %v", n, cp.Size, it.Err())
	}
	// From the middle of a bundle.
	it = c.Entries(ctx, cp, cp.Size-5)
	n = 0
	for it.Next() {
		n++
	}
	if it.Err() != nil || n != 5 {
		t.Fatalf("tail: %d %v", n, it.Err())
	}
	// Through a proxy that changes one entry byte, the iterator fails.
	p := tamperingProxy(t, s.URL, func(b []byte) []byte {
		return bytes.Replace(b, []byte("svc-tiles"), []byte("svc-tilez"), 1)
	})
	it = NewClient(p.URL).Entries(ctx, cp, 0)
	for it.Next() {
	}
	if it.Err() == nil {
		t.Error("tampered tiles verified")
	}
}

func TestLiveRetries(t *testing.T) {
	s, c, origin, ctx := live(t)
	u, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(u)
	var hits int32
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/entries" && atomic.AddInt32(&hits, 1) == 1 {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			io.WriteString(w, `{"error":{"code":"overloaded","message":"try later"}}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer p.Close()
	pc := NewClient(p.URL)
	sub, _ := Sign(testEvent("svc-retry", atomic.AddInt64(&liveSeq, 1)), "go", s.Submitters["go"], origin)
	start := time.Now()
	r, created, err := pc.Submit(ctx, sub)
	if err != nil || !created {
		t.Fatalf("%v", err)
	}
	if hits != 2 || time.Since(start) < 900*time.Millisecond {
		t.Errorf("hits %d after %v (Retry-After: 1 not honoured)", hits, time.Since(start))
	}
	if _, err := r.Verify(s.LogKey()); err != nil {
		t.Error(err)
	}
	// Out of retries: the 503 is the error.
	pc.MaxRetries = 0
	atomic.StoreInt32(&hits, 0)
	_, _, err = pc.Submit(ctx, sub)
	var e *Error
	if !errors.As(err, &e) || e.Status != 503 || e.Code != "overloaded" || e.RetryAfter != time.Second {
		t.Errorf("no retries: %v", err)
	}
	// A connection error is retried and then reported with Status 0.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	dc := NewClient(dead.URL)
	dc.MaxRetries, dc.MinBackoff, dc.MaxBackoff = 2, time.Millisecond, 5*time.Millisecond
	if _, _, err := dc.Submit(ctx, sub); !errors.As(err, &e) || e.Status != 0 || e.Err == nil {
		t.Errorf("connection error: %v", err)
	}
	// The context's deadline stops the retries.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	dc.MaxRetries, dc.MinBackoff, dc.MaxBackoff = 100, 20*time.Millisecond, 20*time.Millisecond
	if _, _, err := dc.Submit(short, sub); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	_ = c
}
