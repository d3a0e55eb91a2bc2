//! MySQL GTID sets (`uuid:1-5:7,uuid2:1-3`) and their arithmetic.
//!
//! The controller decides freshness, divergence and safe repointing with these; the fake
//! MySQL engine in the harness uses the same type, so both sides agree on the semantics.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A set of transaction ids per source UUID, kept as sorted, disjoint, non-adjacent
/// closed intervals so that equal sets always format the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GtidSet {
    sets: BTreeMap<String, Vec<(u64, u64)>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GTID set {input:?}: {reason}")]
pub struct GtidParseError {
    pub input: String,
    pub reason: String,
}

impl GtidSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn parse(s: &str) -> Result<Self, GtidParseError> {
        s.parse()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Number of transactions in the set.
    pub fn count(&self) -> u64 {
        self.sets.values().flatten().map(|(a, b)| b - a + 1).sum()
    }

    pub fn uuids(&self) -> impl Iterator<Item = &str> {
        self.sets.keys().map(String::as_str)
    }

    pub fn contains(&self, uuid: &str, n: u64) -> bool {
        self.sets
            .get(uuid)
            .is_some_and(|iv| iv.iter().any(|&(a, b)| a <= n && n <= b))
    }

    /// Highest transaction number recorded for `uuid` (0 when none).
    pub fn last(&self, uuid: &str) -> u64 {
        self.sets
            .get(uuid)
            .and_then(|iv| iv.last())
            .map_or(0, |&(_, b)| b)
    }

    pub fn add(&mut self, uuid: &str, n: u64) {
        self.add_interval(uuid, n, n);
    }

    pub fn add_interval(&mut self, uuid: &str, lo: u64, hi: u64) {
        assert!(lo >= 1 && lo <= hi, "GTID interval {lo}-{hi} is not valid");
        let iv = self.sets.entry(uuid.to_string()).or_default();
        iv.push((lo, hi));
        normalize(iv);
    }

    pub fn union(&self, other: &GtidSet) -> GtidSet {
        let mut out = self.clone();
        out.union_with(other);
        out
    }

    pub fn union_with(&mut self, other: &GtidSet) {
        for (uuid, ivs) in &other.sets {
            let iv = self.sets.entry(uuid.clone()).or_default();
            iv.extend(ivs.iter().copied());
            normalize(iv);
        }
    }

    /// `self \ other`.
    pub fn subtract(&self, other: &GtidSet) -> GtidSet {
        let mut out = GtidSet::new();
        for (uuid, ivs) in &self.sets {
            let Some(remove) = other.sets.get(uuid) else {
                out.sets.insert(uuid.clone(), ivs.clone());
                continue;
            };
            let mut kept = Vec::new();
            for &(a, b) in ivs {
                let mut start = a;
                for &(ra, rb) in remove {
                    if rb < start || ra > b {
                        continue;
                    }
                    if ra > start {
                        kept.push((start, ra - 1));
                    }
                    start = rb.saturating_add(1);
                    if start > b {
                        break;
                    }
                }
                if start <= b {
                    kept.push((start, b));
                }
            }
            if !kept.is_empty() {
                out.sets.insert(uuid.clone(), kept);
            }
        }
        out
    }

    pub fn is_subset_of(&self, other: &GtidSet) -> bool {
        self.subtract(other).is_empty()
    }

    pub fn is_superset_of(&self, other: &GtidSet) -> bool {
        other.is_subset_of(self)
    }

    /// Strict superset: contains `other` and has at least one more transaction.
    pub fn is_strict_superset_of(&self, other: &GtidSet) -> bool {
        self.is_superset_of(other) && self != other
    }

    /// Iterates every (uuid, n) in order; for small sets only (tests, the fake engine).
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.sets.iter().flat_map(|(u, ivs)| {
            ivs.iter()
                .flat_map(move |&(a, b)| (a..=b).map(move |n| (u.as_str(), n)))
        })
    }
}

fn normalize(iv: &mut Vec<(u64, u64)>) {
    iv.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(iv.len());
    for &(a, b) in iv.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    *iv = out;
}

