"""C2SP signed notes, checkpoints (tlog-checkpoint) and witness cosignatures (tlog-cosignature v1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._encoding import b64decode, b64encode
from .errors import FormatError, VerificationError
from .keys import ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey, check_key_name
from .merkle import EMPTY_ROOT

MAX_NOTE_BYTES = 1_000_000
"""The largest note accepted."""
MAX_SIGNATURES = 100
"""The most signature lines accepted in one note."""
_DASH = "\u2014 "


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: ``— <name> base64(key_id || signature)``."""

    name: str
    """The key name of the line."""
    key_id: int
    """The key ID (the first 4 bytes of the payload, big-endian)."""
    signature: bytes
    """The algorithm-specific rest of the payload."""

    def to_line(self) -> str:
        """The line, with its newline."""
        return f"{_DASH}{self.name} {b64encode(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed signed note: its text (ending in a newline) and its signature lines."""

    text: str
    """The signed text, final newline included."""
    signatures: tuple[NoteSignature, ...]
    """The signature lines, in order."""

    @classmethod
    def parse(cls, note: str | bytes) -> Note:
        """Parses a note strictly (C2SP signed-note; raises :class:`FormatError`)."""
        if isinstance(note, bytes):
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError:
                raise FormatError("the note is not UTF-8") from None
        if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
            raise FormatError("the note is over 1,000,000 bytes")
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise FormatError("the note has a control character")
        cut = note.rfind("\n\n")
        if cut < 0:
            raise FormatError("the note has no blank line before its signatures")
        text, block = note[: cut + 1], note[cut + 2 :]
        if not block or not block.endswith("\n"):
            raise FormatError("the note's signatures do not end in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise FormatError("more than 100 signature lines")
        sigs = []
        for line in lines:
            if not line.startswith(_DASH):
                raise FormatError("a signature line does not start with an em dash")
            name, sep, payload = line[len(_DASH) :].partition(" ")
            if not sep:
                raise FormatError("a signature line has no key name")
            check_key_name(name)
            raw = b64decode(payload, "a note signature")
            if len(raw) < 5:
                raise FormatError("a note signature is too short")
            sigs.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
        return cls(text, tuple(sigs))

    def to_string(self) -> str:
        """The note, byte for byte."""
        return self.text + "\n" + "".join(s.to_line() for s in self.signatures)

    def signatures_by(self, key: VerifierKey) -> list[NoteSignature]:
        """The distinct lines naming ``key`` (its name and key ID)."""
        out: list[NoteSignature] = []
        for s in self.signatures:
            if s.name == key.name and s.key_id == key.key_id and s not in out:
                out.append(s)
        return out


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a ``cosignature/v1`` line signs: ``"cosignature/v1\\ntime <t>\\n" || text``."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode("utf-8")


def verify_signature(text: str, sig: NoteSignature, key: VerifierKey) -> int | None:
    """Checks one line against a key of its name and ID.

    Returns ``0`` for a valid Ed25519 (0x01) signature, the timestamp for a
    valid cosignature (0x04), ``None`` when it does not verify.
    """
    if sig.name != key.name or sig.key_id != key.key_id:
        return None
    if key.alg == ALG_ED25519:
        ok = len(sig.signature) == 64 and key.verify(text.encode("utf-8"), sig.signature)
        return 0 if ok else None
    if key.alg == ALG_COSIGNATURE_V1:
        if len(sig.signature) != 72:
            return None
        ts = int.from_bytes(sig.signature[:8], "big")
        if ts > 2**63 - 1:
            return None
        return ts if key.verify(cosignature_message(text, ts), sig.signature[8:]) else None
    return None


def sign_note(text: str, key: SignerKey) -> NoteSignature:
    """An Ed25519 (0x01) signature line over ``text``."""
    if key.alg != ALG_ED25519:
        raise FormatError("not an Ed25519 note key")
    if not text.endswith("\n"):
        raise FormatError("a note text ends in a newline")
    return NoteSignature(key.name, key.key_id, key.sign(text.encode("utf-8")))


def cosign(key: SignerKey, text: str, timestamp: int) -> NoteSignature:
    """A witness ``cosignature/v1`` line over a checkpoint text at ``timestamp`` (Unix seconds)."""
    if key.alg != ALG_COSIGNATURE_V1:
        raise FormatError("not a cosignature/v1 key")
    sig = key.sign(cosignature_message(text, timestamp))
    return NoteSignature(key.name, key.key_id, timestamp.to_bytes(8, "big") + sig)


@dataclass(frozen=True)
class Checkpoint:
    """A verified tlog checkpoint (the log's signed tree head)."""

    origin: str
    """The log's origin (the first line; the log key's name)."""
    size: int
    """The tree size."""
    root: bytes
    """The 32-byte root hash."""
    extensions: tuple[str, ...]
    """Extension lines (provlog writes none)."""
    note: str
    """The whole note as given, cosignatures included."""

    @property
    def text(self) -> str:
        """The signed checkpoint text."""
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint_text(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    """Parses a checkpoint body strictly (origin, size, root, extension lines)."""
    if not text.endswith("\n"):
        raise FormatError("a checkpoint text ends in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise FormatError("a checkpoint has at least three non-empty lines")
    origin, size_s, root_s, *ext = lines
    if not size_s.isascii() or not size_s.isdigit() or str(int(size_s)) != size_s:
        raise FormatError("the checkpoint size is not canonical decimal")
    size = int(size_s)
    if size >= 2**64:
        raise FormatError("the checkpoint size is over 2^64")
    root = b64decode(root_s, "the checkpoint root", 32)
    if size == 0 and root != EMPTY_ROOT:
        raise FormatError("a size-0 checkpoint has the empty-tree root")
    return origin, size, root, tuple(ext)


def open_checkpoint(note: str | bytes, log_key: VerifierKey) -> Checkpoint:
    """Verifies a checkpoint note under the log's key and parses it.

    Every line by the log key must verify and at least one must exist; other
    lines are ignored; the origin must be the key's name.
    """
    if log_key.alg != ALG_ED25519:
        raise VerificationError("the log key is not an Ed25519 (0x01) key")
    try:
        n = Note.parse(note)
    except FormatError as e:
        raise VerificationError(f"the checkpoint is not a signed note: {e}") from None
    mine = n.signatures_by(log_key)
    if not mine:
        raise VerificationError(f"no signature by the log key {log_key.name}")
    for s in mine:
        if verify_signature(n.text, s, log_key) is None:
            raise VerificationError(f"the checkpoint signature by {log_key.name} does not verify")
    try:
        origin, size, root, ext = parse_checkpoint_text(n.text)
    except FormatError as e:
        raise VerificationError(f"not a checkpoint: {e}") from None
    if origin != log_key.name:
        raise VerificationError(f"the checkpoint is for origin {origin!r}, not {log_key.name!r}")
    return Checkpoint(origin, size, root, ext, n.to_string() if isinstance(note, bytes) else note)


def require_cosignatures(note: str | bytes, witnesses: Iterable[VerifierKey], min_witnesses: int) -> int:
    """Counts the given witnesses with a valid cosignature line; at least ``min_witnesses`` must.

    A witness given twice counts once; a line naming a given witness key
    (name and key ID) that does not verify is an error.
    """
    try:
        n = Note.parse(note)
    except FormatError as e:
        raise VerificationError(f"not a signed note: {e}") from None
    got, seen, total = 0, set(), 0
    for w in witnesses:
        total += 1
        ident = (w.name, w.key_id)
        if ident in seen:
            continue
        seen.add(ident)
        lines = n.signatures_by(w)
        if not lines:
            continue
        if all(verify_signature(n.text, s, w) is not None for s in lines):
            got += 1
        else:
            raise VerificationError(f"a cosignature by witness {w.name} does not verify")
    if got < min_witnesses:
        raise VerificationError(f"{got} of {total} witnesses cosigned, {min_witnesses} required")
    return got


def open_witnessed_checkpoint(
    note: str | bytes,
    log_key: VerifierKey,
    witnesses: Iterable[VerifierKey] = (),
    min_witnesses: int | None = None,
) -> Checkpoint:
    """:func:`open_checkpoint` and then :func:`require_cosignatures`.

    ``min_witnesses`` defaults to all the witnesses given.
    """
    cp = open_checkpoint(note, log_key)
    ws = list(witnesses)
    if ws or min_witnesses:
        require_cosignatures(note, ws, len(ws) if min_witnesses is None else min_witnesses)
    return cp
