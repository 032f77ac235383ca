//! C2SP tlog-policy: which logs and witnesses a checkpoint must be signed
//! by (docs/SPECS.md).
//!
//! ```text
//! log <vkey> [<url>]
//! witness <name> <vkey> [<url>]
//! group <name> all|any|<k> <name>...
//! quorum <name>|none
//! ```
//!
//! A checkpoint meets the policy when any one listed log signed it and the
//! quorum is met: a witness is met by a valid cosignature of its key, a
//! group by `k` of its members (`any` = 1, `all` = every one); groups nest,
//! and only names defined on earlier lines may be used, so there is no
//! cycle. Lines end in LF; fields are separated by runs of spaces or tabs;
//! blank lines and lines starting with `#` are ignored. Witnesses and groups
//! share one namespace; `none` is reserved. Exactly one `quorum`.

use std::collections::{HashMap, HashSet};

use crate::keys::VerifierKey;
use crate::note::{Note, verify_signature};

/// Most logs, witnesses or groups a policy may define (the spec asks
/// implementations to support at least 32 of each).
pub const MAX_ENTRIES: usize = 256;

/// A parsed witness policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// The logs (any one's signature suffices), with their URLs if given.
    pub logs: Vec<(VerifierKey, Option<String>)>,
    /// The witnesses by name, with their submission URLs if given, in the
    /// order defined.
    pub witnesses: Vec<(String, VerifierKey, Option<String>)>,
    groups: HashMap<String, (usize, Vec<String>)>,
    quorum: Option<String>,
}

