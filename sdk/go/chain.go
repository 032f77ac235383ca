package provlog

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// ChainState tracks a sequenced submitter's chain (docs/CHAINS.md): the
// next event's seq and prev. Start it from [Client.ChainHead] (or from a
// saved head), set each event's Seq and Prev from [ChainState.Next], and
// advance it with each verified receipt. It is safe for concurrent use,
// but a chain has one entry in flight at a time.
type ChainState struct {
	mu        sync.Mutex
	submitter string
	seq       uint64
	head      Hash
}

// NewChainState starts a chain state at the entry at position seq (0:
// none yet) whose leaf hash is head (for seq 0: the registration's).
func NewChainState(submitter string, seq uint64, head Hash) *ChainState {
	return &ChainState{submitter: submitter, seq: seq, head: head}
}

// Submitter is the chain's submitter.
func (c *ChainState) Submitter() string { return c.submitter }

// Next returns the next event's seq and prev (base64).
func (c *ChainState) Next() (seq uint64, prev string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq + 1, c.head.String()
}

// Head returns the last position and its leaf hash.
func (c *ChainState) Head() (seq uint64, head Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq, c.head
}

// Apply sets Seq and Prev of ev to the next position.
func (c *ChainState) Apply(ev *Event) {
	ev.Seq, ev.Prev = c.Next()
}

// Advance moves the chain past the entry of a verified receipt, which must
// be the submitter's event (or heartbeat) at the next position with the
// current head as prev.
func (c *ChainState) Advance(r *VerifiedReceipt) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var body json.RawMessage
	switch r.Leaf.Kind {
	case "event":
		body = r.Leaf.Event
	case "heartbeat":
		var h struct {
			Heartbeat json.RawMessage `json:"heartbeat"`
		}
		_ = json.Unmarshal(r.Entry, &h)
		body = h.Heartbeat
	default:
		return errors.New("chain: the receipt is not of an event or heartbeat")
	}
	var pos struct {
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
	}
	if err := json.Unmarshal(body, &pos); err != nil {
		return fmt.Errorf("chain: %w", err)
	}
	if r.Leaf.Submitter != c.submitter || pos.Seq != c.seq+1 || pos.Prev != c.head.String() {
		return fmt.Errorf("chain: the receipt's entry (%s seq %d) is not the next of %s's chain (seq %d)", r.Leaf.Submitter, pos.Seq, c.submitter, c.seq+1)
	}
	c.seq, c.head = pos.Seq, r.LeafHash
	return nil
}

// Resync moves the chain to what a chain refusal (409 chain_gap,
// chain_fork, chain_seq_reused) says is expected next. It reports whether
// the error carried an expected position.
func (c *ChainState) Resync(err error) bool {
	var e *Error
	if !errors.As(err, &e) || len(e.Expected) == 0 {
		return false
	}
	var x struct {
		Seq  uint64 `json:"seq"`
		Prev string `json:"prev"`
	}
	if json.Unmarshal(e.Expected, &x) != nil || x.Seq == 0 {
		return false
	}
	h, herr := decodeHash(x.Prev, "expected prev")
	if herr != nil {
		return false
	}
	c.mu.Lock()
	c.seq, c.head = x.Seq-1, h
	c.mu.Unlock()
	return true
}
