//! EVENTS: the Kubernetes Events the controller emits. Each scenario's `expect.events`
//! gives exact counts by reason (0 = forbidden). Always: one `FailoverExecuted` per
//! completed failover (unless the scenario states its own count), and each only after the
//! status write carrying that failover succeeded.

use std::collections::BTreeMap;

use super::truth::{controller_logs, fmt_secs, promotions};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn events(input: &Input) -> Verdict {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut violations = vec![];
    let promos = promotions(input.events);
    let mut last_status_write = None::<u64>;
    for e in input.events {
        match &e.kind {
            EventKind::ApiWrite(w)
                if w.ok
                    && w.resource == "mysqlfailovergroups"
                    && w.subresource.as_deref() == Some("status") =>
            {
                last_status_write = Some(e.at_ms);
            }
            EventKind::KubeEvent { reason, .. } => {
                *seen.entry(reason.clone()).or_default() += 1;
                if reason == "FailoverExecuted" {
                    let promo = promos.iter().rev().find(|(t, _)| *t <= e.at_ms);
                    let ok = match (promo, last_status_write) {
                        (Some((p, _)), Some(w)) => w >= *p,
                        _ => false,
                    };
                    if !ok {
                        violations.push(format!(
                            "FailoverExecuted seen at {} without a successful status write after its promotion ({:?})",
                            fmt_secs(e.at_ms),
                            promo.map(|(t, s)| format!("{s} at {}", fmt_secs(*t)))
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let expected = &input.scenario.scenario.expect.events;
    for (reason, n) in expected {
        let got = seen.get(reason).copied().unwrap_or(0);
        if got != *n {
            violations.push(format!("{reason}: {got} Event(s), expected {n}"));
        }
    }
    if !expected.contains_key("FailoverExecuted") {
        let completes = controller_logs(input.events, "failover complete").len() as u32;
        let got = seen.get("FailoverExecuted").copied().unwrap_or(0);
        if got != completes {
            violations.push(format!(
                "FailoverExecuted: {got} Event(s) for {completes} completed failover(s)"
            ));
        }
    }
    let figure = seen
        .iter()
        .filter(|(r, _)| expected.contains_key(*r) || *r == "FailoverExecuted")
        .map(|(r, n)| format!("{r}x{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let figure = if figure.is_empty() {
        format!("{} Event reason(s)", seen.len())
    } else {
        figure
    };
    match violations.first() {
        None => Verdict::new(
            "EVENTS",
            true,
            figure,
            format!("{} expected count(s) held", expected.len()),
        ),
        Some(first) => Verdict::new(
            "EVENTS",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}
