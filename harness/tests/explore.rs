//! Explore mode end to end: a bug planted through a test-only fault hook is found by a
//! bounded campaign, shrunk to at most 3 faults, written as a repro file, and replayed
//! bit for bit by the `chaos` binary in a new process.

use bloodraven::fault_hooks::Broken;
use chaos::explore::repro::ReproFile;
use chaos::explore::{campaign, shrink_and_write, systematic, Options};
use chaos::scenario::{catalog_dir, find};

/// The campaign bound within which the planted bug must show up.
const RUNS: u64 = 8;
/// The campaign seed (3 of its first 8 runs fail DNS-W with the bug planted; seed 1's
/// first 8 runs have failovers that flip DNS too fast for the 500ms observer to see).
const CAMPAIGN: u64 = 2;

#[test]
fn a_planted_bug_is_found_shrunk_and_replayed_in_a_new_process() {
    let opts = Options {
        campaign_seed: CAMPAIGN,
        runs: Some(RUNS),
        time: None,
        shard: (1, 1),
        jobs: 2,
        broken: vec![Broken::DnsBeforeConfirm],
        regressions: None,
        progress: false,
    };
    let summary = campaign(&opts).expect("the campaign runs");
    let mut found = summary
        .failures
        .iter()
        .find(|f| f.property == "DNS-W")
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no DNS-W violation within {RUNS} runs:\n{}",
                summary.render()
            )
        });
    let found = &mut found;
    let dir = std::env::temp_dir().join(format!("chaos-explore-test-{}", std::process::id()));
    let path = shrink_and_write(CAMPAIGN, found, &opts.broken, &dir).expect("shrinks");
    let after = found.faults_after.expect("shrunk");
    assert!(
        after <= 3,
        "shrunk to {after} faults (from {})",
        found.faults_before
    );
    let (file, _) = ReproFile::load(&path).expect("the repro file loads");
    assert_eq!(file.repro.status, "open");
    assert_eq!(file.repro.broken, vec!["dns-before-confirm"]);
    let v = file
        .repro
        .first_violation
        .clone()
        .expect("recorded violation");
    assert_eq!(v.property, "DNS-W");
    assert_eq!(file.scenario.faults.len(), after);

    // A new process replays it: same violation, same trace hash.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chaos"))
        .arg("replay")
        .arg(&path)
        .output()
        .expect("the chaos binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "replay failed:\n{stdout}");
    assert!(
        stdout.contains("DNS-W still violated, as recorded"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "recorded trace hash {}, replayed {} (identical)",
            v.trace_hash, v.trace_hash
        )),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_partition_the_runs_and_merge_to_the_whole() {
    let base = Options {
        campaign_seed: 3,
        runs: Some(4),
        time: None,
        shard: (1, 1),
        jobs: 2,
        broken: vec![],
        regressions: None,
        progress: false,
    };
    let whole = campaign(&base).expect("runs");
    let parts: Vec<_> = (1..=2)
        .map(|k| {
            campaign(&Options {
                shard: (k, 2),
                ..base.clone()
            })
            .expect("runs")
        })
        .collect();
    assert_eq!(parts[0].runs + parts[1].runs, whole.runs);
    let merged = chaos::explore::Summary::merge(&parts).expect("same campaign");
    assert_eq!(merged.runs, 4);
    assert_eq!(merged.coverage, whole.coverage);
    assert_eq!(merged.failures.len(), whole.failures.len());
}

#[test]
fn systematic_crashes_interrupt_every_failover_mutation_of_kill_site() {
    let base = find(&catalog_dir(), "kill-site").expect("catalog");
    let steps = systematic::run(&base.scenario, 1, &[], 4).expect("runs");
    let fired = steps.iter().filter(|(_, fired, _)| *fired).count();
    // stop, reset, unfence, record, dns (the old primary is dead: no fence step).
    assert!(fired >= 5, "only {fired} crash points reached");
    assert!(
        !steps.last().unwrap().1,
        "the last step must be past the failover"
    );
    for (n, fired, o) in &steps {
        assert!(
            o.pass || o.inherent.is_some(),
            "crash before mutation {n} (fired {fired}): {:?} {}",
            o.property,
            o.detail
        );
    }
}
