//! Site faults reach the site's Dragonfly (its pod shares the node and the network with
//! the MySQL pod): a node loss kills it, a site partition cuts it, and a Dragonfly whose
//! pod and node are both down comes back only once both are.

use chaos::runner::run_and_judge;
use chaos::scenario::{catalog_dir, find, parse, Loaded};
use chaos::trace::{Event, EventKind};

const DF_A: &str = "mysql-demo-dragonfly-a";

fn scenario(faults: &str) -> Loaded {
    let text = format!(
        r#"
id = "dragonfly-site-fault-test"
description = "test"
profiles = ["full"]
duration = "120s"

[topology]
sites = [{{ name = "a" }}, {{ name = "b" }}]
active = "a"
priorities = ["a", "b"]
spec = {{ dragonfly = true }}

{faults}

[expect]
properties = ["SW", "DF", "PLV"]
dragonfly_active = "b"
"#
    );
    parse("inline.toml", &text).expect("the test scenario is valid")
}

/// (time in s, up) of every host event of a's Dragonfly.
fn df_a_host_events(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Host { host, up } if host == DF_A => Some((e.at_ms / 1000, *up)),
            _ => None,
        })
        .collect()
}

/// How b's Dragonfly became master, from its role changes.
fn b_promotions(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DragonflyRole { site, role, detail }
                if site == "b" && role == "master" && !detail.starts_with("boot") =>
            {
                Some(detail.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn node_down_takes_the_sites_dragonfly() {
    let s = find(&catalog_dir(), "kill-site-dragonfly").expect("in the catalog");
    let r = run_and_judge(&s, 1, false).unwrap();
    assert!(r.pass, "{}", r.summary());
    assert_eq!(df_a_host_events(&r.events), vec![(30, false)]);
    // A dead master cannot hand over: b is promoted alone, once (by the manager's own
    // loss detection or the emergency path, whichever comes first).
    assert_eq!(b_promotions(&r.events), ["REPLICAOF NO ONE"]);
}

#[test]
fn a_site_partition_cuts_its_dragonfly() {
    let s = scenario(
        r#"
[[faults]]
at = "30s"
op = "partition"
site = "a"
heal_at = "80s"
"#,
    );
    let r = run_and_judge(&s, 1, false).unwrap();
    assert!(r.pass, "{}", r.summary());
    // Nothing crashed, yet b's replica could not take over from a (cut) and was promoted
    // alone; a's Dragonfly is a stale master after the heal.
    assert!(df_a_host_events(&r.events).is_empty());
    assert_eq!(b_promotions(&r.events), ["REPLICAOF NO ONE"]);
    assert!(
        r.verdicts
            .iter()
            .any(|v| v.property == "DF" && v.figure.contains("stale master(s) a")),
        "{}",
        r.summary()
    );
}

#[test]
fn a_dragonfly_down_for_two_reasons_returns_when_both_clear() {
    let s = scenario(
        r#"
[[faults]]
at = "20s"
op = "dragonfly-kill"
site = "a"
heal_at = "40s"

[[faults]]
at = "30s"
op = "site-down"
site = "a"
heal_at = "60s"
"#,
    );
    let r = run_and_judge(&s, 1, false).unwrap();
    assert_eq!(df_a_host_events(&r.events), vec![(20, false), (60, true)]);
}
