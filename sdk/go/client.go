package provlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Error is an error answer of the log ({"error":{"code","message"}}), or
// a transport failure after the retries (Status 0).
type Error struct {
	// Status is the HTTP status (0: no answer).
	Status int `json:"-"`
	// Code is the stable error code, e.g. "event_id_conflict".
	Code string `json:"code"`
	// Message is the human-readable message.
	Message string `json:"message"`
	// Refusal is the log's signed refusal, for refusals of authority.
	Refusal *SignedRefusal `json:"refusal,omitempty"`
	// Expected is a chain refusal's next {seq, prev}.
	Expected json.RawMessage `json:"expected,omitempty"`
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration `json:"-"`
	// Err is the underlying transport error (Status 0).
	Err error `json:"-"`
}

// Error renders the status, code and message.
func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("provlog: %v", e.Err)
	}
	return fmt.Sprintf("provlog: %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap returns the transport error.
func (e *Error) Unwrap() error { return e.Err }

// Client talks to a provlog server. Its zero value is not usable: make
// one with [NewClient]. Methods are safe for concurrent use.
type Client struct {
	// BaseURL is the server's URL, e.g. http://127.0.0.1:8080.
	BaseURL string
	// HTTP is the HTTP client (default: one with a 30 s timeout).
	HTTP *http.Client
	// MaxRetries is how many times an idempotent request is retried after
	// a connection error or a 503 (default 4).
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries (defaults 100 ms and 5 s); a Retry-After header wins, capped
	// at MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// NewClient returns a client for the server at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{
		BaseURL:    strings.TrimRight(baseURL, "/"),
		HTTP:       &http.Client{Timeout: 30 * time.Second},
		MaxRetries: 4,
		MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 5 * time.Second,
		UserAgent:  "provlog-go-sdk/1",
	}
}

func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	min, max := c.MinBackoff, c.MaxBackoff
	if min <= 0 {
		min = 100 * time.Millisecond
	}
	if max < min {
		max = min
	}
	if retryAfter > 0 {
		if retryAfter > max {
			return max
		}
		return retryAfter
	}
	d := min << uint(attempt)
	if d > max || d <= 0 {
		d = max
	}
	// Full jitter over the upper half.
	return d/2 + time.Duration(rand.Int63n(int64(d/2)+1))
}

// do sends a request, retrying (every request the SDK sends is
// idempotent: a resubmitted event is a retry) on connection errors and
// 503, and returns the status and body of the final answer. Non-2xx
// answers become *Error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (int, []byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	var last *Error
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
		if err != nil {
			return 0, nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if c.UserAgent != "" {
			req.Header.Set("User-Agent", c.UserAgent)
		}
		resp, err := hc.Do(req)
		var retryAfter time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return 0, nil, &Error{Err: ctx.Err()}
			}
			last = &Error{Err: err}
		} else {
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			resp.Body.Close()
			if rerr != nil {
				last = &Error{Err: rerr}
			} else if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return resp.StatusCode, b, nil
			} else {
				e := &Error{Status: resp.StatusCode}
				var env struct {
					Error *Error `json:"error"`
				}
				if json.Unmarshal(b, &env) == nil && env.Error != nil {
					e = env.Error
					e.Status = resp.StatusCode
				} else {
					e.Code = http.StatusText(resp.StatusCode)
					e.Message = strings.TrimSpace(string(b))
				}
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
					e.RetryAfter = time.Duration(s) * time.Second
					retryAfter = e.RetryAfter
				}
				if resp.StatusCode != http.StatusServiceUnavailable {
					return resp.StatusCode, b, e
				}
				last = e
			}
		}
		if attempt >= c.MaxRetries {
			return last.Status, nil, last
		}
		t := time.NewTimer(c.backoff(attempt, retryAfter))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, &Error{Err: ctx.Err()}
		case <-t.C:
		}
	}
}

func (c *Client) getJSON(ctx context.Context, path string, v interface{}) error {
	_, b, err := c.do(ctx, http.MethodGet, path, nil, "application/json")
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Submit sends one submission (POST /v1/entries) and returns its receipt
// (not verified: call [Receipt.Verify]). created is true for 201, false
// for 200 (a retry of an entry already logged). A refusal is an *Error.
func (c *Client) Submit(ctx context.Context, s *Submission) (r *Receipt, created bool, err error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, false, err
	}
	st, b, err := c.do(ctx, http.MethodPost, "/v1/entries", body, "application/json")
	if err != nil {
		return nil, false, err
	}
	r = new(Receipt)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, false, fmt.Errorf("provlog: receipt: %w", err)
	}
	return r, st == http.StatusCreated, nil
}

