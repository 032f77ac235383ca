"""Signed-note keys (C2SP signed-note, Go's ``sumdb/note`` skey convention).

* a **vkey** (verifier key) is ``<name>+<8 hex key ID>+<base64(type || public key)>``;
* an **skey** (signer key) is ``PRIVATE+KEY+<name>+<8 hex key ID>+<base64(type || seed)>``.

The type byte is :data:`ALG_ED25519` (0x01) for log and submitter keys and
:data:`ALG_COSIGNATURE_V1` (0x04) for witness keys. The key ID is the first
4 bytes, big-endian, of ``SHA-256(name || "\\n" || type || public key)``.
"""

from __future__ import annotations

import os
import unicodedata

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ._encoding import b64decode, b64encode, sha256
from .errors import FormatError

ALG_ED25519 = 0x01
"""Signature type of an Ed25519 signed-note key (logs, submitters, approvers)."""
ALG_COSIGNATURE_V1 = 0x04
"""Signature type of a C2SP ``cosignature/v1`` witness key (timestamped Ed25519)."""

_ALGS = (ALG_ED25519, ALG_COSIGNATURE_V1)
MAX_KEY_NAME_BYTES = 255
"""The longest key name accepted, in UTF-8 bytes."""


def check_key_name(name: str) -> None:
    """Raises :class:`FormatError` unless ``name`` is a valid signed-note key name.

    A name is non-empty, at most 255 UTF-8 bytes, and has no white space,
    no ``+`` and no control character.
    """
    if not name:
        raise FormatError("empty key name")
    if len(name.encode("utf-8")) > MAX_KEY_NAME_BYTES:
        raise FormatError("key name over 255 bytes")
    for ch in name:
        if ch == "+" or ch.isspace() or ord(ch) < 0x20 or unicodedata.category(ch) == "Zs":
            raise FormatError(f"key name {name!r} has a space, '+' or a control character")


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The signed-note key ID: first 4 bytes (big-endian) of SHA-256(name || "\\n" || alg || key)."""
    return int.from_bytes(sha256(name.encode("utf-8"), b"\n", bytes([alg]), public_key)[:4], "big")


def _check_alg(alg: int) -> None:
    if alg not in _ALGS:
        raise FormatError(f"unsupported key type 0x{alg:02x}")


def _parse_hex_id(text: str) -> int:
    if len(text) != 8 or any(c not in "0123456789abcdef" for c in text):
        raise FormatError("the key ID is not 8 lowercase hex digits")
    return int(text, 16)


class VerifierKey:
    """A public signed-note key: a name, a type byte and an Ed25519 public key."""

    __slots__ = ("_key", "alg", "key_id", "name", "public_key")

    def __init__(self, name: str, alg: int, public_key: bytes) -> None:
        """Builds a key from its parts (validated)."""
        check_key_name(name)
        _check_alg(alg)
        if len(public_key) != 32:
            raise FormatError("an Ed25519 public key is 32 bytes")
        self.name = name
        """The key name (for a log key: the checkpoint origin)."""
        self.alg = alg
        """The type byte: :data:`ALG_ED25519` or :data:`ALG_COSIGNATURE_V1`."""
        self.public_key = bytes(public_key)
        """The 32-byte Ed25519 public key."""
        self.key_id = key_id(name, alg, public_key)
        """The key ID (an unsigned 32-bit integer)."""
        self._key = Ed25519PublicKey.from_public_bytes(self.public_key)

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        """Parses a vkey string ``name+hash+base64``; refuses any malformed one."""
        if not isinstance(vkey, str):
            raise FormatError("a vkey is a string")
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise FormatError("a vkey is name+hash+base64")
        name, hex_id, blob = parts
        check_key_name(name)
        want = _parse_hex_id(hex_id)
        raw = b64decode(blob, "the key")
        if len(raw) != 33:
            raise FormatError("the key is not a type byte and 32 bytes")
        k = cls(name, raw[0], raw[1:])
        if k.key_id != want:
            raise FormatError("the key ID is not the key's")
        return k

    @property
    def key_id_hex(self) -> str:
        """The key ID as 8 lowercase hex digits."""
        return f"{self.key_id:08x}"

    def to_vkey_string(self) -> str:
        """The vkey string ``name+hash+base64(type || key)``."""
        return f"{self.name}+{self.key_id_hex}+{b64encode(bytes([self.alg]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid Ed25519 signature of ``message``."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(bytes(signature), bytes(message))
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifierKey) and self.to_vkey_string() == other.to_vkey_string()

    def __hash__(self) -> int:
        return hash(self.to_vkey_string())

    def __repr__(self) -> str:
        return f"VerifierKey({self.to_vkey_string()!r})"


class SignerKey:
    """A private signed-note key (an Ed25519 seed with a name and a type byte)."""

    __slots__ = ("_key", "_verifier", "alg", "name", "seed")

    def __init__(self, name: str, alg: int, seed: bytes) -> None:
        """Builds a key from its name, type byte and 32-byte seed."""
        check_key_name(name)
        _check_alg(alg)
        if len(seed) != 32:
            raise FormatError("an Ed25519 seed is 32 bytes")
        self.name = name
        """The key name."""
        self.alg = alg
        """The type byte."""
        self.seed = bytes(seed)
        """The 32-byte Ed25519 seed (secret)."""
        self._key = Ed25519PrivateKey.from_private_bytes(self.seed)
        pub = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._verifier = VerifierKey(name, alg, pub)

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> SignerKey:
        """A new random key."""
        return cls(name, alg, os.urandom(32))

    @classmethod
    def parse(cls, skey: str) -> SignerKey:
        """Parses an skey string ``PRIVATE+KEY+name+hash+base64``."""
        if not isinstance(skey, str):
            raise FormatError("an skey is a string")
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise FormatError("an skey is PRIVATE+KEY+name+hash+base64")
        _, _, name, hex_id, blob = parts
        check_key_name(name)
        want = _parse_hex_id(hex_id)
        raw = b64decode(blob, "the key")
        if len(raw) != 33:
            raise FormatError("the key is not a type byte and 32 bytes")
        k = cls(name, raw[0], raw[1:])
        if k.key_id != want:
            raise FormatError("the key ID is not the key's")
        return k

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SignerKey:
        """Reads an skey file (as written by ``provlog``)."""
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read())

    @property
    def key_id(self) -> int:
        """The key ID (of the public key)."""
        return self._verifier.key_id

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._verifier.public_key

    def verifier(self) -> VerifierKey:
        """The matching public key."""
        return self._verifier

    def to_skey_string(self) -> str:
        """The skey string ``PRIVATE+KEY+name+hash+base64(type || seed)``."""
        blob = b64encode(bytes([self.alg]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self._verifier.key_id_hex}+{blob}"

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic)."""
        return self._key.sign(bytes(message))

    def __repr__(self) -> str:
        return f"SignerKey(name={self.name!r}, key_id={self._verifier.key_id_hex})"


def as_verifier(key: VerifierKey | str) -> VerifierKey:
    """A :class:`VerifierKey` from a key or a vkey string."""
    return key if isinstance(key, VerifierKey) else VerifierKey.parse(key)
