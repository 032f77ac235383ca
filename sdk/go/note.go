package provlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNoteBytes bounds a signed note, as the server does.
const maxNoteBytes = 1 << 20

// NoteSignature is one signature line of a C2SP signed note:
// `— <name> <base64(key ID || payload)>`.
type NoteSignature struct {
	// Name is the key name.
	Name string
	// KeyID is the key ID (the first four decoded bytes).
	KeyID uint32
	// Payload is what follows the key ID: an Ed25519 signature (0x01) or
	// timestamp(8) || signature(64) (cosignature/v1).
	Payload []byte
}

// Line renders the signature line with its final newline.
func (s NoteSignature) Line() string {
	raw := make([]byte, 4, 4+len(s.Payload))
	binary.BigEndian.PutUint32(raw, s.KeyID)
	raw = append(raw, s.Payload...)
	return "\u2014 " + s.Name + " " + b64.EncodeToString(raw) + "\n"
}

// Note is a parsed C2SP signed note; no signature is verified by parsing.
type Note struct {
	// Text is the signed text, ending in a newline.
	Text string
	// Signatures are the signature lines in order.
	Signatures []NoteSignature
}

// ParseNote parses a signed note (C2SP signed-note): a text ending in a
// newline, a blank line, then one or more signature lines.
func ParseNote(note string) (*Note, error) {
	if len(note) > maxNoteBytes {
		return nil, errors.New("note: too large")
	}
	if !utf8.ValidString(note) {
		return nil, errors.New("note: not UTF-8")
	}
	for i := 0; i < len(note); i++ {
		if note[i] < 0x20 && note[i] != '\n' {
			return nil, errors.New("note: a control character")
		}
	}
	split := strings.LastIndex(note, "\n\n")
	if split < 0 {
		return nil, errors.New("note: no blank line before the signatures")
	}
	n := &Note{Text: note[:split+1]}
	block := note[split+2:]
	if block == "" {
		return nil, errors.New("note: no signatures")
	}
	if !strings.HasSuffix(block, "\n") {
		return nil, errors.New("note: the last signature line does not end in a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		s, err := parseSignatureLine(line)
		if err != nil {
			return nil, fmt.Errorf("note: signature line %d: %w", i+1, err)
		}
		n.Signatures = append(n.Signatures, s)
	}
	return n, nil
}

func parseSignatureLine(line string) (NoteSignature, error) {
	rest := strings.TrimPrefix(line, "\u2014 ")
	if rest == line {
		return NoteSignature{}, errors.New("does not start with an em dash and a space")
	}
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return NoteSignature{}, errors.New("no space after the key name")
	}
	name := rest[:sp]
	if err := CheckKeyName(name); err != nil {
		return NoteSignature{}, err
	}
	raw, err := b64.DecodeString(rest[sp+1:])
	if err != nil {
		return NoteSignature{}, errors.New("the signature is not base64")
	}
	if len(raw) < 5 {
		return NoteSignature{}, errors.New("the signature is too short")
	}
	return NoteSignature{Name: name, KeyID: binary.BigEndian.Uint32(raw[:4]), Payload: raw[4:]}, nil
}

// String renders the note.
func (n *Note) String() string {
	var b strings.Builder
	b.WriteString(n.Text)
	b.WriteString("\n")
	for _, s := range n.Signatures {
		b.WriteString(s.Line())
	}
	return b.String()
}