// BatchResult is one item of a batch answer.
type BatchResult struct {
	// Status is 201, 200 or the item's error status.
	Status int `json:"status"`
	// Receipt is the item's receipt (201 and 200).
	Receipt *Receipt `json:"receipt,omitempty"`
	// Error is the item's error (other statuses).
	Error *Error `json:"error,omitempty"`
}

// SubmitBatch sends 1 to 1,000 submissions at once (POST
// /v1/entries/batch); results are in request order, each item's error
// with its Status set.
func (c *Client) SubmitBatch(ctx context.Context, subs []*Submission) ([]BatchResult, error) {
	body, err := json.Marshal(struct {
		Submissions []*Submission `json:"submissions"`
	}{subs})
	if err != nil {
		return nil, err
	}
	_, b, err := c.do(ctx, http.MethodPost, "/v1/entries/batch", body, "application/json")
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("provlog: batch answer: %w", err)
	}
	if len(out.Results) != len(subs) {
		return nil, fmt.Errorf("provlog: %d results for %d submissions", len(out.Results), len(subs))
	}
	for i := range out.Results {
		if e := out.Results[i].Error; e != nil {
			e.Status = out.Results[i].Status
		}
	}
	return out.Results, nil
}

// LogInfo is part of GET /v1/log.
type LogInfo struct {
	// Origin is the log's checkpoint origin (what version 2 signatures bind).
	Origin string `json:"origin"`
	// Vkey is the log's key. Pin it out of band: do not trust it from here.
	Vkey string `json:"vkey"`
	// TreeSize is the current tree size.
	TreeSize uint64 `json:"tree_size"`
	// Checkpoint is the latest checkpoint note.
	Checkpoint string `json:"checkpoint"`
}

// Log returns GET /v1/log.
func (c *Client) Log(ctx context.Context) (*LogInfo, error) {
	var l LogInfo
	return &l, c.getJSON(ctx, "/v1/log", &l)
}

// Checkpoint fetches GET /checkpoint and verifies it with the log key.
func (c *Client) Checkpoint(ctx context.Context, logKey *Verifier) (*Checkpoint, error) {
	_, b, err := c.do(ctx, http.MethodGet, "/checkpoint", nil, "")
	if err != nil {
		return nil, err
	}
	return VerifyCheckpoint(string(b), logKey)
}

// ConsistencyProof fetches GET /v1/proofs/consistency?from=M&to=N.
func (c *Client) ConsistencyProof(ctx context.Context, from, to uint64) ([]Hash, error) {
	var p struct {
		From  uint64   `json:"from"`
		To    uint64   `json:"to"`
		Proof []string `json:"proof"`
	}
	if err := c.getJSON(ctx, fmt.Sprintf("/v1/proofs/consistency?from=%d&to=%d", from, to), &p); err != nil {
		return nil, err
	}
	if p.From != from || p.To != to {
		return nil, fmt.Errorf("provlog: asked a proof from %d to %d, got %d to %d", from, to, p.From, p.To)
	}
	return decodeHashes(p.Proof, "consistency proof hash")
}

// Credential fetches GET /v1/credentials/<fingerprint> and verifies the
// answer (see [CredentialAnswer.Verify]); with opt.AsOfEntry it asks
// ?at=<index>.
func (c *Client) Credential(ctx context.Context, fingerprint string, opt CredentialOptions) (*VerifiedCredential, *CredentialAnswer, error) {
	path := "/v1/credentials/" + url.PathEscape(fingerprint)
	if opt.AsOfEntry != nil {
		path += "?at=" + strconv.FormatUint(*opt.AsOfEntry, 10)
	}
	var a CredentialAnswer
	if err := c.getJSON(ctx, path, &a); err != nil {
		return nil, nil, err
	}
	v, err := a.Verify(fingerprint, opt)
	if err != nil {
		return nil, &a, err
	}
	return v, &a, nil
}

// EntryJSON is an entry as GET /v1/entries/<i> and search answer it.
type EntryJSON struct {
	// Index is the entry's index.
	Index uint64 `json:"index"`
	// LeafHash is base64 of its leaf hash.
	LeafHash string `json:"leaf_hash"`
	// Entry is base64 of the entry bytes.
	Entry string `json:"entry"`
	// Decoded is the leaf JSON.
	Decoded json.RawMessage `json:"decoded"`
}

// SearchQuery filters GET /v1/events (empty fields are left out).
type SearchQuery struct {
	// Target matches target.id.
	Target string
	// Actor matches actor.id.
	Actor string
	// Credential matches credential.fingerprint and previous_fingerprint.
	Credential string
	// Action matches action.
	Action string
	// Limit is the page size (1–1,000; 0: the server's default).
	Limit int
}

