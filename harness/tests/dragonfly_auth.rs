//! A catalog run with `spec.dragonfly.auth`: the controller and the session workload
//! authenticate, so Dragonfly keeps being managed and written through the fault.

use chaos::runner::run_and_judge;
use chaos::scenario::{catalog_dir, find};
use chaos::trace::EventKind;

#[test]
fn dragonfly_master_kill_with_auth_passes_and_sessions_keep_flowing() {
    let s = find(&catalog_dir(), "dragonfly-master-kill").expect("in the catalog");
    assert_eq!(s.scenario.topology.spec.dragonfly_auth, Some(true));
    let r = run_and_judge(&s, 1, false).unwrap();
    assert!(r.pass, "{}", r.summary());
    let acks: Vec<(u64, &str)> = r
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::SessionAck { site, .. } => Some((e.at_ms, site.as_str())),
            _ => None,
        })
        .collect();
    let on = |from_ms: u64, site: &str| {
        acks.iter()
            .filter(|(t, s)| *t >= from_ms && *s == site)
            .count()
    };
    // Before the kill on a; while a is gone on the promoted replica; at the end on a again.
    assert!(on(0, "a") > 20, "{acks:?}");
    assert!(acks
        .iter()
        .any(|(t, s)| *t > 30_000 && *t < 60_000 && *s != "a"));
    assert!(on(100_000, "a") > 10, "{acks:?}");
}

#[test]
fn auth_without_dragonfly_is_a_named_scenario_error() {
    let text = r#"
id = "x"
description = "x"
profiles = ["full"]
duration = "60s"

[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
spec = { dragonfly_auth = true }

[expect]
properties = ["SW"]
"#;
    let e = chaos::scenario::parse("x.toml", text)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x.toml") && e.contains("topology.spec.dragonfly"),
        "{e}"
    );
}
