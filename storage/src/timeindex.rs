//! The time filters of a search.
//!
//! * `logged_at` is the log's clock, and it never goes backwards along the
//!   log (the sequencer holds a clock that steps back at the last value),
//!   so a `logged_at` window is an index range, found by binary search over
//!   the entries ([`crate::Store::first_logged_at_or_after`]): `O(log n)`
//!   reads and no key of its own.
//! * `occurred_at` is the event's claim and comes in any order, so every
//!   event is indexed under two buckets of the search column family: its
//!   UTC day (tag `d`, value `YYYY-MM-DD`) and its UTC month (tag `m`,
//!   value `YYYY-MM`), each a posting list in index order like any other
//!   term. A window is the union of the few buckets that cover it
//!   ([`plan`]): whole months inside it by their month bucket, the other
//!   days by their day bucket; only the events of the (at most two) days
//!   the window cuts through are read to check the exact time.

use crate::keys::tag_prefix as prefix;
use provlog_proto::event::Event;

/// The tag of an `occurred_at` day bucket.
pub(crate) const TAG_DAY: u8 = b'd';
/// The tag of an `occurred_at` month bucket.
pub(crate) const TAG_MONTH: u8 = b'm';
/// Most buckets one `occurred_at` window may need (about 80 years of
/// whole months, or 2¾ years of days that do not fill a month).
pub const MAX_BUCKETS: usize = 1024;

const DAY_MS: i64 = 86_400_000;

/// `occurred_at` of an event, Unix ms (`None` if it does not parse, which
/// a validated event never does).
pub(crate) fn occurred_ms(event: &Event) -> Option<i64> {
    provlog_proto::time::parse_millis(&event.occurred_at).ok()
}

fn date_of_day(day: i64) -> Option<time::Date> {
    // 1970-01-01 is Julian day 2,440,588.
    time::Date::from_julian_day(i32::try_from(day.checked_add(2_440_588)?).ok()?).ok()
}

fn day_value(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn month_value(d: time::Date) -> String {
    format!("{:04}-{:02}", d.year(), u8::from(d.month()))
}

/// The bucket terms `(tag, value)` of an `occurred_at` of `ms`: its day and
/// its month.
pub(crate) fn buckets_of(ms: i64) -> Option<[(u8, String); 2]> {
    let d = date_of_day(ms.div_euclid(DAY_MS))?;
    Some([(TAG_DAY, day_value(d)), (TAG_MONTH, month_value(d))])
}

/// One bucket of a window: its term prefix (tag ‖ value ‖ 0x00) and
/// whether every event in it is inside the window (`false`: the window
/// cuts the day, so each event's time is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub prefix: Vec<u8>,
    pub exact: bool,
}

/// Why a window cannot be searched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the occurred_at window needs more than {MAX_BUCKETS} day and month buckets; narrow it, or filter on logged_at (from/to)"
)]
pub struct TooWide;