/// Why a policy text does not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("witness policy line {line}: {reason}")]
pub struct PolicyParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl WitnessPolicy {
    /// Parses a policy text.
    ///
    /// # Errors
    /// [`PolicyParseError`] naming the line.
    pub fn parse(text: &str) -> Result<Self, PolicyParseError> {
        let mut p = Self {
            logs: Vec::new(),
            witnesses: Vec::new(),
            groups: HashMap::new(),
            quorum: None,
        };
        let mut names: HashSet<String> = HashSet::new();
        let mut quorum_seen = false;
        if let Some(b) = text
            .bytes()
            .find(|&b| !(b == b'\t' || b == b'\n' || (0x20..0x7f).contains(&b) || b >= 0x80))
        {
            return Err(PolicyParseError {
                line: 0,
                reason: format!("byte 0x{b:02x} is not allowed"),
            });
        }
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let bad = |reason: String| PolicyParseError { line, reason };
            let f: Vec<&str> = raw.split([' ', '\t']).filter(|s| !s.is_empty()).collect();
            let Some(&kw) = f.first() else { continue };
            if kw.starts_with('#') {
                continue;
            }
            match kw {
                "log" => {
                    if !(2..=3).contains(&f.len()) {
                        return Err(bad("log <vkey> [<url>]".into()));
                    }
                    let k = VerifierKey::parse(f[1]).map_err(|e| bad(format!("log vkey: {e}")))?;
                    if p.logs.iter().any(|(o, _)| o.public_key() == k.public_key()) {
                        return Err(bad("a log key is listed twice".into()));
                    }
                    p.logs.push((k, f.get(2).map(|s| (*s).to_owned())));
                }
                "witness" => {
                    if !(3..=4).contains(&f.len()) {
                        return Err(bad("witness <name> <vkey> [<url>]".into()));
                    }
                    let name = f[1];
                    if name == "none" || !names.insert(name.to_owned()) {
                        return Err(bad(format!("the name {name:?} is reserved or already defined")));
                    }
                    let k = VerifierKey::parse(f[2]).map_err(|e| bad(format!("witness vkey: {e}")))?;
                    if p.witnesses.iter().any(|(_, o, _)| o.public_key() == k.public_key()) {
                        return Err(bad("a witness key is listed twice".into()));
                    }
                    p.witnesses
                        .push((name.to_owned(), k, f.get(3).map(|s| (*s).to_owned())));
                }
                "group" => {
                    if f.len() < 4 {
                        return Err(bad("group <name> all|any|<k> <name>...".into()));
                    }
                    let name = f[1];
                    if name == "none" || names.contains(name) {
                        return Err(bad(format!("the name {name:?} is reserved or already defined")));
                    }
                    let members: Vec<String> = f[3..].iter().map(|s| (*s).to_owned()).collect();
                    let mut seen = HashSet::new();
                    for m in &members {
                        if m == "none" || !names.contains(m) {
                            return Err(bad(format!(
                                "{m:?} is not a witness or group defined on an earlier line"
                            )));
                        }
                        if !seen.insert(m) {
                            return Err(bad(format!("{m:?} is listed twice in the group")));
                        }
                    }
                    let n = members.len();
                    let k = match f[2] {
                        "all" => n,
                        "any" => 1,
                        k => k
                            .parse::<usize>()
                            .ok()
                            .filter(|k| (1..=n).contains(k) && !f[2].starts_with('0'))
                            .ok_or_else(|| bad(format!("threshold {k:?} is not all, any or 1 to {n}")))?,
                    };
                    names.insert(name.to_owned());
                    p.groups.insert(name.to_owned(), (k, members));
                }
                "quorum" => {
                    if f.len() != 2 || quorum_seen {
                        return Err(bad("exactly one quorum <name>|none".into()));
                    }
                    quorum_seen = true;
                    if f[1] != "none" {
                        if !names.contains(f[1]) {
                            return Err(bad(format!("{:?} is not defined on an earlier line", f[1])));
                        }
                        p.quorum = Some(f[1].to_owned());
                    }
                }
                other => return Err(bad(format!("unknown keyword {other:?}"))),
            }
            if p.logs.len() > MAX_ENTRIES || p.witnesses.len() > MAX_ENTRIES || p.groups.len() > MAX_ENTRIES {
                return Err(bad(format!("more than {MAX_ENTRIES} logs, witnesses or groups")));
            }
        }
        if !quorum_seen {
            return Err(PolicyParseError {
                line: 0,
                reason: "no quorum line (quorum <name>, or quorum none)".into(),
            });
        }
        Ok(p)
    }

    /// Whether the quorum is met when exactly the witnesses `cosigned` (by
    /// name) gave valid cosignatures.
    #[must_use]
    pub fn quorum_met(&self, cosigned: &HashSet<&str>) -> bool {
        self.quorum.as_deref().is_none_or(|q| self.met(q, cosigned))
    }

    fn met(&self, name: &str, cosigned: &HashSet<&str>) -> bool {
        match self.groups.get(name) {
            Some((k, members)) => members.iter().filter(|m| self.met(m, cosigned)).count() >= *k,
            None => cosigned.contains(name),
        }
    }

    /// The fewest cosignatures that can meet the quorum (0 for `none`).
    #[must_use]
    pub fn min_cosignatures(&self) -> usize {
        self.quorum.as_deref().map_or(0, |q| self.min(q))
    }

    fn min(&self, name: &str) -> usize {
        match self.groups.get(name) {
            Some((k, members)) => {
                let mut m: Vec<usize> = members.iter().map(|x| self.min(x)).collect();
                m.sort_unstable();
                m.iter().take(*k).sum()
            }
            None => 1,
        }
    }

    /// The witnesses whose cosignature on `note` verifies.
    #[must_use]
    pub fn cosigners<'a>(&'a self, note: &Note) -> HashSet<&'a str> {
        self.witnesses
            .iter()
            .filter(|(_, k, _)| {
                note.signatures()
                    .iter()
                    .any(|s| verify_signature(note.text(), s, k).is_some())
            })
            .map(|(n, _, _)| n.as_str())
            .collect()
    }

    /// Whether `note` is signed by one of the logs and meets the quorum.
    #[must_use]
    pub fn check(&self, note: &Note) -> bool {
        let logged = self.logs.iter().any(|(k, _)| {
            note.signatures()
                .iter()
                .any(|s| verify_signature(note.text(), s, k).is_some())
        });
        logged && self.quorum_met(&self.cosigners(note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{ALG_COSIGNATURE_V1, SignerKey};

    fn w(name: &str, seed: u8) -> SignerKey {
        SignerKey::from_seed(name, ALG_COSIGNATURE_V1, [seed; 32]).expect("k")
    }

    /// The spec's example: 2 of X1..X3 and 1 of Y1..Y3.
    fn example() -> (String, Vec<SignerKey>) {
        let keys: Vec<SignerKey> = ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
            .iter()
            .enumerate()
            .map(|(i, n)| w(&format!("{n}.example"), i as u8 + 1))
            .collect();
        let log = SignerKey::from_seed("log.example", crate::keys::ALG_ED25519, [9; 32]).expect("k");
        let v = |i: usize| keys[i].verifier().to_vkey_string();
        let text = format!(
            "log {}\n\n# X\nwitness X1 {}\nwitness X2 {}\nwitness X3 {}\ngroup X-witnesses 2 X1 X2 X3\n\n\
             witness Y1 {}\n\twitness  Y2\t{} https://y2.example/\nwitness Y3 {}\ngroup Y-witnesses any Y1 Y2 Y3\n\n\
             group X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n",
            log.verifier().to_vkey_string(),
            v(0),
            v(1),
            v(2),
            v(3),
            v(4),
            v(5)
        );
        (text, keys)
    }

    #[test]
    fn the_specs_example_means_what_it_says() {
        let (text, _) = example();
        let p = WitnessPolicy::parse(&text).expect("parses");
        assert_eq!(p.witnesses.len(), 6);
        assert_eq!(p.witnesses[4].2.as_deref(), Some("https://y2.example/"));
        let met = |names: &[&str]| p.quorum_met(&names.iter().copied().collect());
        assert!(met(&["X1", "X2", "Y3"]));
        assert!(!met(&["X1", "Y1", "Y2", "Y3"]), "one X is not enough");
        assert!(!met(&["X1", "X2", "X3"]), "no Y");
        assert_eq!(p.min_cosignatures(), 3);
    }

    #[test]
    fn bad_policies_are_refused_with_their_line() {
        let (text, keys) = example();
        let v0 = keys[0].verifier().to_vkey_string();
        for (bad, line) in [
            (text.replace("quorum X-and-Y\n", ""), 0),
            (format!("{text}quorum none\n"), 16),
            (text.replace("group X-witnesses 2", "group X-witnesses 4"), 7),
            (text.replace("group X-witnesses 2", "group X-witnesses 02"), 7),
            (text.replace("X1 X2 X3\n", "X1 X1 X3\n"), 7),
            (text.replace("quorum X-and-Y", "quorum Z"), 15),
            (format!("group G any Q\n{text}"), 1),
            (text.replace("witness X2", "witness X1"), 5),
            (text.replace("witness X2", "witness none"), 5),
            (format!("{text}witness dup {v0}\n"), 16),
            (text.replace("log ", "logs "), 1),
            (format!("{text}\u{1}\n"), 0),
        ] {
            let e = WitnessPolicy::parse(&bad).expect_err(&bad);
            assert_eq!(e.line, line, "{e}: {bad}");
        }
        let none = WitnessPolicy::parse("quorum none\n").expect("none");
        assert!(none.quorum_met(&HashSet::new()));
        assert_eq!(none.min_cosignatures(), 0);
    }

    #[test]
    fn a_note_meets_it_with_a_log_signature_and_the_quorum() {
        let (text, keys) = example();
        let p = WitnessPolicy::parse(&text).expect("parses");
        let log = SignerKey::from_seed("log.example", crate::keys::ALG_ED25519, [9; 32]).expect("k");
        let body = "log.example\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        let signers: Vec<&SignerKey> = vec![&log, &keys[0], &keys[1], &keys[3]];
        let note = Note::new_signed(body, &signers, 1_700_000_000).expect("note");
        assert!(p.check(&note));
        let note = Note::new_signed(body, &[&keys[0], &keys[1], &keys[3]], 1_700_000_000).expect("note");
        assert!(!p.check(&note), "no log signature");
        let note = Note::new_signed(body, &[&log, &keys[0], &keys[3]], 1_700_000_000).expect("note");
        assert!(!p.check(&note), "one X");
    }
}
