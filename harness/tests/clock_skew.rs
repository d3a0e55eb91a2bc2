//! Issue 6: wall-clock skew of +/-60s between pods (and 30s on the controller) changes none
//! of the self-fencing outcomes. Each sidecar scenario runs twice with the same seed, once
//! with true clocks and once skewed; both must pass every property, and the sites that
//! self-fence (and whether the monitor re-arms) must be the same.

use std::time::Duration;

use chaos::report::Report;
use chaos::runner::run_many;
use chaos::scenario::{catalog_dir, find, Loaded, TimedFault};
use chaos::trace::EventKind;

const SIDECAR_SCENARIOS: &[&str] = &[
    "self-fence-isolated-primary",
    "network-partition-primary",
    "partition-replica-no-failover",
    "sidecar-crash-no-failover",
    "stale-lease-after-operator-restart",
    "ambiguous-self-fence-write",
];

fn skew(host: &str, offset_ms: i64) -> TimedFault {
    TimedFault {
        at: Duration::ZERO,
        op: "clock-skew".into(),
        site: host.into(),
        peer: None,
        heal_at: None,
        down: None,
        n: 1,
        boot_fenced: true,
        stmt: None,
        offset_ms,
        key: None,
        value: None,
        rate: 0.0,
        mode: None,
        api: None,
        request: None,
    }
}

fn skewed(base: &Loaded) -> Loaded {
    let mut l = base.clone();
    let sites: Vec<String> = l
        .scenario
        .topology
        .sites
        .iter()
        .map(|s| s.name.clone())
        .collect();
    for (i, site) in sites.iter().enumerate() {
        let sign = if i % 2 == 0 { 1 } else { -1 };
        l.faults.insert(0, skew(site, sign * 60_000));
    }
    l.faults.insert(0, skew("controller", 30_000));
    l
}

/// Per site, in order: what its sidecar's monitor did (self-fence, re-arm).
fn sidecar_acts(r: &Report) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Log { host, msg, .. }
                if msg.starts_with("SELF-FENCED") || msg.contains("rearming monitor") =>
            {
                Some(format!("{host}: {}", &msg[..msg.len().min(20)]))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn skewed_clocks_change_no_self_fencing_outcome() {
    let dir = catalog_dir();
    let bases: Vec<Loaded> = SIDECAR_SCENARIOS
        .iter()
        .map(|id| find(&dir, id).expect("catalog scenario"))
        .collect();
    let skews: Vec<Loaded> = bases.iter().map(skewed).collect();
    let jobs: Vec<(&Loaded, u64)> = bases
        .iter()
        .zip(&skews)
        .flat_map(|(b, s)| [(b, 1), (s, 1)])
        .collect();
    let reports = run_many(&jobs, 2).expect("simulations run");
    let mut stamps_checked = 0;
    for (base, pair) in bases.iter().zip(reports.chunks(2)) {
        let (plain, skewed) = (&pair[0], &pair[1]);
        assert!(plain.pass, "{}", plain.summary());
        assert!(skewed.pass, "skewed clocks: {}", skewed.summary());
        // The controller's skew reaches what it stamps, when it ran a failover (a seeded
        // history stamp is the world's, not the controller's).
        let failed_over = base.scenario.expect.failovers.unwrap_or(0) > 0;
        let stamp = |r: &Report| {
            r.final_state.status["lastFailover"]
                .as_str()
                .map(|s| chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339 stamp"))
        };
        if let (true, Some(p), Some(s)) = (failed_over, stamp(plain), stamp(skewed)) {
            stamps_checked += 1;
            let ahead = (s - p).num_seconds();
            assert!(
                (25..=35).contains(&ahead),
                "{}: lastFailover moved {ahead}s with a +30s controller clock",
                plain.scenario
            );
        }
        assert_eq!(
            sidecar_acts(plain),
            sidecar_acts(skewed),
            "{}: the skew changed what the sidecars did",
            plain.scenario
        );
    }
    assert!(
        stamps_checked > 0,
        "no scenario ran a failover to check the stamp on"
    );
}
