package provlog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrFork reports a checkpoint that does not extend the stored one: a
// smaller tree (a rollback), the same size with another root, or a
// consistency proof that fails. Keep both notes: they are evidence.
var ErrFork = errors.New("checkpoint does not extend the last verified one")

// CheckpointStore remembers the last verified checkpoint of one log in a
// file (the note, verbatim) and accepts a new one only if it is signed
// by the log key (and cosigned as required) and extends the stored one.
type CheckpointStore struct {
	// Path is the file (created on the first accepted checkpoint).
	Path string
	// LogKey is the log's key.
	LogKey *Verifier
	// Witnesses are the witness keys whose cosignatures count.
	Witnesses []*Verifier
	// MinWitnesses is how many must have cosigned every checkpoint.
	MinWitnesses int

	mu sync.Mutex
}

// Last returns the stored checkpoint, verified again, or nil if there is
// none yet.
func (s *CheckpointStore) Last() (*Checkpoint, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return VerifyCheckpointWitnessed(string(b), s.LogKey, s.Witnesses, s.MinWitnesses)
}

// Update verifies note and, if it extends the stored checkpoint
// (consistency proof from the client, GET /v1/proofs/consistency), stores
// it, and returns the checkpoint now stored. A smaller tree (rollback),
// another root at the same size, or a failing proof is a wrapped [ErrFork].
func (s *CheckpointStore) Update(ctx context.Context, c *Client, note string) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, err := VerifyCheckpointWitnessed(note, s.LogKey, s.Witnesses, s.MinWitnesses)
	if err != nil {
		return nil, err
	}
	old, err := s.Last()
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: the stored checkpoint: %w", err)
	}
	if old != nil {
		switch {
		case cp.Size < old.Size:
			return nil, fmt.Errorf("%w: size %d is below the stored %d (rollback)", ErrFork, cp.Size, old.Size)
		case cp.Size == old.Size:
			if cp.Root != old.Root {
				return nil, fmt.Errorf("%w: size %d with another root", ErrFork, cp.Size)
			}
			return old, nil
		case old.Size > 0:
			proof, err := c.ConsistencyProof(ctx, old.Size, cp.Size)
			if err != nil {
				return nil, err
			}
			if err := VerifyConsistency(old.Size, cp.Size, old.Root, cp.Root, proof); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrFork, err)
			}
		}
	}
	if err := writeFileAtomic(s.Path, []byte(note)); err != nil {
		return nil, err
	}
	return cp, nil
}

// Refresh fetches the latest checkpoint (GET /checkpoint) and calls
// [CheckpointStore.Update] with it.
func (s *CheckpointStore) Refresh(ctx context.Context, c *Client) (*Checkpoint, error) {
	_, b, err := c.do(ctx, "GET", "/checkpoint", nil, "")
	if err != nil {
		return nil, err
	}
	return s.Update(ctx, c, string(b))
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".checkpoint-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
