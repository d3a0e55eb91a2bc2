//! Violations the spec classifies as inherent, not failures (SCENARIOS.md FLAP classes):
//! a controller that crashed after a promotion's unfence but before either durable record
//! (status `lastFailover`, the anti-flap annotation) reached the apiserver cannot know the
//! cooldown when it restarts: FLAP `inherent (restart+stateLost)`.

use crate::oracles::truth::controller_logs;
use crate::report::Report;
use crate::trace::EventKind;
use crate::world::CONTROLLER_HOST;

/// `Some(class)` when every failing verdict of `report` is an inherent FLAP case.
pub fn classify(report: &Report) -> Option<String> {
    let failing: Vec<&str> = report
        .verdicts
        .iter()
        .filter(|v| !v.pass)
        .map(|v| v.property.as_str())
        .collect();
    if failing != ["FLAP"] {
        return None;
    }
    let events = &report.events;
    let completes = controller_logs(events, "failover complete");
    let starts = controller_logs(events, "initiating failover");
    // Every start inside a cooldown must follow a lost record.
    let mut any = false;
    for s in &starts {
        let Some(prev) = completes.iter().filter(|c| *c < s).max().copied() else {
            continue;
        };
        let crash = events.iter().find(|e| {
            e.at_ms > prev
                && e.at_ms < *s
                && matches!(&e.kind, EventKind::Host { host, up: false } if host == CONTROLLER_HOST)
        });
        let Some(crash) = crash else { continue };
        let recorded = events.iter().any(|e| {
            e.at_ms > prev
                && e.at_ms <= crash.at_ms
                && matches!(&e.kind, EventKind::ApiWrite(w)
                    if w.ok && (w.detail.contains("last-failover") || w.detail.contains("lastFailover")))
        });
        if recorded {
            return None;
        }
        any = true;
    }
    any.then(|| "FLAP inherent (restart+stateLost): the controller crashed between a promotion and its durable record".into())
}
