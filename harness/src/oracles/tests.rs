//! The oracles can fail: hand-built traces with a known violation must be reported.

use super::*;
use crate::scenario::parse;
use crate::trace::{Event, EventKind, ReplicationSource};
use crate::txn_gtid::TxnGtid;
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
        gtid: TxnGtid::new(uuid.into(), n),
        row: Some(row),
        replicated: false,
    }
}

fn ack(id: u64, site: &str, uuid: &str, n: u64) -> EventKind {
    EventKind::Ack {
        id,
        site: site.into(),
        server_uuid: uuid.into(),
        gtid: format!("{uuid}:{n}").into(),
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
            EventKind::ReplicationSource(Box::new(ReplicationSource {
                site: "a".into(),
                source: "mysql-demo-b-internal".into(),
                executed: String::new(),
                source_executed: String::new(),
            })),
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

fn mutation(site: &str, user: &str, sql: &str) -> EventKind {
    EventKind::Mutation {
        site: site.into(),
        user: user.into(),
        sql: sql.into(),
        ok: true,
    }
}

fn log(host: &str, msg: &str) -> EventKind {
    EventKind::Log {
        host: host.into(),
        level: "INFO".into(),
        msg: msg.into(),
    }
}

const A_HOST: &str = "mysql-demo-a-internal";

/// A scenario with the given fault table(s), properties and extra topology lines.
fn custom(faults: &str, properties: &str, topology: &str) -> crate::scenario::Loaded {
    parse(
        "t.toml",
        &format!(
            r#"
id = "t"
description = "synthetic"
duration = "200s"
[topology]
sites = [{{ name = "a" }}, {{ name = "b" }}]
active = "a"
{topology}
{faults}
[expect]
properties = [{properties}]
"#
        ),
    )
    .unwrap()
}

fn judge_with(s: &crate::scenario::Loaded, events: &[Event], fin: &Final) -> Verdict {
    judge(&Input {
        events,
        fin,
        scenario: s,
        group: "demo",
    })
    .into_iter()
    .next()
    .unwrap()
}

#[test]
fn nofo_flags_promotion_self_fence_long_safety_net_pause_and_foreign_active_site() {
    let base = vec![
        ev(0.0, state("a", false)),
        ev(0.0, state("b", true)),
        ev(8.0, log(A_HOST, "sidecar starting")),
        ev(8.0, state("a", true)),
        ev(
            8.0,
            mutation("a", "root", "SET GLOBAL super_read_only = ON"),
        ),
        ev(8.1, state("a", false)),
        ev(8.1, mutation("a", "root", "SET GLOBAL read_only = OFF")),
    ];
    let v = judge_one("NOFO", &base, &Final::default());
    assert!(v.pass, "a quick safety-net pause is allowed: {v:?}");
    // A promotion of b.
    let mut promo = base.clone();
    promo.push(ev(
        40.0,
        mutation("b", CONTROLLER_SQL_USER, "SET GLOBAL read_only = OFF"),
    ));
    let v = judge_one("NOFO", &promo, &Final::default());
    assert!(
        !v.pass && v.detail.contains("controller unfenced b"),
        "{v:?}"
    );
    // The monitor self-fences the active site.
    let mut fenced = base.clone();
    fenced.push(ev(40.0, log(A_HOST, "SELF-FENCING: topology mismatch")));
    fenced.push(ev(40.0, state("a", true)));
    fenced.push(ev(
        40.0,
        mutation("a", "root", "SET GLOBAL super_read_only = ON"),
    ));
    let v = judge_one("NOFO", &fenced, &Final::default());
    assert!(
        !v.pass && v.detail.contains("self-fenced the active"),
        "{v:?}"
    );
    // The safety net keeps a read-only for 5s.
    let mut slow = base[..5].to_vec();
    slow.push(ev(13.0, state("a", false)));
    let v = judge_one("NOFO", &slow, &Final::default());
    assert!(!v.pass && v.detail.contains("not writable again"), "{v:?}");
    // activeSite names b.
    let mut moved = base;
    moved.push(ev(50.0, EventKind::ActiveSite { site: "b".into() }));
    let v = judge_one("NOFO", &moved, &Final::default());
    assert!(!v.pass && v.detail.contains("activeSite named b"), "{v:?}");
}

#[test]
fn fence_flags_an_isolated_writer_left_writable_beyond_h() {
    let s = custom(
        "[[faults]]\nat = \"30s\"\nop = \"partition\"\nsite = \"a\"\nheal_at = \"120s\"",
        "\"FENCE\"",
        "",
    );
    let never = vec![ev(0.0, state("a", false)), ev(0.0, state("b", true))];
    let v = judge_with(&s, &never, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail.contains("a isolated at 30.0s while writable"),
        "{v:?}"
    );
    let mut late = never.clone();
    late.push(ev(61.0, state("a", true)));
    let v = judge_with(&s, &late, &Final::default());
    assert!(
        !v.pass && v.detail.contains("read-only only at 61.0s"),
        "{v:?}"
    );
    let mut in_time = never;
    in_time.push(ev(55.0, state("a", true)));
    let v = judge_with(&s, &in_time, &Final::default());
    assert!(v.pass, "{v:?}");
    assert!(v.figure.contains("a after 25.0s"), "{v:?}");
    // A partition healed before H needs no fence; a pair cut from b alone is no isolation.
    let short = custom(
        "[[faults]]\nat = \"30s\"\nop = \"partition\"\nsite = \"a\"\nheal_at = \"50s\"",
        "\"FENCE\"",
        "",
    );
    let writable = vec![ev(0.0, state("a", false))];
    assert!(judge_with(&short, &writable, &Final::default()).pass);
    let pair = custom(
        "[[faults]]\nat = \"30s\"\nop = \"partition-pair\"\nsite = \"a\"\npeer = \"b\"",
        "\"FENCE\"",
        "",
    );
    assert!(judge_with(&pair, &writable, &Final::default()).pass);
}

#[test]
fn fence_flags_fencing_a_read_only_instance_and_unfencing_outside_the_safety_net() {
    let s = custom("", "\"FENCE\"", "");
    let events = vec![
        ev(0.0, state("b", true)),
        ev(
            20.0,
            log("mysql-demo-b-internal", "SELF-FENCING: lease expired"),
        ),
        ev(
            20.0,
            mutation("b", "root", "SET GLOBAL super_read_only = ON"),
        ),
    ];
    let v = judge_with(&s, &events, &Final::default());
    assert!(!v.pass && v.detail.contains("already read-only"), "{v:?}");
    let unfence = vec![
        ev(0.0, state("b", true)),
        ev(20.0, state("b", false)),
        ev(20.0, mutation("b", "root", "SET GLOBAL read_only = OFF")),
    ];
    let v = judge_with(&s, &unfence, &Final::default());
    assert!(
        !v.pass && v.detail.contains("outside its safety net"),
        "{v:?}"
    );
    // The same statement right after a rogue-unfence fault is the human's, not the sidecar's.
    let mut human = unfence.clone();
    human.insert(
        1,
        ev(
            20.0,
            EventKind::Fault {
                op: "rogue-unfence".into(),
                detail: "b".into(),
                heal: false,
            },
        ),
    );
    assert!(judge_with(&s, &human, &Final::default()).pass);
}

#[test]
fn fence_flags_a_lease_fence_before_the_lease_ran_out() {
    // Defaults: lease 15s, peer check 5s, so a lease fence needs >= 9s of isolation.
    let s = custom(
        "[[faults]]\nat = \"30s\"\nop = \"partition\"\nsite = \"a\"\nheal_at = \"90s\"",
        "\"FENCE\"",
        "",
    );
    let fence_at = |t: f64| {
        vec![
            ev(0.0, state("a", false)),
            ev(
                t,
                log(
                    "mysql-demo-a-internal",
                    "SELF-FENCING: Bloodraven and every peer unreachable beyond lease timeout",
                ),
            ),
            ev(t, state("a", true)),
        ]
    };
    let v = judge_with(&s, &fence_at(35.0), &Final::default());
    assert!(
        !v.pass
            && v.detail
                .contains("fenced on the lease without having been isolated"),
        "{v:?}"
    );
    assert!(judge_with(&s, &fence_at(48.0), &Final::default()).pass);
    // No isolation at all: any lease fence is premature; an aux-unready controller plus a
    // dead peer is an isolation.
    let none = custom("", "\"FENCE\"", "");
    assert!(!judge_with(&none, &fence_at(48.0), &Final::default()).pass);
    let aux = custom(
        "[[faults]]\nat = \"30s\"\nop = \"aux-unready\"\n\n[[faults]]\nat = \"30s\"\nop = \"site-down\"\nsite = \"b\"",
        "\"FENCE\"",
        "",
    );
    assert!(judge_with(&aux, &fence_at(48.0), &Final::default()).pass);
}

#[test]
fn flap_flags_a_failover_inside_the_cooldown() {
    let s = custom("", "\"FLAP\"", "spec = { failover_cooldown = \"90s\" }");
    let ctl = |at: f64, msg: &str| ev(at, log(crate::world::CONTROLLER_HOST, msg));
    let events = vec![
        ctl(45.0, "initiating failover"),
        ctl(50.0, "failover complete"),
        ctl(100.0, "initiating failover"),
        ctl(101.0, "failover complete"),
    ];
    let v = judge_with(&s, &events, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail.contains("50.0s after the one recorded at 50.0s"),
        "{v:?}"
    );
    let spaced = vec![
        ctl(45.0, "initiating failover"),
        ctl(50.0, "failover complete"),
        ctl(140.5, "initiating failover"),
    ];
    let v = judge_with(&s, &spaced, &Final::default());
    assert!(v.pass, "{v:?}");
    // Blocked by the cooldown, then never resumed (cooldown ends at 140s, +3 polls = 146s).
    let stuck = vec![
        ctl(45.0, "initiating failover"),
        ctl(50.0, "failover complete"),
        ctl(120.0, "failover blocked by anti-flap cooldown"),
        ctl(150.0, "initiating failover"),
    ];
    let v = judge_with(&s, &stuck, &Final::default());
    assert!(
        !v.pass && v.detail.contains("did not start by 146.0s"),
        "{v:?}"
    );
    let resumed = vec![
        ctl(45.0, "initiating failover"),
        ctl(50.0, "failover complete"),
        ctl(120.0, "failover blocked by anti-flap cooldown"),
        ctl(141.0, "initiating failover"),
    ];
    assert!(judge_with(&s, &resumed, &Final::default()).pass);
    // With an expected count.
    let counted = custom("", "\"FLAP\"", "spec = { failover_cooldown = \"90s\" }");
    let mut counted = counted;
    counted.scenario.expect.failovers = Some(0);
    let v = judge_with(&counted, &spaced, &Final::default());
    assert!(
        !v.pass && v.detail.contains("1 failover(s) completed, expected 0"),
        "{v:?}"
    );
}

#[test]
fn conv_flags_a_replica_of_the_wrong_source_and_an_active_site_mismatch() {
    let s = custom("", "\"CONV\"", "");
    let good = Final {
        sites: vec![
            site("a", false, "", &[]),
            SiteTruth {
                source_host: "mysql-demo-a-internal".into(),
                io_running: true,
                sql_running: true,
                ..site("b", true, "", &[])
            },
        ],
        status: serde_json::json!({
            "activeSite": "a",
            "sites": [{"name": "b", "replicating": true}],
            "conditions": [{"type": "Ready", "status": "True"}],
        }),
        ..Default::default()
    };
    let v = judge_with(&s, &[], &good);
    assert!(v.pass, "{v:?}");
    let mut stopped = good.clone();
    stopped.sites[1].io_running = false;
    let v = judge_with(&s, &[], &stopped);
    assert!(
        !v.pass && v.detail.contains("b is not replicating from a"),
        "{v:?}"
    );
    let mut wrong = good.clone();
    wrong.status["activeSite"] = serde_json::json!("b");
    let v = judge_with(&s, &[], &wrong);
    assert!(!v.pass && v.detail.contains("activeSite=\"b\""), "{v:?}");
    let mut two = good;
    two.sites[1].read_only = false;
    let v = judge_with(&s, &[], &two);
    assert!(!v.pass && v.figure == "2 writer(s)", "{v:?}");
}

#[test]
fn nda_flags_a_divergence_count_other_than_expected() {
    let text = r#"
id = "t"
description = "synthetic"
duration = "100s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
[expect]
properties = ["NDA"]
divergent = { a = 2 }
"#;
    let s = parse("t.toml", text).unwrap();
    let fin = Final {
        sites: vec![
            site("a", true, &format!("{A_UUID}:1-3"), &[]),
            site("b", false, &format!("{A_UUID}:1-2"), &[]),
        ],
        status: serde_json::json!({"activeSite": "b", "sites": [{"name": "a", "recoveryState": "RecoveryBlocked", "divergentTransactionCount": 1}]}),
        ..Default::default()
    };
    let v = judge_with(&s, &[], &fin);
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail.contains("expected a diverged by exactly 2"),
        "{v:?}"
    );
    let two = Final {
        sites: vec![
            site("a", true, &format!("{A_UUID}:1-4"), &[]),
            site("b", false, &format!("{A_UUID}:1-2"), &[]),
        ],
        status: serde_json::json!({"activeSite": "b", "sites": [{"name": "a", "recoveryState": "RecoveryBlocked", "divergentTransactionCount": 2, "divergentGtid": format!("{A_UUID}:3-4")}]}),
        ..Default::default()
    };
    assert!(judge_with(&s, &[], &two).pass);
    let mut wrong_set = two;
    wrong_set.status["sites"][0]["divergentGtid"] = serde_json::json!(format!("{A_UUID}:2-3"));
    let v = judge_with(&s, &[], &wrong_set);
    assert!(!v.pass && v.detail.contains("divergentGtid"), "{v:?}");
}

#[test]
fn rejoin_flags_the_deposed_primary_turning_writable_again() {
    let fin = Final {
        sites: vec![
            site("a", true, &format!("{A_UUID}:1-2"), &[]),
            site("b", false, &format!("{A_UUID}:1-2"), &[]),
        ],
        status: serde_json::json!({"activeSite": "b", "sites": [{"name": "a", "recoveryState": "RecoveryBlocked", "divergentTransactionCount": 0}]}),
        ..Default::default()
    };
    let promoted = vec![
        ev(0.0, state("a", false)),
        ev(31.0, state("a", true)),
        ev(
            35.0,
            mutation("b", CONTROLLER_SQL_USER, "SET GLOBAL read_only = OFF"),
        ),
        ev(60.0, state("a", false)),
    ];
    let v = judge_one("REJOIN", &promoted, &fin);
    assert!(
        !v.pass && v.detail.contains("a writable again at 60.0s"),
        "{v:?}"
    );
    // Still writable from before the promotion (partitioned, fenced later): not "again".
    let partitioned = vec![
        ev(0.0, state("a", false)),
        ev(
            35.0,
            mutation("b", CONTROLLER_SQL_USER, "SET GLOBAL read_only = OFF"),
        ),
        ev(53.0, state("a", true)),
    ];
    let v = judge_one("REJOIN", &partitioned, &fin);
    assert!(!v.detail.contains("writable again"), "{v:?}");
}

#[test]
fn dw_flags_a_split_brain_left_unresolved_or_resolved_to_no_writer() {
    let s = custom("", "\"DW\"", "priorities = [\"a\", \"b\"]");
    let long = vec![
        ev(0.0, state("a", false)),
        ev(0.0, state("b", true)),
        ev(30.0, state("b", false)),
        ev(60.0, state("b", true)),
    ];
    let v = judge_with(&s, &long, &Final::default());
    assert!(
        !v.pass && v.detail.contains("lasted 30.0s (bound 26.0s)"),
        "{v:?}"
    );
    let mut both = long[..3].to_vec();
    both.push(ev(32.0, state("a", true)));
    both.push(ev(32.1, state("b", true)));
    let v = judge_with(&s, &both, &Final::default());
    assert!(
        !v.pass && v.detail.contains("to no writer by 32.1s"),
        "{v:?}"
    );
    let open = long[..3].to_vec();
    let v = judge_with(&s, &open, &Final::default());
    assert!(!v.pass && v.detail.contains("never resolved"), "{v:?}");
    let mut quick = long[..3].to_vec();
    quick.push(ev(34.0, state("b", true)));
    let v = judge_with(&s, &quick, &Final::default());
    assert!(v.pass, "{v:?}");
}

#[test]
fn dw_in_a_manual_split_brain_flags_an_auto_fence_and_a_named_active_site() {
    // No priorities, no history: the controller must not choose, but must blank activeSite.
    let s = custom("", "\"DW\"", "");
    let good = vec![
        ev(0.0, state("a", false)),
        ev(0.0, state("b", true)),
        ev(30.0, state("b", false)),
        ev(32.5, EventKind::ActiveSite { site: "".into() }),
        ev(90.0, state("b", true)),
    ];
    let v = judge_with(&s, &good, &Final::default());
    assert!(v.pass, "{v:?}");
    assert!(v.figure.contains("1 manual"), "{v:?}");
    let mut fenced = good[..4].to_vec();
    fenced.push(ev(34.0, state("b", true)));
    fenced.push(ev(
        34.0,
        mutation("b", CONTROLLER_SQL_USER, "SET GLOBAL super_read_only = ON"),
    ));
    let v = judge_with(&s, &fenced, &Final::default());
    assert!(
        !v.pass && v.detail.contains("fenced b in a manual split brain"),
        "{v:?}"
    );
    let named: Vec<Event> = good
        .iter()
        .filter(|e| !matches!(e.kind, EventKind::ActiveSite { .. }))
        .cloned()
        .collect();
    let v = judge_with(&s, &named, &Final::default());
    assert!(
        !v.pass && v.detail.contains("activeSite not blank within 7.0s"),
        "{v:?}"
    );
}

#[test]
fn fence_flags_a_writer_that_hears_the_controller_but_ignores_a_foreign_active_site() {
    let s = custom("", "\"FENCE\"", "");
    // b is named active at 35s; a stays writable until 50s (F1 = 5s + 4s + 0.5s).
    let late = vec![
        ev(0.0, state("a", false)),
        ev(0.0, state("b", true)),
        ev(34.0, state("b", false)),
        ev(35.0, EventKind::ActiveSite { site: "b".into() }),
        ev(50.0, state("a", true)),
    ];
    let v = judge_with(&s, &late, &Final::default());
    assert!(!v.pass, "{v:?}");
    assert!(
        v.detail
            .contains("a still writable at 44.5s, 9.5s after activeSite named another site"),
        "{v:?}"
    );
    let mut quick = late.clone();
    quick[4] = ev(40.0, state("a", true));
    assert!(judge_with(&s, &quick, &Final::default()).pass);
    // Cut from the controller and its peer, a cannot learn it: FENCE(a)'s H applies instead.
    let isolated = custom(
        "[[faults]]\nat = \"30s\"\nop = \"partition\"\nsite = \"a\"\nheal_at = \"90s\"",
        "\"FENCE\"",
        "",
    );
    let mut in_h = late;
    in_h[4] = ev(55.0, state("a", true));
    let v = judge_with(&isolated, &in_h, &Final::default());
    assert!(v.pass, "{v:?}");
}
