//! Violations the spec classifies as inherent, not failures:
//! - SCENARIOS.md FLAP classes: a controller that crashed after a promotion's unfence but
//!   before either durable record (status `lastFailover`, the anti-flap annotation) reached
//!   the apiserver cannot know the cooldown when it restarts: FLAP
//!   `inherent (restart+stateLost)`;
//! - no automatic resolution by design, where the properties that need one writer at the
//!   end (CONV, RPO-A, EG) cannot hold:
//!   - NoPrimary (spec §3.2 step 4, §3.7): an all-read-only group never elects a primary;
//!     only re-assert can restore one, and only a recorded target whose GTID set contains
//!     every peer's;
//!   - manual split brain (spec §3.6 default): two writable candidates with neither
//!     `sitePriorities` nor a writable recorded target are reported, never fenced.

use bloodraven::gtid::GtidSet;

use crate::oracles::truth::controller_logs;
use crate::report::Report;
use crate::scenario::Scenario;
use crate::trace::EventKind;
use crate::world::CONTROLLER_HOST;

/// `Some(class)` when every failing verdict of `report` (a run of `scenario`) is an
/// inherent case.
pub fn classify(scenario: &Scenario, report: &Report) -> Option<String> {
    flap_state_lost(report).or_else(|| unresolved_by_design(scenario, report))
}

/// Every failing verdict needs a single writer at the end, and the end state is one the
/// controller leaves to a human by design.
fn unresolved_by_design(scenario: &Scenario, report: &Report) -> Option<String> {
    let needs_writer = ["CONV", "RPO-A", "EG"];
    let mut failing = report.verdicts.iter().filter(|v| !v.pass).peekable();
    failing.peek()?;
    if !failing.all(|v| needs_writer.contains(&v.property.as_str())) {
        return None;
    }
    let fin = &report.final_state;
    if fin.sites.is_empty() || !fin.sites.iter().all(|s| s.up) {
        return None;
    }
    let target = fin.status["lastFailoverTarget"]
        .as_str()
        .unwrap_or_default();
    let gtid = |name: &str| {
        fin.site(name)
            .map(|s| GtidSet::parse(&s.gtid_executed).unwrap_or_default())
            .unwrap_or_default()
    };
    let writers: Vec<&str> = fin
        .sites
        .iter()
        .filter(|s| !s.read_only)
        .map(|s| s.name.as_str())
        .collect();
    if writers.is_empty() {
        // Re-assert is owed only to a recorded target that contains every peer.
        let complete = !target.is_empty()
            && fin
                .sites
                .iter()
                .all(|s| gtid(&s.name).subtract(&gtid(target)).is_empty());
        return (!complete).then(|| {
            "NoPrimary by design (spec §3.2, §3.7): every site read-only and no GTID-complete recorded target".into()
        });
    }
    let manual =
        writers.len() >= 2 && scenario.topology.priorities.is_empty() && !writers.contains(&target);
    manual.then(|| {
        "manual split brain by design (spec §3.6): writable candidates with neither sitePriorities nor a writable recorded target".into()
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
