//! The oracles can fail: hand-built traces with a known violation must be reported.

use super::*;
use crate::scenario::parse;
use crate::trace::{Event, EventKind};
use crate::world::CONTROLLER_SQL_USER;

const A_UUID: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const B_UUID: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";

fn scenario(properties: &str) -> crate::scenario::Loaded {
    parse(
        "t.toml",
        &format!(
            r#"
id = "t"
description = "synthetic"
duration = "100s"
[topology]
sites = [{{ name = "a" }}, {{ name = "b" }}]
active = "a"
[[faults]]
at = "30s"
op = "node-down"
site = "a"
[expect]
properties = [{properties}]
new_primary = "b"
failover_within = "45s"
returning_site = "a"
"#
        ),
    )
    .unwrap()
}

fn ev(at_s: f64, kind: EventKind) -> Event {
    Event {
        at_ms: (at_s * 1000.0) as u64,
        kind,
    }
}

fn state(site: &str, read_only: bool) -> EventKind {
    EventKind::MysqlState {
        site: site.into(),
        up: true,
        read_only,
        super_read_only: read_only,
    }
}

fn commit(site: &str, uuid: &str, n: u64, row: u64) -> EventKind {
    EventKind::Commit {
        site: site.into(),
        gtid: format!("{uuid}:{n}"),
        row: Some(row),
        replicated: false,
    }
}

fn ack(id: u64, site: &str, uuid: &str, n: u64) -> EventKind {
    EventKind::Ack {
        id,
        site: site.into(),
        server_uuid: uuid.into(),
        gtid: format!("{uuid}:{n}"),
    }
}

fn probe(site: &str, read_only: bool) -> EventKind {
    EventKind::ReadOnlyProbe {
        site: site.into(),
        user: CONTROLLER_SQL_USER.into(),
        read_only,
    }
}

fn site(name: &str, read_only: bool, gtid: &str, rows: &[u64]) -> SiteTruth {
    SiteTruth {
        name: name.into(),
        up: true,
        read_only,
        gtid_executed: gtid.into(),
        rows: rows.to_vec(),
        ..Default::default()
    }
}

fn judge_one(property: &str, events: &[Event], fin: &Final) -> Verdict {
    let s = scenario(&format!("\"{property}\""));
    let v = judge(&Input {
        events,
        fin,
        scenario: &s,
        group: "demo",
    });
    v.into_iter().next().unwrap()
}

#[test]
fn sw_flags_two_acked_writers_inside_one_dual_interval() {
    let events = vec![
        ev(1.0, state("a", false)),
        ev(1.0, state("b", true)),
        ev(40.0, state("b", false)),
        ev(41.0, commit("a", A_UUID, 1, 1)),
        ev(41.0, ack(1, "a", A_UUID, 1)),
        ev(42.0, commit("b", B_UUID, 1, 2)),
        ev(42.0, ack(2, "b", B_UUID, 1)),
    ];
    let v = judge_one("SW", &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("a and b"), "{v:?}");
    // The same trace with the second write unacknowledged passes.
    let ok: Vec<Event> = events
        .iter()
        .filter(|e| !matches!(&e.kind, EventKind::Ack { id: 2, .. }))
        .cloned()
        .collect();
    assert!(judge_one("SW", &ok, &Final::default()).pass);
}

#[test]
fn dns_w_flags_dns_pointing_at_a_read_only_site() {
    let events = vec![
        ev(1.0, state("a", false)),
        ev(1.0, state("b", true)),
        ev(10.0, probe("b", false)),
        ev(
            11.0,
            EventKind::Dns {
                target: Some("b".into()),
            },
        ),
    ];
    let v = judge_one("DNS-W", &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("read-only"), "{v:?}");
    // Without any controller read of read_only=0, DNS-W fails even if b is writable.
    let events = vec![
        ev(1.0, state("b", false)),
        ev(
            11.0,
            EventKind::Dns {
                target: Some("b".into()),
            },
        ),
    ];
    assert!(!judge_one("DNS-W", &events, &Final::default()).pass);
    let good = vec![
        ev(1.0, state("b", false)),
        ev(10.0, probe("b", false)),
        ev(
            11.0,
            EventKind::Dns {
                target: Some("b".into()),
            },
        ),
    ];
    assert!(judge_one("DNS-W", &good, &Final::default()).pass);
}