// Search returns every entry matching q after index after (nil: from the
// start), following next_after across pages. Each entry's leaf hash is
// checked against its bytes; for proofs of inclusion read them through
// [Client.Entries] or ask for a receipt.
func (c *Client) Search(ctx context.Context, q SearchQuery, after *uint64) ([]EntryJSON, error) {
	var all []EntryJSON
	for {
		v := url.Values{}
		for k, s := range map[string]string{"target": q.Target, "actor": q.Actor, "credential": q.Credential, "action": q.Action} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		if after != nil {
			v.Set("after", strconv.FormatUint(*after, 10))
		}
		var page struct {
			Entries   []EntryJSON `json:"entries"`
			NextAfter *uint64     `json:"next_after"`
		}
		if err := c.getJSON(ctx, "/v1/events?"+v.Encode(), &page); err != nil {
			return nil, err
		}
		for _, e := range page.Entries {
			b, err := b64.DecodeString(e.Entry)
			lh, herr := decodeHash(e.LeafHash, "leaf_hash")
			if err != nil || herr != nil || LeafHash(b) != lh {
				return nil, fmt.Errorf("provlog: search entry %d: leaf_hash is not the entry's", e.Index)
			}
			if after != nil && e.Index <= *after {
				return nil, fmt.Errorf("provlog: search entry %d is not after %d", e.Index, *after)
			}
			all = append(all, e)
		}
		if page.NextAfter == nil {
			return all, nil
		}
		if after != nil && *page.NextAfter <= *after {
			return nil, errors.New("provlog: search next_after does not advance")
		}
		n := *page.NextAfter
		after = &n
	}
}

// ChainHead fetches GET /v1/chains/<submitter> and returns the chain's
// committed seq and head (the registration's leaf hash while seq is 0),
// to start a [ChainState]. The answer's checkpoint is verified with the
// log key, and the record's map proof under its commitment.
func (c *Client) ChainHead(ctx context.Context, submitter string, logKey *Verifier) (*ChainState, error) {
	var a struct {
		Record *struct {
			Seq  uint64 `json:"seq"`
			Head string `json:"head"`
		} `json:"record"`
		MapProof   string     `json:"map_proof"`
		Commitment Commitment `json:"commitment"`
		Checkpoint string     `json:"checkpoint"`
	}
	var raw map[string]json.RawMessage
	path := "/v1/chains/" + url.PathEscape(submitter)
	if err := c.getJSON(ctx, path, &raw); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, err
	}
	if a.Record == nil {
		return nil, fmt.Errorf("provlog: %s has no chain", submitter)
	}
	head, err := decodeHash(a.Record.Head, "chain head")
	if err != nil {
		return nil, err
	}
	if err := verifyChainRecord(submitter, raw["record"], a.MapProof, a.Commitment, a.Checkpoint, logKey); err != nil {
		return nil, err
	}
	return NewChainState(submitter, a.Record.Seq, head), nil
}

func verifyChainRecord(submitter string, record json.RawMessage, mapProof string, c Commitment, note string, logKey *Verifier) error {
	cp, err := VerifyCheckpoint(note, logKey)
	if err != nil {
		return fmt.Errorf("provlog: chain answer: %w", err)
	}
	entry, err := b64.DecodeString(c.Entry)
	if err != nil {
		return errors.New("provlog: chain answer: commitment entry is not base64")
	}
	proof, err := decodeHashes(c.Proof, "commitment proof hash")
	if err != nil {
		return err
	}
	if err := VerifyInclusion(c.Index, cp.Size, LeafHash(entry), proof, cp.Root); err != nil {
		return fmt.Errorf("provlog: chain answer: commitment: %w", err)
	}
	var st struct {
		Kind    string `json:"kind"`
		MapRoot string `json:"map_root"`
	}
	if err := json.Unmarshal(entry, &st); err != nil || st.Kind != "state" {
		return errors.New("provlog: chain answer: the commitment is not a state leaf")
	}
	root, err := decodeHash(st.MapRoot, "map_root")
	if err != nil {
		return err
	}
	rc, err := Canonicalize(record)
	if err != nil {
		return err
	}
	value := Hash(sha256Sum(append([]byte("provlog/chain-record/v1\n"), rc...)))
	key := Hash(sha256Sum([]byte("provlog/chain-key/v1\n" + submitter)))
	mp, err := b64.DecodeString(mapProof)
	if err != nil || !VerifyMapProof(root, key, &value, mp) {
		return errors.New("provlog: chain answer: the map proof does not verify")
	}
	return nil
}
