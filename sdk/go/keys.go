package provlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Signature type bytes of C2SP signed-note keys.
const (
	// AlgEd25519 is the type byte of an Ed25519 note key (0x01): logs and
	// submitters.
	AlgEd25519 byte = 0x01
	// AlgCosignatureV1 is the type byte of a C2SP tlog-cosignature/v1
	// witness key (0x04).
	AlgCosignatureV1 byte = 0x04
)

var b64 = base64.StdEncoding.Strict()

// KeyID is the C2SP signed-note key ID: the first four bytes,
// big-endian, of SHA-256(name || "\n" || type byte || public key).
func KeyID(name string, alg byte, publicKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', alg})
	h.Write(publicKey)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// CheckKeyName applies the signed-note key-name rules: not empty, at most
// 255 bytes, no white space, no '+', no control character.
func CheckKeyName(name string) error {
	if name == "" {
		return errors.New("key name is empty")
	}
	if len(name) > 255 {
		return errors.New("key name is longer than 255 bytes")
	}
	for _, c := range name {
		switch {
		case unicode.IsSpace(c):
			return errors.New("key name has white space")
		case c == '+':
			return errors.New("key name has '+'")
		case c < 0x20 || c == 0x7f:
			return errors.New("key name has a control character")
		case c == unicode.ReplacementChar:
			return errors.New("key name is not valid UTF-8")
		}
	}
	return nil
}

func checkAlg(alg byte) error {
	if alg != AlgEd25519 && alg != AlgCosignatureV1 {
		return fmt.Errorf("unsupported key type 0x%02x", alg)
	}
	return nil
}

// Verifier is a public note key: a log's, a submitter's, an approver's
// (type 0x01) or a witness's (type 0x04).
type Verifier struct {
	name string
	alg  byte
	pub  ed25519.PublicKey
	id   uint32
}

// NewVerifier makes a verifier key from its parts.
func NewVerifier(name string, alg byte, publicKey []byte) (*Verifier, error) {
	if err := CheckKeyName(name); err != nil {
		return nil, err
	}
	if err := checkAlg(alg); err != nil {
		return nil, err
	}
	if len(publicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes, not 32", len(publicKey))
	}
	pub := append(ed25519.PublicKey(nil), publicKey...)
	return &Verifier{name: name, alg: alg, pub: pub, id: KeyID(name, alg, pub)}, nil
}

// ParseVerifier parses a vkey `name+hexid+base64(type || public key)`.
// The key ID must be the key's.
func ParseVerifier(vkey string) (*Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("vkey: not name+id+key")
	}
	id, err := parseKeyID(parts[1])
	if err != nil {
		return nil, fmt.Errorf("vkey: %w", err)
	}
	raw, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("vkey: the key is not base64")
	}
	if len(raw) != 33 {
		return nil, fmt.Errorf("vkey: the key is %d bytes, not 33", len(raw))
	}
	v, err := NewVerifier(parts[0], raw[0], raw[1:])
	if err != nil {
		return nil, fmt.Errorf("vkey: %w", err)
	}
	if v.id != id {
		return nil, fmt.Errorf("vkey: key ID %08x is not the key's (%08x)", id, v.id)
	}
	return v, nil
}

func parseKeyID(s string) (uint32, error) {
	if len(s) != 8 || strings.ToLower(s) != s {
		return 0, errors.New("key ID is not 8 lowercase hex digits")
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return 0, errors.New("key ID is not 8 lowercase hex digits")
	}
	return binary.BigEndian.Uint32(b), nil
}

// Name is the key's name (for a log: its checkpoint origin).
func (v *Verifier) Name() string { return v.name }

// Alg is the key's type byte.
func (v *Verifier) Alg() byte { return v.alg }

// KeyID is the key's ID.
func (v *Verifier) KeyID() uint32 { return v.id }

// PublicKey is the raw Ed25519 public key.
func (v *Verifier) PublicKey() ed25519.PublicKey { return append(ed25519.PublicKey(nil), v.pub...) }

// String renders the vkey, which [ParseVerifier] accepts.
func (v *Verifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.id, b64.EncodeToString(append([]byte{v.alg}, v.pub...)))
}

// VerifyRaw checks an Ed25519 signature of msg.
func (v *Verifier) VerifyRaw(msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(v.pub, msg, sig)
}

// Signer is a private note key.
type Signer struct {
	Verifier
	priv ed25519.PrivateKey
}

// NewSigner makes a signer from a 32-byte Ed25519 seed.
func NewSigner(name string, alg byte, seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("seed is %d bytes, not 32", len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	v, err := NewVerifier(name, alg, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signer{Verifier: *v, priv: priv}, nil
}

// GenerateSigner makes a new random key (rand nil: crypto/rand).
func GenerateSigner(name string, alg byte, random io.Reader) (*Signer, error) {
	if random == nil {
		random = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(random, seed); err != nil {
		return nil, err
	}
	return NewSigner(name, alg, seed)
}

// ParseSigner parses an skey `PRIVATE+KEY+name+hexid+base64(type || seed)`.
func ParseSigner(skey string) (*Signer, error) {
	skey = strings.TrimSpace(skey)
	rest := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	if rest == skey {
		return nil, errors.New("skey: does not start with PRIVATE+KEY+")
	}
	parts := strings.SplitN(rest, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("skey: not PRIVATE+KEY+name+id+key")
	}
	id, err := parseKeyID(parts[1])
	if err != nil {
		return nil, fmt.Errorf("skey: %w", err)
	}
	raw, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("skey: the key is not base64")
	}
	if len(raw) != 33 {
		return nil, fmt.Errorf("skey: the key is %d bytes, not 33", len(raw))
	}
	s, err := NewSigner(parts[0], raw[0], raw[1:])
	if err != nil {
		return nil, fmt.Errorf("skey: %w", err)
	}
	if s.id != id {
		return nil, fmt.Errorf("skey: key ID %08x is not the key's (%08x)", id, s.id)
	}
	return s, nil
}

// Public returns the public half.
func (s *Signer) Public() *Verifier {
	v := s.Verifier
	return &v
}

// SkeyString renders the private key, which [ParseSigner] accepts. It
// contains the secret seed.
func (s *Signer) SkeyString() string {
	return fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", s.name, s.id, b64.EncodeToString(append([]byte{s.alg}, s.priv.Seed()...)))
}

// String renders the public vkey (never the secret).
func (s *Signer) String() string { return s.Verifier.String() }

// SignRaw signs msg with Ed25519 (deterministic).
func (s *Signer) SignRaw(msg []byte) []byte { return ed25519.Sign(s.priv, msg) }
