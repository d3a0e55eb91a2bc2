//! UPD can fail: hand-built traces of an ordered update that stalls, runs out of order,
//! fails, or leaves a pod on its old template.

use super::*;
use crate::scenario::parse;
use crate::trace::{Event, EventKind, StatusClaim};

fn scenario() -> crate::scenario::Loaded {
    parse(
        "t.toml",
        r#"
id = "t"
description = "synthetic"
duration = "200s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
[[faults]]
at = "30s"
op = "spec-patch"
value = '{"image": "mysql:9.8"}'
[expect]
properties = ["UPD"]
"#,
    )
    .unwrap()
}

fn at(s: u64, kind: EventKind) -> Event {
    Event {
        at_ms: s * 1000,
        kind,
    }
}

fn updating(s: u64, condition: &str) -> Event {
    at(
        s,
        EventKind::GroupStatus(Box::new(StatusClaim {
            conditions: vec![format!("Updating={condition}")],
            ..Default::default()
        })),
    )
}

fn pod_replaced(s: u64, site: &str) -> Event {
    at(
        s,
        EventKind::Host {
            host: format!("mysql-demo-{site}-internal"),
            up: false,
        },
    )
}

fn judge_upd(events: &[Event]) -> Verdict {
    let s = scenario();
    let fin = Final {
        sites: vec![],
        status: serde_json::Value::Null,
        dns_target: None,
    };
    judge(&Input {
        events,
        fin: &fin,
        scenario: &s,
        group: "demo",
    })
    .remove(0)
}

fn good() -> Vec<Event> {
    vec![
        updating(1, "False/NotUpdating"),
        at(
            30,
            EventKind::Fault {
                op: "spec-patch".into(),
                detail: "{}".into(),
                heal: false,
            },
        ),
        updating(31, "True/UpdateReplica"),
        pod_replaced(32, "b"),
        updating(33, "True/WaitReplica"),
        updating(50, "True/Failover"),
        updating(80, "True/UpdateOldPrimary"),
        pod_replaced(81, "a"),
        updating(82, "True/WaitOldPrimary"),
        updating(100, "False/Complete"),
    ]
}

#[test]
fn upd_passes_an_update_in_order_that_completes() {
    let v = judge_upd(&good());
    assert!(v.pass, "{v:?}");
    assert_eq!(
        v.figure,
        "UpdateReplica → WaitReplica → Failover → UpdateOldPrimary → WaitOldPrimary"
    );
}

#[test]
fn upd_flags_a_stalled_an_unordered_a_failed_and_an_incomplete_update() {
    let mut stalled = good();
    stalled.truncate(6); // still in Failover at the end
    let v = judge_upd(&stalled);
    assert!(
        !v.pass && v.detail.contains("did not end Complete"),
        "{v:?}"
    );
    assert!(v.detail.contains("a's pod was never replaced"), "{v:?}");

    let mut unordered = good();
    unordered.insert(8, updating(85, "True/WaitReplica"));
    let v = judge_upd(&unordered);
    assert!(!v.pass && v.detail.contains("after a later phase"), "{v:?}");

    let mut failed = good();
    failed.insert(5, updating(40, "True/Failed"));
    let v = judge_upd(&failed);
    assert!(!v.pass && v.detail.contains("updatePhase Failed"), "{v:?}");

    let v = judge_upd(&good()[..1]);
    assert!(!v.pass && v.detail.contains("no spec-patch"), "{v:?}");
}
