//! SW-H, EG, DNS-C, STATUS, EVENTS, FLAP-D and TAINT can fail: each hand-built trace with
//! a known violation is reported, and the repaired trace passes.

use super::*;
use crate::scenario::parse;
use crate::trace::{ApiWrite, Event, EventKind, SiteClaim, StatusClaim};
use crate::world::{CONTROLLER_HOST, CONTROLLER_SQL_USER};

fn scenario(properties: &str, faults: &str) -> crate::scenario::Loaded {
    parse(
        "t.toml",
        &format!(
            r#"
id = "t"
description = "synthetic"
duration = "100s"
[topology]
sites = [{{ name = "a" }}, {{ name = "b" }}, {{ name = "r", role = "read-only" }}]
active = "a"
{faults}
[expect]
properties = [{properties}]
"#
        ),
    )
    .unwrap()
}

const NODE_DOWN: &str = "[[faults]]\nat = \"30s\"\nop = \"node-down\"\nsite = \"a\"";
const RESTART: &str = "[[faults]]\nat = \"55s\"\nop = \"controller-restart\"";

fn ev(at_s: f64, kind: EventKind) -> Event {
    Event {
        at_ms: (at_s * 1000.0) as u64,
        kind,
    }
}

fn state(site: &str, up: bool, read_only: bool) -> EventKind {
    EventKind::MysqlState {
        site: site.into(),
        up,
        read_only,
        super_read_only: read_only,
    }
}

fn unfence(site: &str) -> EventKind {
    EventKind::Mutation {
        site: site.into(),
        user: CONTROLLER_SQL_USER.into(),
        sql: "SET GLOBAL read_only = OFF".into(),
        ok: true,
    }
}

fn fault(op: &str, heal: bool) -> EventKind {
    EventKind::Fault {
        op: op.into(),
        detail: "a".into(),
        heal,
    }
}

