//! Submissions, leaves and strict JSON.
//!
//! * `Submission::parse` never panics; for an accepted submission the leaf
//!   template rendered with a fixed `logged_at` is a valid canonical event
//!   leaf (`Leaf::parse`) carrying the same event bytes, submitter and
//!   signature and approvals, and its length is `sub.leaf.len()`.
//! * `Leaf::parse` on the raw input never panics; an accepted event leaf
//!   is exactly what `EventLeafTemplate` renders from its parts.
//! * `json::parse_strict` never panics; canonicalization of what it accepts
//!   succeeds and is idempotent (canonical bytes parse and re-canonicalize
//!   to themselves), which `Leaf::parse` relies on.

#![no_main]

use libfuzzer_sys::fuzz_target;
use provlog_proto::json;
use provlog_proto::leaf::{EventLeafTemplate, LOGGED_AT_LEN, Leaf};
use provlog_proto::submission::Submission;
use provlog_tlog::tile::MAX_ENTRY_BYTES;

const LOGGED_AT: &str = "2026-11-25T00:00:00.000Z";

fuzz_target!(|data: &[u8]| {
    if let Ok(sub) = Submission::parse(data) {
        assert_eq!(LOGGED_AT.len(), LOGGED_AT_LEN);
        assert!(sub.leaf.len() <= MAX_ENTRY_BYTES);
        let rendered = sub.leaf.render(LOGGED_AT);
        assert_eq!(rendered.len(), sub.leaf.len(), "rendered leaf length != template len()");
        match Leaf::parse(&rendered) {
            Ok(Leaf::Event(ev)) => {
                assert_eq!(ev.event.jcs, sub.event.jcs, "leaf event bytes differ from submission");
                // (Not `ev.event.event == sub.event.event`: the typed event keeps
                // `details` as parsed, and JCS maps e.g. `-0.0` to `0`.)
                assert_eq!(ev.submitter, sub.submitter);
                assert_eq!(ev.signature, sub.signature);
                assert_eq!(ev.version, sub.version);
                assert_eq!(ev.approvals, sub.approvals, "leaf approvals differ from submission");
                assert_eq!(ev.logged_at, LOGGED_AT);
            }
            Ok(Leaf::Policy(_) | Leaf::State(_) | Leaf::Heartbeat(_) | Leaf::LogKey(_)) => panic!("an event leaf parsed as another kind"),
            Err(e) => panic!(
                "leaf rendered from an accepted submission does not parse: {e}\nleaf: {}",
                String::from_utf8_lossy(&rendered)
            ),
        }
    }

    // A heartbeat accepted at the API becomes a leaf that parses back to it.
    if let Ok(h) = provlog_proto::chain::HeartbeatSubmission::parse(data) {
        let rendered = h.leaf.render("2026-11-25T00:00:00.000Z");
        match Leaf::parse(&rendered) {
            Ok(Leaf::Heartbeat(l)) => {
                assert_eq!(l.heartbeat, h.heartbeat);
                assert_eq!((l.submitter.as_str(), l.signature), (h.submitter.as_str(), h.signature));
            }
            other => panic!("heartbeat leaf does not parse back: {other:?}"),
        }
    }

    if let Ok(leaf) = Leaf::parse(data) {
        let _ = leaf.logged_at();
        Leaf::to_value(data).expect("to_value of an accepted leaf");
        if let Leaf::Heartbeat(h) = &leaf {
            let t = provlog_proto::chain::HeartbeatLeafTemplate::new(&h.heartbeat, &h.submitter, &h.signature);
            assert_eq!(t.render(&h.logged_at), data, "accepted heartbeat leaf is not what the template renders");
        }
        if let Leaf::Event(ev) = &leaf {
            // A SCITT statement's leaf has its own template (docs/SCITT.md).
            let t = match &ev.statement {
                Some(st) => EventLeafTemplate::statement(st),
                None => EventLeafTemplate::with_approvals(
                    &ev.event.jcs,
                    &ev.submitter,
                    &ev.signature,
                    ev.version,
                    &ev.approvals,
                ),
            };
            let rendered = match &ev.policy_decision {
                Some(d) => t.render_decided(&ev.logged_at, d),
                None => t.render(&ev.logged_at),
            };
            assert_eq!(
                rendered,
                data,
                "accepted event leaf is not what the template renders"
            );
        }
    }

    if let Ok(v) = json::parse_strict(data) {
        let c = json::canonical(&v).expect("canonical of a parsed value");
        let v2 = json::parse_strict(&c).expect("canonical JSON must parse strictly");
        let c2 = json::canonical(&v2).expect("canonical of canonical");
        assert_eq!(c, c2, "JCS is not idempotent");
    }
});
