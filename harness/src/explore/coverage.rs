//! "Sometimes" assertions: interesting states a campaign should reach at least once. Each
//! is a predicate over one trace event; a campaign reports how many runs reached each, and
//! names the ones it never reached.

use crate::trace::{Event, EventKind};

fn log_starts(e: &Event, prefix: &str) -> bool {
    matches!(&e.kind, EventKind::Log { msg, .. } if msg.starts_with(prefix))
}

pub type Sometimes = (&'static str, fn(&Event) -> bool);

pub const SOMETIMES: &[Sometimes] = &[
    ("failover completed", |e| log_starts(e, "failover complete")),
    ("split brain observed", |e| {
        log_starts(e, "ALERT SPLIT BRAIN")
    }),
    ("split brain auto-resolved", |e| {
        log_starts(e, "split-brain auto-resolve") || log_starts(e, "fencing returning old primary")
    }),
    ("divergent rejoin blocked", |e| {
        log_starts(e, "divergence detected")
    }),
    ("cooldown blocked a failover", |e| {
        log_starts(e, "failover blocked by anti-flap cooldown")
    }),
    (
        "sidecar self-fence fired",
        |e| matches!(&e.kind, EventKind::Log { msg, .. } if msg.starts_with("SELF-FENC")),
    ),
    ("old primary rejoined", |e| {
        log_starts(e, "old primary recovery complete")
    }),
    ("primary re-asserted", |e| {
        log_starts(e, "primary re-assert confirmed")
    }),
    (
        "controller crashed mid-failover",
        |e| matches!(&e.kind, EventKind::Fault { op, detail, .. } if op == "controller-crash" && detail.contains("crashed")),
    ),
    ("failover failed", |e| log_starts(e, "failover failed")),
];

/// Which of [`SOMETIMES`] a run's trace reached, by index.
pub fn reached(events: &[Event]) -> Vec<bool> {
    SOMETIMES
        .iter()
        .map(|(_, p)| events.iter().any(p))
        .collect()
}
