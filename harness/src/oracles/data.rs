//! RPO-A: every acknowledged write is on the final primary, or its loss has a cause.

use std::collections::{BTreeMap, BTreeSet};

use super::truth::{controller_logs, fmt_secs, is_unfence, promotions, Executed};
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
    if let Some(stale) = stale_winner(input) {
        return Verdict::new("RPO-A", false, figure, stale);
    }
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

/// The freshness half of RPO-A: when the controller decided a failover ("initiating
/// failover"), no other candidate that answered that poll's probe as a read-only replica may
/// hold a strict superset of the GTIDs of the site it then promoted (a writer the controller
/// lost, read just before, is the old primary, not a candidate). The poll's probes start up to τ (5s, a hung
/// probe of the lost primary) before the decision; 2s of slack.
fn stale_winner(input: &Input) -> Option<String> {
    const REACHABLE_MS: u64 = 7_000;
    let candidates = input.candidates();
    let decisions = controller_logs(input.events, "initiating failover");
    let mut ex = Executed::default();
    let mut last_read: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    // (decision time, snapshot of candidates read recently, with their GTID sets)
    let mut pending: Option<(u64, Vec<(String, bloodraven::gtid::GtidSet)>)> = None;
    let mut next = decisions.iter().peekable();
    for e in input.events {
        while next.peek().is_some_and(|t| **t <= e.at_ms) {
            let t = *next.next().expect("peeked");
            let snap = candidates
                .iter()
                .filter(|c| {
                    last_read
                        .get(*c)
                        .is_some_and(|(r, ro)| *ro && r + REACHABLE_MS >= t)
                })
                .map(|c| (c.clone(), ex.of(c)))
                .collect();
            pending = Some((t, snap));
        }
        ex.apply(e);
        match &e.kind {
            EventKind::ReadOnlyProbe {
                site,
                user,
                read_only,
            } if user == crate::world::CONTROLLER_SQL_USER => {
                last_read.insert(site.clone(), (e.at_ms, *read_only));
            }
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == crate::world::CONTROLLER_SQL_USER && is_unfence(sql) => {
                let Some((t, snap)) = pending.take() else {
                    continue;
                };
                let Some((_, won)) = snap.iter().find(|(c, _)| c == site) else {
                    continue;
                };
                if let Some((fresher, set)) = snap
                    .iter()
                    .find(|(c, set)| c != site && set.is_strict_superset_of(won))
                {
                    return Some(format!(
                        "failover decided at {} promoted {site} while {fresher} held a strict superset of its GTIDs ({} more transaction(s))",
                        fmt_secs(t),
                        set.subtract(won).count()
                    ));
                }
            }
            _ => {}
        }
    }
    None
}
