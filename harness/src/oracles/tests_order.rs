//! PWO, FBP, DEB and PF's protocol order can fail: hand-built polls with a known violation are reported, and
//! the same polls in the sound order pass.

use super::*;
use crate::scenario::parse;
use crate::trace::{ApiWrite, Event, EventKind, SiteClaim, StatusClaim};
use crate::world::{CONTROLLER_HOST, CONTROLLER_SQL_USER};

fn judge_one(property: &str, events: &[Event]) -> Verdict {
    judge_with(property, events, &Final::default())
}

fn judge_with(property: &str, events: &[Event], fin: &Final) -> Verdict {
    let s = parse(
        "t.toml",
        &format!(
            r#"
id = "t"
description = "synthetic"
duration = "60s"
[topology]
sites = [{{ name = "a" }}, {{ name = "b" }}]
active = "a"
[expect]
properties = ["{property}"]
{extra}
"#,
            extra = if property == "PF" {
                "planned_phase = \"Succeeded\""
            } else {
                ""
            }
        ),
    )
    .unwrap();
    judge(&Input {
        events,
        fin,
        scenario: &s,
        group: "demo",
    })
    .remove(0)
}

fn ev(at_s: f64, kind: EventKind) -> Event {
    Event {
        at_ms: (at_s * 1000.0) as u64,
        kind,
    }
}

fn poll_done() -> EventKind {
    EventKind::Poll {
        host: CONTROLLER_HOST.into(),
        interval_ms: 2_000,
    }
}

fn probe(site: &str, read_only: bool) -> EventKind {
    EventKind::ReadOnlyProbe {
        site: site.into(),
        user: CONTROLLER_SQL_USER.into(),
        read_only,
    }
}

fn sql(site: &str, stmt: &str) -> EventKind {
    EventKind::Mutation {
        site: site.into(),
        user: CONTROLLER_SQL_USER.into(),
        sql: stmt.into(),
        ok: true,
    }
}

const FENCE: &str = "SET GLOBAL super_read_only = ON";
const UNFENCE: &str = "SET GLOBAL read_only = OFF";

fn state(site: &str, read_only: bool) -> EventKind {
    EventKind::MysqlState {
        site: site.into(),
        up: true,
        read_only,
        super_read_only: read_only,
    }
}

fn status_write() -> EventKind {
    EventKind::ApiWrite(Box::new(ApiWrite {
        verb: "patch".into(),
        resource: "mysqlfailovergroups".into(),
        name: "demo".into(),
        subresource: Some("status".into()),
        ok: true,
        detail: String::new(),
    }))
}

fn claim(site: &str, st: &str) -> EventKind {
    EventKind::GroupStatus(Box::new(StatusClaim {
        sites: vec![SiteClaim {
            name: site.into(),
            state: st.into(),
            ..Default::default()
        }],
        ..Default::default()
    }))
}

#[test]
fn pwo_flags_an_unfence_over_a_site_this_poll_read_writable() {
    let over_writer = vec![
        ev(1.0, poll_done()),
        ev(1.1, probe("a", false)),
        ev(1.5, sql("b", UNFENCE)),
    ];
    let v = judge_one("PWO", &over_writer);
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("probe of a"), "{v:?}");
    let fenced_first = vec![
        ev(1.0, poll_done()),
        ev(1.1, probe("a", false)),
        ev(1.3, sql("a", FENCE)),
        ev(1.5, sql("b", UNFENCE)),
    ];
    assert!(judge_one("PWO", &fenced_first).pass);
    // A writable read of an earlier poll is not this poll's probe (a's failed since).
    let stale = vec![
        ev(0.1, probe("a", false)),
        ev(1.0, poll_done()),
        ev(1.5, sql("b", UNFENCE)),
    ];
    assert!(judge_one("PWO", &stale).pass);
}

