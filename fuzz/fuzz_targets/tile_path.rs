//! Tile paths: `TileId::parse_path` never panics, accepts only canonical
//! paths (`t.path() == input`) and round-trips. Independently, the first
//! 11 input bytes are read as a `TileId`; every valid one round-trips
//! through `path()`/`parse_path`, and the tile math helpers do not panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_tlog::tile::{TileId, TileKind, entry_bundle, tile_exists, tile_nodes};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(t) = TileId::parse_path(s)
    {
        assert!(t.is_valid(), "parsed tile is not valid: {t:?}");
        let p = t.path();
        assert_eq!(p, s, "parse_path accepted a non-canonical path");
        assert_eq!(TileId::parse_path(&p), Ok(t));
        assert_eq!(p.parse::<TileId>(), Ok(t));
    }

    if let Some((head, rest)) = data.split_first_chunk::<11>() {
        let level = head[0];
        let index = u64::from_le_bytes(head[1..9].try_into().unwrap_or_default());
        let width = u16::from_le_bytes([head[9], head[10]]);
        let kind = if level == 0xff {
            TileKind::Entries
        } else {
            TileKind::Hash { level }
        };
        let t = TileId { kind, index, width };
        if t.is_valid() {
            assert_eq!(TileId::parse_path(&t.path()), Ok(t), "valid tile does not round-trip");
        }
        let size = rest.first_chunk::<8>().map_or(index, |b| u64::from_le_bytes(*b));
        let _ = tile_exists(&t, size);
        let _ = tile_nodes(&t).take(4).count();
        let _ = t.node_range();
        let _ = entry_bundle(index, size);
    }
});