fn claim(active: &str, states: &[(&str, &str)]) -> StatusClaim {
    StatusClaim {
        active_site: active.into(),
        sites: states
            .iter()
            .map(|(n, s)| SiteClaim {
                name: (*n).into(),
                state: (*s).into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn truth(name: &str, up: bool, read_only: bool) -> SiteTruth {
    SiteTruth {
        name: name.into(),
        up,
        read_only,
        ..Default::default()
    }
}

fn judge_one(property: &str, faults: &str, events: &[Event], fin: &Final) -> Verdict {
    let s = scenario(&format!("\"{property}\""), faults);
    judge(&Input {
        events,
        fin,
        scenario: &s,
        group: "demo",
    })
    .remove(0)
}

/// The usual start: a writable, b and the reader r read-only.
fn start() -> Vec<Event> {
    vec![
        ev(0.0, state("a", true, false)),
        ev(0.0, state("b", true, true)),
        ev(0.0, state("r", true, true)),
    ]
}

#[test]
fn sw_h_flags_a_deposed_primary_writable_past_the_horizon() {
    let mut events = start();
    events.push(ev(40.0, unfence("b")));
    events.push(ev(40.0, state("b", true, false)));
    events.push(ev(
        41.0,
        EventKind::Ack {
            id: 7,
            site: "a".into(),
            server_uuid: "u".into(),
            gtid: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa:9".into(),
        },
    ));
    let fin = Final {
        sites: vec![truth("a", true, true), truth("b", true, false)],
        ..Default::default()
    };
    let mut late = events.clone();
    late.push(ev(80.0, state("a", true, true)));
    let v = judge_one("SW-H", NODE_DOWN, &late, &fin);
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("still writable 40.0s"), "{v:?}");
    // The late ack vanished: neither on b nor kept on a.
    assert!(v.detail.contains("2 violation(s)"), "{v:?}");
    // Fenced within H, with the ack kept as a's divergence: passes.
    let mut ok = events;
    ok.push(ev(55.0, state("a", true, true)));
    let fin = Final {
        sites: vec![
            SiteTruth {
                gtid_executed: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa:1-9".into(),
                ..truth("a", true, true)
            },
            truth("b", true, false),
        ],
        ..Default::default()
    };
    let v = judge_one("SW-H", NODE_DOWN, &ok, &fin);
    assert!(v.pass, "{v:?}");
    assert!(
        v.figure.contains("15.0s") && v.figure.contains("1 late ack"),
        "{v:?}"
    );
}

#[test]
fn eg_flags_no_writer_after_the_failover_bound() {
    let mut events = start();
    events.push(ev(30.0, fault("node-down", false)));
    events.push(ev(30.0, state("a", false, true)));
    events.push(ev(99.0, state("r", true, true)));
    let v = judge_one("EG", NODE_DOWN, &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(v.detail.contains("no writable candidate"), "{v:?}");
    let mut ok = events.clone();
    ok.insert(5, ev(50.0, state("b", true, false)));
    let v = judge_one("EG", NODE_DOWN, &ok, &Final::default());
    assert!(v.pass, "{v:?}");
    assert!(v.figure.starts_with("20.0s without a writer"), "{v:?}");
}

#[test]
fn dns_c_flags_dns_lagging_active_site() {
    let mut events = start();
    events.push(ev(2.0, EventKind::ActiveSite { site: "a".into() }));
    events.push(ev(
        2.5,
        EventKind::Dns {
            target: Some("a".into()),
        },
    ));
    events.push(ev(50.0, EventKind::ActiveSite { site: "b".into() }));
    let mut stale = events.clone();
    stale.push(ev(
        60.0,
        EventKind::Dns {
            target: Some("b".into()),
        },
    ));
    let v = judge_one("DNS-C", NODE_DOWN, &stale, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert_eq!(v.figure, "DNS staleness 10.0s");
    // Stuck until the end: also reported.
    let v = judge_one("DNS-C", NODE_DOWN, &events, &Final::default());
    assert!(!v.pass && v.detail.contains("at the end"), "{v:?}");
    let mut ok = events;
    ok.push(ev(
        51.0,
        EventKind::Dns {
            target: Some("b".into()),
        },
    ));
    assert!(judge_one("DNS-C", NODE_DOWN, &ok, &Final::default()).pass);
}

#[test]
fn status_flags_active_site_naming_a_read_only_site_and_a_wrong_end_state() {
    let mut events = start();
    events.push(ev(
        2.0,
        EventKind::GroupStatus(Box::new(claim("a", &[("a", "writable")]))),
    ));
    events.push(ev(40.0, state("a", true, true)));
    events.push(ev(40.0, state("b", true, false)));
    let fin = Final {
        sites: vec![
            truth("a", true, true),
            truth("b", true, false),
            truth("r", true, true),
        ],
        status: serde_json::json!({"activeSite": "b", "sites": [
            {"name": "a", "state": "read-only"}, {"name": "b", "state": "writable"},
            {"name": "r", "state": "read-only"}]}),
        dns_target: None,
    };
    let mut stale = events.clone();
    stale.push(ev(60.0, EventKind::GroupStatus(Box::new(claim("b", &[])))));
    let v = judge_one("STATUS", NODE_DOWN, &stale, &fin);
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail.contains("activeSite named a from 40.0s to 60.0s"),
        "{v:?}"
    );
    let mut ok = events;
    ok.push(ev(45.0, EventKind::GroupStatus(Box::new(claim("b", &[])))));
    assert!(judge_one("STATUS", NODE_DOWN, &ok, &fin).pass);
    // The end state must match ground truth too.
    let mut lying = fin.clone();
    lying.status["sites"][0]["state"] = "writable".into();
    let v = judge_one("STATUS", NODE_DOWN, &ok, &lying);
    assert!(
        !v.pass && v.detail.contains("a claimed \"writable\""),
        "{v:?}"
    );
}

#[test]
fn events_flags_failover_event_before_its_status_write_and_wrong_counts() {
    let status_write = |ok| {
        EventKind::ApiWrite(Box::new(ApiWrite {
            verb: "patch".into(),
            resource: "mysqlfailovergroups".into(),
            name: "demo".into(),
            subresource: Some("status".into()),
            ok,
            detail: String::new(),
        }))
    };
    let failover_event = EventKind::KubeEvent {
        reason: "FailoverExecuted".into(),
        warning: false,
        message: "m".into(),
        count: 1,
    };
    let log = EventKind::Log {
        host: CONTROLLER_HOST.into(),
        level: "INFO".into(),
        msg: "failover complete".into(),
    };
    let early = vec![
        ev(40.0, unfence("b")),
        ev(40.1, log.clone()),
        ev(40.2, status_write(false)),
        ev(40.5, failover_event.clone()),
    ];
    let v = judge_one("EVENTS", NODE_DOWN, &early, &Final::default());
    assert!(
        !v.pass && v.detail.contains("without a successful status write"),
        "{v:?}"
    );
    let ok = vec![
        ev(40.0, unfence("b")),
        ev(40.1, log.clone()),
        ev(40.2, status_write(true)),
        ev(40.5, failover_event.clone()),
    ];
    assert!(judge_one("EVENTS", NODE_DOWN, &ok, &Final::default()).pass);
    // A completed failover without its Event.
    let missing = vec![ev(40.0, unfence("b")), ev(40.1, log)];
    let v = judge_one("EVENTS", NODE_DOWN, &missing, &Final::default());
    assert!(!v.pass && v.detail.contains("0 Event(s) for 1"), "{v:?}");
}

#[test]
fn flap_d_flags_a_record_lost_across_a_restart() {
    let recorded = StatusClaim {
        last_failover: Some("2026-01-01T00:00:40Z".into()),
        last_failover_target: Some("b".into()),
        ..claim("b", &[])
    };
    let host = |up| EventKind::Host {
        host: CONTROLLER_HOST.into(),
        up,
    };
    let base = vec![
        ev(41.0, EventKind::GroupStatus(Box::new(recorded.clone()))),
        ev(55.0, host(false)),
        ev(60.0, host(true)),
    ];
    let mut lost = base.clone();
    lost.push(ev(62.0, EventKind::GroupStatus(Box::new(claim("b", &[])))));
    let v = judge_one("FLAP-D", RESTART, &lost, &Final::default());
    assert!(
        !v.pass && v.detail.contains("record of the failover to b lost"),
        "{v:?}"
    );
    let mut drift = base.clone();
    drift.push(ev(
        62.0,
        EventKind::GroupStatus(Box::new(StatusClaim {
            last_failover: Some("2026-01-01T00:01:02Z".into()),
            ..recorded.clone()
        })),
    ));
    assert!(!judge_one("FLAP-D", RESTART, &drift, &Final::default()).pass);
    let mut ok = base;
    ok.push(ev(
        62.0,
        EventKind::GroupStatus(Box::new(StatusClaim {
            active_site: "b".into(),
            sites: vec![SiteClaim::default()],
            ..recorded
        })),
    ));
    assert!(judge_one("FLAP-D", RESTART, &ok, &Final::default()).pass);
}

#[test]
fn taint_flags_a_tainted_writer_and_a_tainted_reader() {
    let taint = |site: &str, present| EventKind::Taint {
        node: format!("node-{site}"),
        site: site.into(),
        key: "shipstream.io/db-readonly-demo".into(),
        present,
    };
    let mut events = start();
    events.push(ev(
        1.0,
        EventKind::GroupStatus(Box::new(claim("a", &[("a", "writable")]))),
    ));
    events.push(ev(1.5, taint("b", true)));
    let fin = Final {
        sites: vec![
            truth("a", true, false),
            truth("b", true, true),
            truth("r", true, true),
        ],
        ..Default::default()
    };
    let mut bad = events.clone();
    bad.push(ev(10.0, taint("a", true)));
    bad.push(ev(99.0, state("r", true, true)));
    let v = judge_one("TAINT", NODE_DOWN, &bad, &fin);
    assert!(
        !v.pass && v.detail.contains("a's node tainted while writable"),
        "{v:?}"
    );
    let mut reader = events.clone();
    reader.push(ev(10.0, taint("r", true)));
    let v = judge_one("TAINT", NODE_DOWN, &reader, &fin);
    assert!(!v.pass && v.detail.contains("reader r"), "{v:?}");
    let mut untainted = start();
    untainted.push(ev(
        1.0,
        EventKind::GroupStatus(Box::new(claim("a", &[("a", "writable")]))),
    ));
    untainted.push(ev(99.0, state("r", true, true)));
    let v = judge_one("TAINT", NODE_DOWN, &untainted, &fin);
    assert!(!v.pass && v.detail.contains("b's node untainted"), "{v:?}");
    assert!(judge_one("TAINT", NODE_DOWN, &events, &fin).pass);
}

#[test]
fn taint_judges_canaries_and_foreign_taints() {
    let taint = |site: &str, key: &str, present| EventKind::Taint {
        node: format!("node-{site}"),
        site: site.into(),
        key: key.into(),
        present,
    };
    let canary = |pod: &str, tolerates, present| EventKind::Canary {
        pod: pod.into(),
        node: "node-b".into(),
        site: "b".into(),
        tolerates,
        present,
    };
    let ours = "shipstream.io/db-readonly-demo";
    let foreign = "shipstream.io/db-readonly-inventory";
    let mut events = start();
    events.push(ev(0.5, taint("a", foreign, true)));
    events.push(ev(0.5, canary("canary-b-tolerant", true, true)));
    events.push(ev(0.5, canary("canary-b-intolerant", false, true)));
    events.push(ev(
        1.0,
        EventKind::GroupStatus(Box::new(claim("a", &[("a", "writable")]))),
    ));
    events.push(ev(1.5, taint("b", ours, true)));
    let fin = Final {
        sites: vec![
            truth("a", true, false),
            truth("b", true, true),
            truth("r", true, true),
        ],
        ..Default::default()
    };
    let mut good = events.clone();
    good.push(ev(1.6, canary("canary-b-intolerant", false, false)));
    assert!(judge_one("TAINT", NODE_DOWN, &good, &fin).pass);
    // The intolerant canary survives our taint.
    let v = judge_one("TAINT", NODE_DOWN, &events, &fin);
    assert!(!v.pass && v.detail.contains("still runs"), "{v:?}");
    // The tolerating canary is evicted.
    let mut bad = good.clone();
    bad.push(ev(2.0, canary("canary-b-tolerant", true, false)));
    let v = judge_one("TAINT", NODE_DOWN, &bad, &fin);
    assert!(
        !v.pass && v.detail.contains("tolerating the taint evicted"),
        "{v:?}"
    );
    // Evicted before our taint: by something else.
    let mut early = events[..events.len() - 1].to_vec();
    early.push(ev(1.2, canary("canary-b-intolerant", false, false)));
    early.push(ev(1.5, taint("b", ours, true)));
    let v = judge_one("TAINT", NODE_DOWN, &early, &fin);
    assert!(!v.pass && v.detail.contains("carried no taint"), "{v:?}");
    // The foreign taint removed.
    let mut foreign_gone = good.clone();
    foreign_gone.push(ev(3.0, taint("a", foreign, false)));
    let v = judge_one("TAINT", NODE_DOWN, &foreign_gone, &fin);
    assert!(!v.pass && v.detail.contains("foreign taint"), "{v:?}");
}

#[test]
fn rpo_a_names_the_drain_budget_cause_only_when_the_controller_logged_it() {
    let ack = EventKind::Ack {
        id: 5,
        site: "a".into(),
        server_uuid: "u".into(),
        gtid: "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa:5".into(),
    };
    let drain_log = EventKind::Log {
        host: CONTROLLER_HOST.into(),
        level: "WARN".into(),
        msg: "relay log drain did not complete cleanly, proceeding with promotion".into(),
    };
    let fin = Final {
        sites: vec![truth("a", false, true), truth("b", true, false)],
        ..Default::default()
    };
    let plain = vec![ev(20.0, ack.clone()), ev(40.0, unfence("b"))];
    let v = judge_one("RPO-A", NODE_DOWN, &plain, &fin);
    assert!(
        v.pass && v.detail.starts_with("1 not retrieved by"),
        "{v:?}"
    );
    let drained = vec![ev(20.0, ack), ev(39.0, drain_log), ev(40.0, unfence("b"))];
    let v = judge_one("RPO-A", NODE_DOWN, &drained, &fin);
    assert!(
        v.pass && v.detail.contains("relay drain budget ran out"),
        "{v:?}"
    );
}
