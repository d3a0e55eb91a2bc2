//! EG: after the last heal (and any blocking cooldown), if a candidate is up, a writable
//! candidate exists within T_EG and stays until the end. Exempt by design: no recorded
//! failover target and every site read-only (`NoPrimary`).

use super::bounds::{
    end_ms, last_fault_ms, spans, Bounds, EVENTUALLY_MS, FAILOVER_HUNG_MS, PROBE_TIMEOUT_MS,
};
use super::truth::{fmt_secs, promotions, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn eventually_primary(input: &Input) -> Verdict {
    let b = Bounds::of(input);
    let end = end_ms(input);
    let t0 = input.t0_ms();
    let candidates = input.candidates();
    // Measured: time after the first fault with no writable candidate.
    let mut w = Writability::default();
    let gaps = spans(input.events, end, &mut w, |w, e| {
        w.apply(e);
        e.at_ms >= t0 && !candidates.iter().any(|c| w.writable(c))
    });
    let no_writer: u64 = gaps.iter().map(|(s, e)| e - s).sum();
    let longest = gaps.iter().map(|(s, e)| e - s).max().unwrap_or(0);
    let figure = format!(
        "{} without a writer (longest {})",
        fmt_secs(no_writer),
        fmt_secs(longest)
    );
    let heal = last_fault_ms(input);
    // A promotion the cooldown blocks at heal + T_EG may only happen once it ends.
    // An injection that never heals needs the failover bound B_fo (45s hung) instead.
    let last_is_heal = input
        .events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, EventKind::Fault { .. }))
        .is_none_or(|e| matches!(e.kind, EventKind::Fault { heal: true, .. }));
    let mut deadline = heal
        + if last_is_heal {
            EVENTUALLY_MS
        } else {
            input
                .scenario
                .failover_within
                .map_or(FAILOVER_HUNG_MS, |d| d.as_millis() as u64)
        };
    let mut w = Writability::default();
    for e in input.events.iter().take_while(|e| e.at_ms <= deadline) {
        w.apply(e);
    }
    if !candidates.iter().any(|c| w.writable(c)) {
        if let Some((p, _)) = promotions(input.events)
            .into_iter()
            .rfind(|(t, _)| *t <= deadline && t + b.cooldown_ms > deadline)
        {
            // Re-evaluated every poll; a promotion over a dead host takes up to 3τ.
            deadline = p + b.cooldown_ms + 3 * b.poll_ms + 3 * PROBE_TIMEOUT_MS;
        }
    }
    if deadline > end {
        return Verdict::new(
            "EG",
            false,
            figure,
            format!(
                "the run ends at {} before heal + T_EG ({}): lengthen the scenario so EG can be judged",
                fmt_secs(end),
                fmt_secs(deadline)
            ),
        );
    }
    let mut w = Writability::default();
    let mut up = std::collections::BTreeSet::new();
    let all_sites: Vec<String> = input
        .scenario
        .scenario
        .topology
        .sites
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let mut recorded = input.scenario.scenario.topology.history.is_some();
    let mut violation = None;
    let mut exempt = None;
    for e in input.events {
        w.apply(e);
        match &e.kind {
            EventKind::MysqlState { site, up: u, .. } => {
                if *u {
                    up.insert(site.clone());
                } else {
                    up.remove(site);
                }
            }
            EventKind::GroupStatus(c) => {
                recorded |= c.last_failover_target.is_some() || c.annotated_target.is_some();
            }
            _ => {}
        }
        if e.at_ms < deadline || violation.is_some() {
            continue;
        }
        if candidates.iter().any(|c| w.writable(c)) {
            continue;
        }
        if !candidates.iter().any(|c| up.contains(c)) {
            exempt.get_or_insert(format!("no candidate up at {}", fmt_secs(e.at_ms)));
        } else if !recorded && w.writers().is_empty() && all_sites.iter().all(|s| up.contains(s)) {
            exempt.get_or_insert(
                "no recorded target and every site up and read-only (NoPrimary by design)".into(),
            );
        } else {
            violation = Some(format!(
                "no writable candidate at {} (heal at {}, deadline {})",
                fmt_secs(e.at_ms),
                fmt_secs(heal),
                fmt_secs(deadline)
            ));
        }
    }
    match (violation, exempt) {
        (Some(v), _) => Verdict::new("EG", false, figure, v),
        (None, Some(x)) => Verdict::new("EG", true, figure, format!("exempt: {x}")),
        (None, None) => Verdict::new(
            "EG",
            true,
            figure,
            format!(
                "a writable candidate from {} to the end",
                fmt_secs(deadline)
            ),
        ),
    }
}
