//! FLAP-D: across a controller restart the anti-flap record survives: what the controller
//! publishes afterwards (status `lastFailover{,Target}`) is the newest successful durable
//! write from before the restart (status or annotation, ±1s), until its next promotion.

use super::truth::{fmt_secs, promotions};
use super::{Input, Verdict};
use crate::trace::{EventKind, StatusClaim};
use crate::world::CONTROLLER_HOST;

fn stamp(v: &Option<String>) -> Option<i64> {
    v.as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_millis())
}

/// The newest of the two durable records of a claim.
fn durable(c: &StatusClaim) -> Option<(i64, String)> {
    let s =
        stamp(&c.last_failover).map(|t| (t, c.last_failover_target.clone().unwrap_or_default()));
    let a =
        stamp(&c.annotated_failover).map(|t| (t, c.annotated_target.clone().unwrap_or_default()));
    match (s, a) {
        (Some(s), Some(a)) => Some(if a.0 > s.0 { a } else { s }),
        (s, a) => s.or(a),
    }
}

pub fn flap_durable(input: &Input) -> Verdict {
    let promos = promotions(input.events);
    let restarts: Vec<u64> = input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Host { host, up: true } if host == CONTROLLER_HOST => Some(e.at_ms),
            _ => None,
        })
        .collect();
    if restarts.is_empty() {
        return Verdict::new(
            "FLAP-D",
            false,
            "-",
            "no controller restart in the run: FLAP-D needs a controller-restart fault",
        );
    }
    let mut violations = vec![];
    let mut worst = 0i64;
    for r in &restarts {
        let before = input
            .events
            .iter()
            .take_while(|e| e.at_ms < *r)
            .filter_map(|e| match &e.kind {
                EventKind::GroupStatus(c) => Some((**c).clone()),
                _ => None,
            })
            .last()
            .unwrap_or_default();
        let record = durable(&before);
        let next_promo = promos
            .iter()
            .map(|(t, _)| *t)
            .find(|t| t > r)
            .unwrap_or(u64::MAX);
        for e in input
            .events
            .iter()
            .filter(|e| e.at_ms > *r && e.at_ms < next_promo)
        {
            let EventKind::GroupStatus(c) = &e.kind else {
                continue;
            };
            let published = stamp(&c.last_failover)
                .map(|t| (t, c.last_failover_target.clone().unwrap_or_default()));
            let problem = match (&record, &published) {
                (Some((t, target)), Some((pt, ptarget))) => {
                    worst = worst.max((t - pt).abs());
                    ((t - pt).abs() > 1_000 || target != ptarget).then(|| {
                        format!("published {ptarget}@{pt}ms, durable record {target}@{t}ms")
                    })
                }
                (Some((_, target)), None) => {
                    Some(format!("record of the failover to {target} lost"))
                }
                (None, Some((_, ptarget))) => {
                    Some(format!("a failover to {ptarget} appeared from nowhere"))
                }
                (None, None) => None,
            };
            if let Some(p) = problem {
                violations.push(format!(
                    "after the restart at {}: {p} (at {})",
                    fmt_secs(*r),
                    fmt_secs(e.at_ms)
                ));
                break;
            }
        }
    }
    let figure = format!(
        "{} restart(s), record drift {}",
        restarts.len(),
        fmt_secs(worst as u64)
    );
    match violations.first() {
        None => Verdict::new("FLAP-D", true, figure, "anti-flap record rehydrated"),
        Some(first) => Verdict::new(
            "FLAP-D",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}
