//! Violations the spec classifies as inherent, not failures:
//! - SCENARIOS.md FLAP classes: a controller that crashed after a promotion's unfence but
//!   before either durable record (status `lastFailover`, the anti-flap annotation) reached
//!   the apiserver cannot know the cooldown when it restarts: FLAP
//!   `inherent (restart+stateLost)`;
//! - NoPrimary by design (spec §3.2 step 4, §3.7 re-assert; EG's exemption): with no
//!   recorded failover target, an all-read-only group never elects a primary, so the
//!   properties that need a writer at the end (CONV, RPO-A, EG) cannot hold.

use crate::oracles::truth::controller_logs;
use crate::report::Report;
use crate::trace::EventKind;
use crate::world::CONTROLLER_HOST;

/// `Some(class)` when every failing verdict of `report` is an inherent case.
pub fn classify(report: &Report) -> Option<String> {
    flap_state_lost(report).or_else(|| no_primary_by_design(report))
}

/// Every failing verdict needs a writer at the end, the group ends with every site up and
/// read-only, and no failover target is recorded (none configured, none completed).
fn no_primary_by_design(report: &Report) -> Option<String> {
    let needs_writer = ["CONV", "RPO-A", "EG"];
    let mut failing = report.verdicts.iter().filter(|v| !v.pass).peekable();
    failing.peek()?;
    if !failing.all(|v| needs_writer.contains(&v.property.as_str())) {
        return None;
    }
    let fin = &report.final_state;
    let target = fin.status["lastFailoverTarget"]
        .as_str()
        .unwrap_or_default();
    let all_read_only = !fin.sites.is_empty() && fin.sites.iter().all(|s| s.up && s.read_only);
    let completed = !controller_logs(&report.events, "failover complete").is_empty();
    (target.is_empty() && all_read_only && !completed).then(|| {
        "NoPrimary by design (spec §3.2, §3.7): every site read-only and no recorded failover target".into()
    })
}

/// Every failing verdict is an inherent FLAP case.
fn flap_state_lost(report: &Report) -> Option<String> {
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
                && matches!(&e.kind, EventKind::ApiWrite { ok: true, detail, .. }
                    if detail.contains("last-failover") || detail.contains("lastFailover"))
        });
        if recorded {
            return None;
        }
        any = true;
    }
    any.then(|| "FLAP inherent (restart+stateLost): the controller crashed between a promotion and its durable record".into())
}
