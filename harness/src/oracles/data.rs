//! RPO-A: every acknowledged write is on the final primary, or its loss has a cause.

use std::collections::{BTreeMap, BTreeSet};

use super::truth::{fmt_secs, promotions};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn acked_loss(input: &Input) -> Verdict {
    let fin = input.fin;
    let Some(primary) = fin.sole_writer() else {
        return Verdict::new(
            "RPO-A",
            false,
            "-",
            "no single writable site at the end: loss cannot be judged",
        );
    };
    let rows: BTreeSet<u64> = primary.rows.iter().copied().collect();
    let promotions = promotions(input.events);
    let promoted_at = promotions
        .iter()
        .filter(|(_, s)| s == &primary.name)
        .map(|(t, _)| *t)
        .min();
    // Cause (b): the controller logs when it promotes with relay log left unapplied.
    let drain_incomplete = promoted_at.is_some_and(|p| {
        super::truth::controller_logs(input.events, "relay log drain did not complete cleanly")
            .iter()
            .any(|t| *t <= p)
    });
    let mut acked = 0u64;
    let mut causes: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in input.events {
        let EventKind::Ack { id, site, .. } = &e.kind else {
            continue;
        };
        acked += 1;
        if rows.contains(id) {
            continue;
        }
        let cause = if site == &primary.name {
            "silent"
        } else if promoted_at.is_some_and(|p| e.at_ms > p) {
            "acked by a deposed primary after the promotion"
        } else if drain_incomplete {
            "not retrieved, or left unapplied when the promotion's relay drain budget ran out (logged)"
        } else {
            "not retrieved by the promoted replica before it lost its source"
        };
        causes.entry(cause).or_default().push(*id);
    }
    let lost: usize = causes.values().map(Vec::len).sum();
    let figure = format!("{lost} of {acked} acked writes lost");
    let detail = causes
        .iter()
        .map(|(c, ids)| format!("{} {c} (ids {}..{})", ids.len(), ids[0], ids[ids.len() - 1]))
        .collect::<Vec<_>>()
        .join("; ");
    match causes.get("silent") {
        Some(ids) => Verdict::new(
            "RPO-A",
            false,
            figure,
            format!("silent loss: {} acked write(s) on {} are missing from it (first id {}, promoted at {})", ids.len(), primary.name, ids[0], promoted_at.map(fmt_secs).unwrap_or("-".into())),
        ),
        None => Verdict::new("RPO-A", true, figure, if detail.is_empty() { "no acked write lost".into() } else { detail }),
    }
}