#[test]
fn rpo_a_flags_a_lost_acked_write_on_the_final_primary() {
    let events = vec![
        ev(1.0, commit("b", B_UUID, 1, 7)),
        ev(1.0, ack(7, "b", B_UUID, 1)),
    ];
    let fin = Final {
        sites: vec![
            site("a", true, "", &[]),
            site("b", false, &format!("{B_UUID}:1"), &[]),
        ],
        ..Default::default()
    };
    let v = judge_one("RPO-A", &events, &fin);
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("silent loss"), "{v:?}");
    // A write acked by the old primary and never replicated is explained, not silent.
    let events = vec![
        ev(1.0, commit("a", A_UUID, 1, 7)),
        ev(1.0, ack(7, "a", A_UUID, 1)),
    ];
    let v = judge_one("RPO-A", &events, &fin);
    assert!(v.pass, "{v:?}");
    assert!(v.figure.starts_with("1 of 1"), "{v:?}");
}

#[test]
fn nda_flags_repointing_a_divergent_site() {
    let events = vec![
        ev(1.0, commit("a", A_UUID, 1, 1)),
        ev(1.0, commit("b", B_UUID, 1, 2)),
        ev(
            5.0,
            EventKind::ReplicationSource {
                site: "a".into(),
                source: "mysql-demo-b-internal".into(),
                executed: String::new(),
                source_executed: String::new(),
            },
        ),
    ];
    let v = judge_one("NDA", &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("a pointed at b"), "{v:?}");
}

#[test]
fn failover_flags_no_promotion_within_the_bound() {
    let events = vec![
        ev(1.0, state("a", false)),
        ev(1.0, EventKind::ActiveSite { site: "a".into() }),
        ev(
            1.0,
            EventKind::Dns {
                target: Some("a".into()),
            },
        ),
    ];
    let v = judge_one("FAILOVER", &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert_eq!(v.figure, "no failover");
}

#[test]
fn nofo_pre_flags_a_promotion_before_the_fault() {
    let events = vec![ev(
        10.0,
        EventKind::Mutation {
            site: "b".into(),
            user: CONTROLLER_SQL_USER.into(),
            sql: "SET GLOBAL read_only = OFF".into(),
            ok: true,
        },
    )];
    assert!(!judge_one("NOFO-PRE", &events, &Final::default()).pass);
    let after = vec![ev(
        31.0,
        EventKind::Mutation {
            site: "b".into(),
            user: CONTROLLER_SQL_USER.into(),
            sql: "SET GLOBAL read_only = OFF".into(),
            ok: true,
        },
    )];
    assert!(judge_one("NOFO-PRE", &after, &Final::default()).pass);
}

#[test]
fn rejoin_flags_a_divergent_site_not_reported_blocked() {
    let fin = Final {
        sites: vec![
            site("a", true, &format!("{A_UUID}:1-3"), &[]),
            site("b", false, &format!("{A_UUID}:1-2"), &[]),
        ],
        status: serde_json::json!({"activeSite": "b", "sites": [{"name": "a", "recoveryState": ""}]}),
        ..Default::default()
    };
    let v = judge_one("REJOIN", &[], &fin);
    assert!(!v.pass, "{v:?}");
    let blocked = Final {
        status: serde_json::json!({"activeSite": "b", "sites": [{"name": "a", "recoveryState": "RecoveryBlocked", "divergentTransactionCount": 1}]}),
        ..fin
    };
    assert!(judge_one("REJOIN", &[], &blocked).pass);
}
