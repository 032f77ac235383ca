"""C2SP tlog-tiles: paths, entry bundles, and roots computed from tiles.

The verified reads of :class:`provlog.client.Client` build on
:func:`root_with_leaves`: the root of a tree computed from the leaf hashes
of the entries read and from tile hashes for the rest. When it equals a
verified checkpoint's root, every entry read is authenticated (RFC 6962
hashing is collision resistant), whatever the tiles that filled the gaps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import FormatError, VerificationError
from .merkle import EMPTY_ROOT, node_hash

TILE_HEIGHT = 8
"""Tile height: a full tile holds 256 hashes."""
TILE_WIDTH = 256
"""Hashes in a full tile, entries in a full bundle."""


def encode_index(n: int) -> str:
    """The tile path encoding of ``n``: 3-digit groups, all but the last prefixed with ``x``."""
    if n < 0:
        raise FormatError("a tile index is not negative")
    s = str(n)
    s = "0" * (-len(s) % 3) + s
    groups = [s[i : i + 3] for i in range(0, len(s), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (no leading slash)."""
    return f"tile/{level}/{encode_index(index)}" + (f".p/{width}" if width < TILE_WIDTH else "")


def bundle_path(index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]`` (no leading slash)."""
    return f"tile/entries/{encode_index(index)}" + (f".p/{width}" if width < TILE_WIDTH else "")


def decode_bundle(body: bytes, expected: int) -> list[bytes]:
    """The entries of a bundle (u16 big-endian length, then the bytes), exactly ``expected`` of them."""
    out: list[bytes] = []
    p = 0
    while p < len(body):
        if p + 2 > len(body):
            raise FormatError("a bundle ends inside a length")
        n = int.from_bytes(body[p : p + 2], "big")
        p += 2
        if p + n > len(body):
            raise FormatError("a bundle ends inside an entry")
        out.append(body[p : p + n])
        p += n
        if len(out) > expected:
            raise FormatError(f"the bundle holds more than {expected} entries")
    if len(out) != expected:
        raise FormatError(f"the bundle holds {len(out)} entries, not {expected}")
    return out


def encode_bundle(entries: list[bytes]) -> bytes:
    """A bundle body of these entries."""
    out = bytearray()
    for e in entries:
        if len(e) > 0xFFFF:
            raise FormatError("an entry is over 65,535 bytes")
        out += len(e).to_bytes(2, "big") + e
    return bytes(out)


def split_tile(body: bytes, width: int) -> list[bytes]:
    """The hashes of a tile of ``width`` hashes."""
    if len(body) != 32 * width:
        raise FormatError(f"the tile is {len(body)} bytes, not {32 * width}")
    return [body[i : i + 32] for i in range(0, len(body), 32)]


TileFetcher = Callable[[int, int, int], bytes]
"""``fetch(level, index, width)`` -> the tile's bytes (``width`` hashes)."""


class TileHashes:
    """Node hashes of a tree of ``size`` leaves read from tiles (fetched once each)."""

    def __init__(self, size: int, fetch: TileFetcher) -> None:
        """``fetch(level, index, width)`` returns a tile's body."""
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def _tile(self, level: int, index: int) -> list[bytes]:
        got = self._tiles.get((level, index))
        if got is None:
            hashes_at_level = self.size >> (TILE_HEIGHT * level)
            width = min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH)
            if width <= 0:
                raise VerificationError("a tile beyond the tree")
            got = split_tile(self._fetch(level, index, width), width)
            self._tiles[(level, index)] = got
        return got

    def node(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree of ``2**height`` leaves starting at leaf ``index << height``."""
        t, r = divmod(height, TILE_HEIGHT)
        tile = self._tile(t, index >> (TILE_HEIGHT - r))
        start = (index % (1 << (TILE_HEIGHT - r))) << r
        hs = tile[start : start + (1 << r)]
        if len(hs) != 1 << r:
            raise VerificationError("a tile is too narrow for the node")
        while len(hs) > 1:
            hs = [node_hash(hs[i], hs[i + 1]) for i in range(0, len(hs), 2)]
        return hs[0]


def root_with_leaves(size: int, known: Mapping[int, bytes], hashes: TileHashes | None) -> bytes:
    """The root of ``size`` leaves, from the leaf hashes ``known`` (index -> hash) and tiles for the rest.

    Every subtree holding no known leaf is read from ``hashes`` (perfect
    subtrees only); with ``hashes=None`` every leaf must be known.
    """
    if size == 0:
        return EMPTY_ROOT
    lo_known = min(known) if known else size
    hi_known = max(known) + 1 if known else 0

    def mth(lo: int, n: int) -> bytes:
        hi = lo + n
        if (hi <= lo_known or lo >= hi_known) and n & (n - 1) == 0 and hashes is not None:
            return hashes.node(n.bit_length() - 1, lo >> (n.bit_length() - 1))
        if n == 1:
            if lo not in known:
                raise VerificationError(f"leaf {lo} is neither read nor in a tile")
            return known[lo]
        k = 1 << ((n - 1).bit_length() - 1)
        return node_hash(mth(lo, k), mth(lo + k, n - k))

    return mth(0, size)