impl FromStr for GtidSet {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| GtidParseError {
            input: s.to_string(),
            reason,
        };
        let mut set = GtidSet::new();
        // MySQL prints long sets with newlines after the commas.
        let cleaned: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if cleaned.is_empty() {
            return Ok(set);
        }
        for part in cleaned.split(',') {
            let mut fields = part.split(':');
            let uuid = fields.next().unwrap_or_default().to_ascii_lowercase();
            if !is_uuid(&uuid) {
                return Err(err(format!("{uuid:?} is not a UUID")));
            }
            let mut any = false;
            for range in fields {
                any = true;
                let (lo, hi) = match range.split_once('-') {
                    Some((lo, hi)) => (lo, hi),
                    None => (range, range),
                };
                let lo: u64 = lo
                    .parse()
                    .map_err(|_| err(format!("{range:?} is not a transaction range")))?;
                let hi: u64 = hi
                    .parse()
                    .map_err(|_| err(format!("{range:?} is not a transaction range")))?;
                if lo == 0 || lo > hi {
                    return Err(err(format!("{range:?} is not a valid interval")));
                }
                set.add_interval(&uuid, lo, hi);
            }
            if !any {
                return Err(err(format!("{uuid} has no transaction range")));
            }
        }
        Ok(set)
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (uuid, ivs) in &self.sets {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            f.write_str(uuid)?;
            for &(a, b) in ivs {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const B: &str = "4f22fb58-82db-22f2-af44-d91bba530673";

    fn set(s: &str) -> GtidSet {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_format_round_trip_canonically() {
        let s = set(&format!("{B}:1-3, {A}:5:1-4:7\n"));
        assert_eq!(s.to_string(), format!("{A}:1-5:7,{B}:1-3"));
        assert_eq!(s.count(), 9);
        assert_eq!(set("").to_string(), "");
        assert!(set("").is_empty());
    }

    #[test]
    fn parse_rejects_garbage_with_a_reason() {
        for bad in [
            "nope",
            A,
            &format!("{A}:0"),
            &format!("{A}:5-3"),
            &format!("{A}:x"),
        ] {
            let e = GtidSet::parse(bad).unwrap_err();
            assert!(e.to_string().contains("invalid GTID set"), "{e}");
        }
    }

    #[test]
    fn union_merges_adjacent_intervals() {
        let u = set(&format!("{A}:1-3")).union(&set(&format!("{A}:4-6,{B}:2")));
        assert_eq!(u.to_string(), format!("{A}:1-6,{B}:2"));
    }

    #[test]
    fn subtract_splits_intervals() {
        let d = set(&format!("{A}:1-10,{B}:1-2")).subtract(&set(&format!("{A}:3-4:8,{B}:1-2")));
        assert_eq!(d.to_string(), format!("{A}:1-2:5-7:9-10"));
        assert_eq!(d.count(), 7);
    }

    #[test]
    fn subset_and_strict_superset() {
        let small = set(&format!("{A}:1-5"));
        let big = set(&format!("{A}:1-6"));
        assert!(small.is_subset_of(&big));
        assert!(!big.is_subset_of(&small));
        assert!(big.is_strict_superset_of(&small));
        assert!(!small.is_strict_superset_of(&small));
        assert!(GtidSet::new().is_subset_of(&small));
        let other = set(&format!("{B}:1"));
        assert!(!other.is_subset_of(&big));
    }

    #[test]
    fn contains_and_last() {
        let s = set(&format!("{A}:1-3:9"));
        assert!(s.contains(A, 2) && s.contains(A, 9) && !s.contains(A, 5) && !s.contains(B, 1));
        assert_eq!(s.last(A), 9);
        assert_eq!(s.last(B), 0);
    }
}

/// Laws of the interval arithmetic, checked against a naive model: a set of `(uuid, gno)`.
#[cfg(test)]
mod laws {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::GtidSet;

    const UUIDS: [&str; 3] = [
        "3e11fa47-71ca-11e1-9e33-c80aa9429562",
        "4f22fb58-82db-22f2-af44-d91bba530673",
        "aaaaaaaa-0000-4000-8000-000000000001",
    ];

    type Model = BTreeSet<(usize, u64)>;

    /// Random intervals over three UUIDs with small numbers, so they overlap and touch often.
    fn model() -> impl Strategy<Value = Model> {
        prop::collection::vec((0usize..3, 1u64..40, 0u64..6), 0..8).prop_map(|ivs| {
            ivs.into_iter()
                .flat_map(|(u, lo, len)| (lo..=lo + len).map(move |n| (u, n)))
                .collect()
        })
    }

    fn build(m: &Model) -> GtidSet {
        let mut s = GtidSet::new();
        for &(u, n) in m {
            s.add(UUIDS[u], n);
        }
        s
    }

    fn flatten(s: &GtidSet) -> Model {
        s.iter()
            .map(|(u, n)| (UUIDS.iter().position(|x| *x == u).unwrap(), n))
            .collect()
    }

    proptest! {
        #[test]
        fn union_subtract_subset_match_the_model(a in model(), b in model()) {
            let (sa, sb) = (build(&a), build(&b));
            prop_assert_eq!(flatten(&sa.union(&sb)), a.union(&b).copied().collect::<Model>());
            prop_assert_eq!(flatten(&sa.subtract(&sb)), a.difference(&b).copied().collect::<Model>());
            prop_assert_eq!(sa.is_subset_of(&sb), a.is_subset(&b));
            prop_assert_eq!(sa.is_strict_superset_of(&sb), a.is_superset(&b) && a != b);
            prop_assert_eq!(sa.count(), a.len() as u64);
            prop_assert_eq!(sa.is_empty(), a.is_empty());
        }

        #[test]
        fn algebraic_laws(a in model(), b in model(), c in model()) {
            let (sa, sb, sc) = (build(&a), build(&b), build(&c));
            prop_assert_eq!(sa.union(&sb), sb.union(&sa));
            prop_assert_eq!(sa.union(&sb).union(&sc), sa.union(&sb.union(&sc)));
            prop_assert_eq!(sa.union(&sa), sa.clone());
            prop_assert!(sa.is_subset_of(&sa.union(&sb)));
            prop_assert!(sa.subtract(&sb).is_subset_of(&sa));
            prop_assert_eq!(sa.subtract(&sb).union(&sb), sa.union(&sb));
            prop_assert!(sa.subtract(&sa).is_empty());
            // Equal sets are equal values (the representation is canonical).
            prop_assert_eq!(sa == sb, a == b);
        }

        #[test]
        fn format_parse_round_trip(a in model()) {
            let s = build(&a);
            let text = s.to_string();
            prop_assert_eq!(GtidSet::parse(&text).unwrap(), s.clone());
            let mut by_interval = GtidSet::new();
            for (u, n) in s.iter() {
                by_interval.add_interval(u, n, n);
            }
            prop_assert_eq!(by_interval, s);
        }
    }
}