#[test]
fn fbp_flags_an_old_primary_fenced_after_the_candidate_unfence() {
    let late = vec![
        ev(0.5, state("a", false)),
        ev(0.5, state("b", true)),
        ev(1.0, poll_done()),
        ev(1.5, sql("b", UNFENCE)),
        ev(1.5, state("b", false)),
        ev(1.6, sql("a", FENCE)),
        ev(1.6, state("a", true)),
        ev(2.0, poll_done()),
    ];
    let v = judge_one("FBP", &late);
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("fenced a only at 1.6s"), "{v:?}");
    let in_order = vec![
        ev(0.5, state("a", false)),
        ev(0.5, state("b", true)),
        ev(1.0, poll_done()),
        ev(1.4, sql("a", FENCE)),
        ev(1.4, state("a", true)),
        ev(1.5, sql("b", UNFENCE)),
        ev(1.5, state("b", false)),
        ev(2.0, poll_done()),
    ];
    assert!(judge_one("FBP", &in_order).pass);
}

#[test]
fn deb_flags_unreachable_after_one_failed_poll() {
    // Probe answered in poll 0, none in poll 1, whose status claims a unreachable.
    let early = vec![
        ev(0.1, probe("a", false)),
        ev(1.0, poll_done()),
        ev(1.5, status_write()),
        ev(1.6, claim("a", "unreachable")),
    ];
    let v = judge_one("DEB", &early);
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("unreachable"), "{v:?}");
    // Three unanswered polls (1, 2, 3) before the claim: debounced.
    let debounced = vec![
        ev(0.1, probe("a", false)),
        ev(1.0, poll_done()),
        ev(3.0, poll_done()),
        ev(5.0, poll_done()),
        ev(5.5, status_write()),
        ev(5.6, claim("a", "unreachable")),
    ];
    assert!(judge_one("DEB", &debounced).pass);
}

#[test]
fn deb_flags_writable_after_one_writable_probe_without_an_unfence() {
    let early = vec![
        ev(0.1, probe("b", true)),
        ev(1.0, poll_done()),
        ev(1.1, probe("b", false)),
        ev(1.5, status_write()),
        ev(1.6, claim("b", "writable")),
    ];
    assert!(!judge_one("DEB", &early).pass);
    let mut promoted = early.clone();
    promoted.insert(3, ev(1.2, sql("b", UNFENCE)));
    assert!(judge_one("DEB", &promoted).pass);
    let debounced = vec![
        ev(0.1, probe("b", false)),
        ev(1.0, poll_done()),
        ev(1.1, probe("b", false)),
        ev(1.5, status_write()),
        ev(1.6, claim("b", "writable")),
    ];
    assert!(judge_one("DEB", &debounced).pass);
}

#[test]
fn pf_flags_a_planned_target_unfenced_before_the_source_is_fenced() {
    let fin = Final {
        status: serde_json::json!({"plannedFailover": {
            "phase": "Succeeded", "sourcePrimary": "a", "targetSite": "b", "transactionsLost": 0
        }}),
        ..Default::default()
    };
    let annotate = EventKind::Fault {
        op: "annotate".into(),
        detail: "bloodraven.shipstream.io/planned-failover=b".into(),
        heal: false,
    };
    let early = vec![
        ev(0.5, state("a", false)),
        ev(0.5, state("b", true)),
        ev(30.0, annotate.clone()),
        ev(40.0, sql("b", UNFENCE)),
        ev(40.0, state("b", false)),
    ];
    let v = judge_with("PF", &early, &fin);
    assert!(
        v.detail
            .contains("target b unfenced while the source a was still writable"),
        "{v:?}"
    );
    let in_order = vec![
        ev(0.5, state("a", false)),
        ev(0.5, state("b", true)),
        ev(30.0, annotate),
        ev(36.0, sql("a", FENCE)),
        ev(36.0, state("a", true)),
        ev(40.0, sql("b", UNFENCE)),
        ev(40.0, state("b", false)),
    ];
    let v = judge_with("PF", &in_order, &fin);
    assert!(!v.detail.contains("still writable"), "{v:?}");
}