// CosignatureMessage is what a cosignature/v1 signs:
// "cosignature/v1\ntime <timestamp>\n" || text.
func CosignatureMessage(text string, timestamp uint64) []byte {
	return []byte("cosignature/v1\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + text)
}

// VerifySignature reports whether the line is key's and verifies over
// text: an Ed25519 signature of the text for a 0x01 key, a cosignature/v1
// (timestamp at most 2^63-1) for a 0x04 key. For a cosignature it also
// returns the timestamp.
func VerifySignature(text string, sig NoteSignature, key *Verifier) (uint64, bool) {
	if sig.Name != key.Name() || sig.KeyID != key.KeyID() {
		return 0, false
	}
	switch key.Alg() {
	case AlgEd25519:
		return 0, key.VerifyRaw([]byte(text), sig.Payload)
	case AlgCosignatureV1:
		if len(sig.Payload) != 72 {
			return 0, false
		}
		ts := binary.BigEndian.Uint64(sig.Payload[:8])
		if ts > 1<<63-1 {
			return 0, false
		}
		return ts, key.VerifyRaw(CosignatureMessage(text, ts), sig.Payload[8:])
	}
	return 0, false
}

// SignNoteText signs a note text (ending in a newline) with key and
// returns the signature line: for a witness (0x04) key a cosignature/v1
// at the given timestamp (Unix seconds), else an Ed25519 signature.
func SignNoteText(text string, key *Signer, timestamp uint64) (NoteSignature, error) {
	if !strings.HasSuffix(text, "\n") {
		return NoteSignature{}, errors.New("note text does not end in a newline")
	}
	switch key.Alg() {
	case AlgEd25519:
		return NoteSignature{Name: key.Name(), KeyID: key.KeyID(), Payload: key.SignRaw([]byte(text))}, nil
	case AlgCosignatureV1:
		if timestamp == 0 || timestamp > 1<<63-1 {
			return NoteSignature{}, errors.New("cosignature timestamp out of range")
		}
		p := make([]byte, 8, 72)
		binary.BigEndian.PutUint64(p, timestamp)
		p = append(p, key.SignRaw(CosignatureMessage(text, timestamp))...)
		return NoteSignature{Name: key.Name(), KeyID: key.KeyID(), Payload: p}, nil
	}
	return NoteSignature{}, errors.New("unsupported key type")
}

// Checkpoint is a verified C2SP tlog checkpoint.
type Checkpoint struct {
	// Origin is the log's origin (its key name).
	Origin string
	// Size is the tree size.
	Size uint64
	// Root is the tree's root hash.
	Root Hash
	// Extensions are any extension lines.
	Extensions []string
	// Note is the signed note, verbatim.
	Note string
	// Cosigned counts the witnesses whose cosignatures were required and
	// verified (see [VerifyCheckpointWitnessed]).
	Cosigned int
}

// ParseCheckpointText parses a checkpoint text (origin, size, root,
// extensions), canonically.
func ParseCheckpointText(text string) (origin string, size uint64, root Hash, ext []string, err error) {
	if !strings.HasSuffix(text, "\n") {
		return "", 0, root, nil, errors.New("checkpoint: the text does not end in a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return "", 0, root, nil, errors.New("checkpoint: fewer than three lines")
	}
	for _, l := range lines {
		if l == "" {
			return "", 0, root, nil, errors.New("checkpoint: an empty line")
		}
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return "", 0, root, nil, errors.New("checkpoint: the size is not canonical decimal")
	}
	root, err = decodeHash(lines[2], "checkpoint root")
	if err != nil {
		return "", 0, root, nil, err
	}
	if size == 0 && root != EmptyRoot {
		return "", 0, root, nil, errors.New("checkpoint: size 0 without the empty root")
	}
	return lines[0], size, root, lines[3:], nil
}

// VerifyCheckpoint checks a checkpoint note signed by the log key: a
// well-formed note, every line by that key verifies and at least one
// does, and the origin is the key's name.
func VerifyCheckpoint(note string, logKey *Verifier) (*Checkpoint, error) {
	if logKey.Alg() != AlgEd25519 {
		return nil, errors.New("checkpoint: the log key is not Ed25519")
	}
	n, err := ParseNote(note)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	ok := false
	for _, s := range n.Signatures {
		if s.Name != logKey.Name() || s.KeyID != logKey.KeyID() {
			continue
		}
		if _, good := VerifySignature(n.Text, s, logKey); !good {
			return nil, fmt.Errorf("checkpoint: the signature by %s does not verify", logKey.Name())
		}
		ok = true
	}
	if !ok {
		return nil, fmt.Errorf("checkpoint: no signature by the log key %s", logKey.Name())
	}
	origin, size, root, ext, err := ParseCheckpointText(n.Text)
	if err != nil {
		return nil, err
	}
	if origin != logKey.Name() {
		return nil, fmt.Errorf("checkpoint: origin %q is not the log key's name %q", origin, logKey.Name())
	}
	return &Checkpoint{Origin: origin, Size: size, Root: root, Extensions: ext, Note: note}, nil
}

// RequireCosignatures counts the given witnesses (type 0x04 keys) that
// cosigned the note (C2SP tlog-cosignature/v1) and requires at least min.
// A line naming one of the witnesses (name and key ID) that does not
// verify is an error, whatever the count.
func RequireCosignatures(note string, witnesses []*Verifier, min int) (int, error) {
	n, err := ParseNote(note)
	if err != nil {
		return 0, err
	}
	got := 0
	seen := map[string]bool{}
	for _, w := range witnesses {
		k := fmt.Sprintf("%s+%08x", w.Name(), w.KeyID())
		if seen[k] {
			continue
		}
		seen[k] = true
		lines := 0
		for _, s := range n.Signatures {
			if s.Name != w.Name() || s.KeyID != w.KeyID() {
				continue
			}
			lines++
			if _, ok := VerifySignature(n.Text, s, w); !ok {
				return 0, fmt.Errorf("the cosignature of witness %s does not verify", w.Name())
			}
		}
		if lines > 0 {
			got++
		}
	}
	if got < min {
		return got, fmt.Errorf("%d of the %d given witnesses cosigned the checkpoint; %d are required", got, len(witnesses), min)
	}
	return got, nil
}

// VerifyCheckpointWitnessed is [VerifyCheckpoint] and
// [RequireCosignatures] together.
func VerifyCheckpointWitnessed(note string, logKey *Verifier, witnesses []*Verifier, min int) (*Checkpoint, error) {
	cp, err := VerifyCheckpoint(note, logKey)
	if err != nil {
		return nil, err
	}
	if min > 0 || len(witnesses) > 0 {
		got, err := RequireCosignatures(note, witnesses, min)
		if err != nil {
			return nil, err
		}
		cp.Cosigned = got
	}
	return cp, nil
}