/// The buckets that hold every event whose `occurred_at` is in
/// `[from, to)` (Unix ms) and no other bucket: disjoint (no event is in
/// two of them), in time order.
///
/// # Errors
/// [`TooWide`] past [`MAX_BUCKETS`], or a window outside the years the
/// calendar knows (±9999).
pub(crate) fn plan(from: i64, to: i64) -> Result<Vec<Bucket>, TooWide> {
    let mut out = Vec::new();
    if from >= to {
        return Ok(out);
    }
    let (first, last) = (from.div_euclid(DAY_MS), (to - 1).div_euclid(DAY_MS));
    let inside = |d0: i64, d1: i64| d0.saturating_mul(DAY_MS) >= from && (d1 + 1).saturating_mul(DAY_MS) <= to;
    let mut d = first;
    while d <= last {
        let date = date_of_day(d).ok_or(TooWide)?;
        let month_first = d - i64::from(date.day()) + 1;
        let month_last = month_first + i64::from(date.month().length(date.year())) - 1;
        if d == month_first && month_last <= last && inside(month_first, month_last) {
            out.push(Bucket {
                prefix: prefix(TAG_MONTH, &month_value(date)),
                exact: true,
            });
            d = month_last + 1;
        } else {
            out.push(Bucket {
                prefix: prefix(TAG_DAY, &day_value(date)),
                exact: inside(d, d),
            });
            d += 1;
        }
        if out.len() > MAX_BUCKETS {
            return Err(TooWide);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(s: &str) -> i64 {
        provlog_proto::time::parse_millis(s).expect("time")
    }

    #[test]
    fn a_month_is_one_bucket_and_cut_days_are_checked() {
        let p = plan(ms("2026-11-01T00:00:00Z"), ms("2026-12-01T00:00:00Z")).expect("plan");
        assert_eq!(
            p,
            vec![Bucket {
                prefix: b"m2026-11\0".to_vec(),
                exact: true
            }]
        );
        let p = plan(ms("2026-10-31T12:00:00Z"), ms("2026-12-02T00:00:00Z")).expect("plan");
        let names: Vec<(String, bool)> = p
            .iter()
            .map(|b| (String::from_utf8_lossy(&b.prefix).into_owned(), b.exact))
            .collect();
        assert_eq!(
            names,
            vec![
                ("d2026-10-31\0".into(), false),
                ("m2026-11\0".into(), true),
                ("d2026-12-01\0".into(), true)
            ]
        );
        assert_eq!(
            buckets_of(ms("1969-12-31T23:59:59.999Z")).expect("b")[0].1,
            "1969-12-31"
        );
        assert!(plan(ms("1900-01-01T00:00:00Z"), ms("2026-01-01T00:00:00Z")).is_err());
        assert!(plan(5, 5).expect("empty").is_empty());
    }

    proptest! {
        /// An instant is in exactly one bucket of a window's plan if it
        /// is in the window (and that bucket is exact unless its day is
        /// cut), and in none otherwise.
        #[test]
        fn plan_covers_the_window_exactly(
            from in -2_000_000_000_000i64..5_000_000_000_000,
            len in 0i64..400 * DAY_MS,
            probe in -2_000_000_000_000i64..5_000_000_000_000,
        ) {
            let to = from + len;
            let p = plan(from, to).expect("plan");
            let at = |t: i64| {
                let [(_, day), (_, month)] = buckets_of(t).expect("b");
                p.iter()
                    .filter(|b| b.prefix == prefix(TAG_DAY, &day) || b.prefix == prefix(TAG_MONTH, &month))
                    .collect::<Vec<_>>()
            };
            for t in [probe, from, to - 1, to, from - 1, from + len / 2] {
                let hits = at(t);
                if (from..to).contains(&t) {
                    prop_assert_eq!(hits.len(), 1, "t {} in [{}, {})", t, from, to);
                } else {
                    prop_assert!(hits.iter().all(|b| !b.exact), "t {} outside [{}, {}) in an exact bucket", t, from, to);
                    prop_assert!(hits.len() <= 1);
                }
            }
        }
    }

    /// A store's search with `logged_at` and `occurred_at` windows equals
    /// a brute-force scan of its leaves, before and after the index is
    /// rebuilt on open (a store written before it existed).
    #[test]
    fn windows_equal_brute_force() {
        use crate::{AppendBatch, Search, Store, StoreOptions};
        use provlog_proto::event::{CanonicalEvent, Term};
        use provlog_proto::leaf::EventLeafTemplate;
        use provlog_tlog::merkle::CompactRange;
        let base = ms("2026-11-01T00:00:00Z");
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(12));
        let stream = proptest::collection::vec((0u8..3, -40 * DAY_MS..100 * DAY_MS, 0i64..DAY_MS), 1..300);
        let queries = proptest::collection::vec(
            (
                proptest::option::of(0u8..3),
                proptest::option::of(-50 * DAY_MS..110 * DAY_MS),
                proptest::option::of(0i64..90 * DAY_MS),
                proptest::option::of(0i64..300 * 3_000_000),
                proptest::option::of(0i64..300 * 3_000_000),
                1usize..40,
            ),
            1..20,
        );
        runner
            .run(&(stream, queries), |(stream, queries)| {
                let dir = tempfile::tempdir().expect("tmp");
                let opts = StoreOptions {
                    sync: false,
                    ..Default::default()
                };
                // (target, occurred_at, logged_at) of each event.
                let mut rows = Vec::new();
                {
                    let store = Store::open(dir.path(), &opts).expect("open");
                    let mut cr = CompactRange::new();
                    for (start, chunk) in (0u64..).step_by(50).zip(stream.chunks(50)) {
                        let mut batch = AppendBatch {
                            start,
                            ..AppendBatch::default()
                        };
                        for (k, (t, off, frac)) in chunk.iter().enumerate() {
                            let index = start + k as u64;
                            let occurred = base + off + frac % 7;
                            // Entries 3 s apart, two at a time in the same ms.
                            let logged = base + i64::try_from(index / 2).expect("small") * 3000;
                            let v = serde_json::json!({
                                "event_id": format!("e{index}"),
                                "occurred_at": provlog_proto::time::format_millis(occurred).expect("t"),
                                "action": "rotate",
                                "actor": {"id": "wf", "type": "workflow"},
                                "target": {"id": format!("svc-{t}"), "type": "service_account"},
                                "authority": {"approval_id": "a", "approved_by": "b"},
                                "decision": {"result": "allow", "policy_id": "p"},
                                "outcome": "success"
                            });
                            let ev = CanonicalEvent::from_value(&v).expect("event");
                            let leaf = EventLeafTemplate::new(&ev.jcs, "s", &[0; 64])
                                .render(&provlog_proto::time::format_millis(logged).expect("t"));
                            batch.push_event(leaf, &ev.event, crate::dedup_key("s", &format!("e{index}")));
                            rows.push((*t, occurred, logged));
                        }
                        batch.nodes = cr.extend(&batch.leaf_hashes);
                        batch.checkpoint = b"cp".to_vec();
                        store.append(&batch).expect("append");
                    }
                }
                let size = rows.len() as u64;
                let check = |store: &Store| {
                    for (t, from, len, lfrom, llen, limit) in &queries {
                        let target = t.map(|t| format!("svc-{t}"));
                        let occurred = (from.is_some() || len.is_some()).then(|| {
                            let f = from.map(|f| base + f);
                            (f, len.map(|l| f.unwrap_or(base) + l))
                        });
                        let logged = (lfrom.map(|f| base + f), llen.map(|l| base + lfrom.unwrap_or(0) + l));
                        let start = logged
                            .0
                            .map_or(0, |f| store.first_logged_at_or_after(f, size).expect("bs"));
                        let end = logged
                            .1
                            .map_or(size, |t| store.first_logged_at_or_after(t, size).expect("bs"));
                        let q = Search {
                            terms: target.iter().map(|t| (Term::Target, t.as_str())).collect(),
                            occurred,
                            start,
                            end,
                        };
                        let want: Vec<u64> = rows
                            .iter()
                            .enumerate()
                            .filter(|(_, (rt, o, l))| {
                                t.is_none_or(|t| t == *rt)
                                    && occurred
                                        .is_none_or(|(f, to)| f.is_none_or(|f| *o >= f) && to.is_none_or(|to| *o < to))
                                    && logged.0.is_none_or(|f| *l >= f)
                                    && logged.1.is_none_or(|to| *l < to)
                            })
                            .map(|(i, _)| i as u64)
                            .collect();
                        // Page through with a small work bound.
                        let mut got = Vec::new();
                        let mut q = q;
                        loop {
                            let (hits, stopped) = store.search_in(&q, *limit, 3).expect("search");
                            let next = if hits.len() == *limit {
                                hits.last().copied()
                            } else {
                                stopped
                            };
                            got.extend(hits);
                            match next {
                                Some(n) => q.start = n + 1,
                                None => break,
                            }
                        }
                        prop_assert_eq!(&got, &want, "query {:?}", (t, from, len, lfrom, llen));
                    }
                    Ok(())
                };
                {
                    let store = Store::open(dir.path(), &opts).expect("reopen");
                    check(&store)?;
                    // Forget the index, as a store written before it.
                    for (i, (_, o, _)) in rows.iter().enumerate() {
                        for (tag, v) in buckets_of(*o).expect("b") {
                            store
                                .debug_put_raw("search", &crate::keys::term_key(&prefix(tag, &v), i as u64), None)
                                .expect("del");
                        }
                    }
                    store.debug_put_raw("meta", b"time_index", None).expect("del");
                    store.debug_put_raw("meta", b"occurred_span", None).expect("del");
                }
                let store = Store::open(dir.path(), &opts).expect("rebuilt");
                check(&store)
            })
            .expect("search with time windows equals brute force");
    }
}
