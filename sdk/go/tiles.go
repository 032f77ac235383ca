package provlog

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// TileWidth is the C2SP tlog-tiles width: 256 hashes or entries per tile.
const TileWidth = 256

// TilePath is the C2SP tlog-tiles path of tile n at level (level -1: the
// entry bundle), partial width w (0 or 256: full), e.g. "tile/0/x001/234"
// or "tile/entries/000.p/7".
func TilePath(level int, n uint64, w int) string {
	var b strings.Builder
	b.WriteString("tile/")
	if level < 0 {
		b.WriteString("entries")
	} else {
		fmt.Fprintf(&b, "%d", level)
	}
	b.WriteString("/")
	var groups []uint64
	for {
		groups = append(groups, n%1000)
		n /= 1000
		if n == 0 {
			break
		}
	}
	for i := len(groups) - 1; i >= 0; i-- {
		if i > 0 {
			fmt.Fprintf(&b, "x%03d/", groups[i])
		} else {
			fmt.Fprintf(&b, "%03d", groups[i])
		}
	}
	if w > 0 && w < TileWidth {
		fmt.Fprintf(&b, ".p/%d", w)
	}
	return b.String()
}

// DecodeBundle splits an entry bundle (entries each prefixed by a
// big-endian u16 length) into exactly expected entries.
func DecodeBundle(body []byte, expected int) ([][]byte, error) {
	var out [][]byte
	for len(body) > 0 {
		if len(out) == expected {
			return nil, fmt.Errorf("bundle: more than %d entries", expected)
		}
		if len(body) < 2 {
			return nil, errors.New("bundle: truncated")
		}
		n := int(body[0])<<8 | int(body[1])
		if len(body) < 2+n {
			return nil, errors.New("bundle: truncated")
		}
		out = append(out, body[2:2+n])
		body = body[2+n:]
	}
	if len(out) != expected {
		return nil, fmt.Errorf("bundle: %d entries, not %d", len(out), expected)
	}
	return out, nil
}

// TileEntry is an entry read through the tiles, verified against the
// iterator's checkpoint.
type TileEntry struct {
	// Index is the entry's index.
	Index uint64
	// Bytes is the entry (the canonical leaf JSON).
	Bytes []byte
	// LeafHash is its leaf hash.
	LeafHash Hash
}

// Leaf parses the entry.
func (e TileEntry) Leaf() (*Leaf, error) { return ParseLeaf(e.Bytes) }

// EntryIterator reads entries [start, checkpoint size) through the C2SP
// tile API, checking every one against the verified checkpoint's root
// before it is returned: the level-1 tiles (hashes of each full bundle's
// subtree) with the last partial bundle must make the root, and each full
// bundle must hash to its level-1 hash.
//
//	it := client.Entries(ctx, cp, 0)
//	for it.Next() { use(it.Entry()) }
//	if err := it.Err(); err != nil { ... }
type EntryIterator struct {
	ctx     context.Context
	c       *Client
	cp      *Checkpoint
	next    uint64
	ready   bool
	chunks  []Hash // level-8 hashes of the full bundles
	partial [][]byte
	buf     []TileEntry
	cur     TileEntry
	err     error
}

// Entries returns an iterator over the entries from start to the size of
// cp, a checkpoint the caller verified (e.g. by a [CheckpointStore]).
func (c *Client) Entries(ctx context.Context, cp *Checkpoint, start uint64) *EntryIterator {
	return &EntryIterator{ctx: ctx, c: c, cp: cp, next: start}
}

func (it *EntryIterator) fetch(path string) ([]byte, error) {
	_, b, err := it.c.do(it.ctx, http.MethodGet, "/"+path, nil, "")
	return b, err
}

func (it *EntryIterator) prepare() error {
	n := it.cp.Size
	full := n / TileWidth
	for t := uint64(0); t*TileWidth < full; t++ {
		w := full - t*TileWidth
		if w > TileWidth {
			w = TileWidth
		}
		b, err := it.fetch(TilePath(1, t, int(w)))
		if err != nil {
			return err
		}
		if uint64(len(b)) != 32*w {
			return fmt.Errorf("tile 1/%d: %d bytes, not %d", t, len(b), 32*w)
		}
		for i := uint64(0); i < w; i++ {
			var h Hash
			copy(h[:], b[32*i:])
			it.chunks = append(it.chunks, h)
		}
	}
	if r := int(n % TileWidth); r > 0 {
		b, err := it.fetch(TilePath(-1, full, r))
		if err != nil {
			return err
		}
		if it.partial, err = DecodeBundle(b, r); err != nil {
			return err
		}
	}
	var leaves []Hash
	for _, e := range it.partial {
		leaves = append(leaves, LeafHash(e))
	}
	var sub func(lo, hi uint64) Hash
	sub = func(lo, hi uint64) Hash {
		if hi-lo == TileWidth && lo%TileWidth == 0 && lo/TileWidth < full {
			return it.chunks[lo/TileWidth]
		}
		if hi-lo == 1 && lo >= full*TileWidth {
			return leaves[lo-full*TileWidth]
		}
		k := splitPoint(hi - lo)
		return NodeHash(sub(lo, lo+k), sub(lo+k, hi))
	}
	root := EmptyRoot
	if n > 0 {
		root = sub(0, n)
	}
	if root != it.cp.Root {
		return errors.New("tiles: the tiles do not make the checkpoint's root")
	}
	return nil
}

func (it *EntryIterator) load() error {
	n := it.cp.Size
	c := it.next / TileWidth
	var entries [][]byte
	if c < n/TileWidth {
		b, err := it.fetch(TilePath(-1, c, 0))
		if err != nil {
			return err
		}
		if entries, err = DecodeBundle(b, TileWidth); err != nil {
			return err
		}
		leaves := make([]Hash, len(entries))
		for i, e := range entries {
			leaves[i] = LeafHash(e)
		}
		if MerkleRoot(leaves) != it.chunks[c] {
			return fmt.Errorf("tiles: bundle %d does not hash to its level-1 tile hash", c)
		}
	} else {
		entries = it.partial
	}
	for i, e := range entries {
		idx := c*TileWidth + uint64(i)
		if idx >= it.next {
			it.buf = append(it.buf, TileEntry{Index: idx, Bytes: e, LeafHash: LeafHash(e)})
		}
	}
	return nil
}

// Next advances to the next entry; false at the end or on an error.
func (it *EntryIterator) Next() bool {
	if it.err != nil {
		return false
	}
	if !it.ready {
		if it.err = it.prepare(); it.err != nil {
			return false
		}
		it.ready = true
	}
	if len(it.buf) == 0 {
		if it.next >= it.cp.Size {
			return false
		}
		if it.err = it.load(); it.err != nil {
			return false
		}
	}
	it.cur, it.buf = it.buf[0], it.buf[1:]
	it.next = it.cur.Index + 1
	return true
}

// Entry is the current entry.
func (it *EntryIterator) Entry() TileEntry { return it.cur }

// Err is the error that stopped the iteration, if any.
func (it *EntryIterator) Err() error { return it.err }
