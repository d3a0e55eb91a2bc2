//! PLV on hand-built traces: a stalled poll loop must be reported, a turning one not.

use super::*;
use crate::scenario::parse;
use crate::trace::{Event, EventKind};
use crate::world::{CONTROLLER_HOST, CONTROLLER_SQL_USER};

fn judge_plv(events: &[Event]) -> Verdict {
    let s = parse(
        "t.toml",
        r#"
id = "t"
description = "synthetic"
duration = "60s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
[[faults]]
at = "20s"
op = "pause"
site = "a"
heal_at = "50s"
[expect]
properties = ["PLV"]
"#,
    )
    .unwrap();
    judge(&Input {
        events,
        fin: &Final::default(),
        scenario: &s,
        group: "demo",
    })
    .remove(0)
}

fn poll(at_s: f64, interval_s: u64) -> Event {
    Event {
        at_ms: (at_s * 1000.0) as u64,
        kind: EventKind::Poll {
            host: CONTROLLER_HOST.into(),
            interval_ms: interval_s * 1000,
        },
    }
}

/// Polls every `every` seconds from `from` up to `to` (inclusive), announcing 2s.
fn polls(from: f64, to: f64, every: f64) -> Vec<Event> {
    let mut v = vec![];
    let mut t = from;
    while t <= to + 1e-9 {
        v.push(poll(t, 2));
        t += every;
    }
    v
}

#[test]
fn plv_passes_a_loop_that_keeps_turning_through_probe_timeouts() {
    // 2s polls, then 7s apart while a hangs (2s + a 5s probe timeout), then 2s again.
    let mut events = polls(1.0, 21.0, 2.0);
    events.extend(polls(28.0, 49.0, 7.0));
    events.extend(polls(51.0, 59.0, 2.0));
    let v = judge_plv(&events);
    assert!(v.pass, "{v:?}");
    assert_eq!(v.figure, "polls at most 5.0s late");
}

#[test]
fn plv_flags_a_poll_frozen_by_a_hung_read() {
    let mut events = polls(1.0, 21.0, 2.0);
    // Frozen from 21s until a thaws at 50s (issue #93).
    events.extend(polls(50.5, 59.0, 2.0));
    let v = judge_plv(&events);
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail
            .contains("no poll completed from 21.0s to the poll at 50.5s"),
        "{v:?}"
    );
}

#[test]
fn plv_flags_a_poll_that_never_returns() {
    let v = judge_plv(&polls(1.0, 21.0, 2.0));
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("to the end of the run at 60.0s"), "{v:?}");
}

#[test]
fn plv_flags_a_loop_that_never_polled() {
    let v = judge_plv(&[]);
    assert!(!v.pass, "{v:?}");
}

#[test]
fn plv_allows_a_promotion_its_budget_and_restarts_their_downtime() {
    let mut events = polls(1.0, 21.0, 2.0);
    // A promotion: mutations inside a 30s poll (drain), within the mutation budget.
    events.push(Event {
        at_ms: 30_000,
        kind: EventKind::Mutation {
            site: "b".into(),
            user: CONTROLLER_SQL_USER.into(),
            sql: "SET GLOBAL read_only = OFF".into(),
            ok: true,
        },
    });
    events.extend(polls(51.0, 53.0, 2.0));
    // The controller is down 53.5s..57s: no poll expected meanwhile.
    for (at, up) in [(53_500, false), (57_000, true)] {
        events.push(Event {
            at_ms: at,
            kind: EventKind::Host {
                host: CONTROLLER_HOST.into(),
                up,
            },
        });
    }
    events.extend(polls(58.0, 60.0, 2.0));
    let v = judge_plv(&events);
    assert!(v.pass, "{v:?}");
}
