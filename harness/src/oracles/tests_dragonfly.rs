//! DF on hand-built end states: one serving master on the expected site; a stale master
//! is tolerated only stripped of traffic and reported as such.

use serde_json::json;

use super::dragonfly::dragonfly;
use super::{Final, Input};
use crate::scenario::parse;
use crate::trace::{Event, EventKind};

fn truth(site: &str, role: &str, serving: bool) -> Event {
    Event {
        at_ms: 100_000,
        kind: EventKind::DragonflyTruth {
            site: site.into(),
            up: true,
            role: role.into(),
            serving,
            keys: vec![],
        },
    }
}

/// DF's verdict with b expected active and `a` reported by the status as `a_status`.
fn judge(events: &[Event], a_status: &str) -> (bool, String) {
    let s = parse(
        "t.toml",
        r#"
id = "t"
description = "synthetic"
duration = "100s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
spec = { dragonfly = true }
[expect]
properties = ["DF"]
dragonfly_active = "b"
"#,
    )
    .unwrap();
    let fin = Final {
        sites: vec![],
        status: json!({"activeSite": "a", "dragonfly": {"activeSite": "b", "sites": [
            {"name": "a", "role": a_status}, {"name": "b", "role": "master"}]}}),
        dns_target: None,
    };
    let v = dragonfly(&Input {
        events,
        fin: &fin,
        scenario: &s,
        group: "demo",
    });
    (v.pass, v.detail)
}

#[test]
fn a_stripped_and_reported_stale_master_passes() {
    let ev = [truth("a", "master", false), truth("b", "master", true)];
    assert!(judge(&ev, "stale-master").0);
    assert!(judge(&ev, "unreachable").0);
}

#[test]
fn a_stale_master_the_status_calls_master_fails() {
    let ev = [truth("a", "master", false), truth("b", "master", true)];
    let (pass, detail) = judge(&ev, "master");
    assert!(
        !pass && detail.contains("status calls it \"master\""),
        "{detail}"
    );
}

#[test]
fn two_serving_masters_fail() {
    let ev = [truth("a", "master", true), truth("b", "master", true)];
    let (pass, detail) = judge(&ev, "stale-master");
    assert!(
        !pass && detail.contains("one serving Dragonfly master"),
        "{detail}"
    );
}

#[test]
fn traffic_to_a_replica_fails() {
    let ev = [truth("a", "replica", true), truth("b", "master", false)];
    let (pass, detail) = judge(&ev, "replica");
    assert!(!pass, "{detail}");
    assert!(detail.contains("selects a's Dragonfly"), "{detail}");
}
