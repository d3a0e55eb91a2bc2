//! The walking skeleton end to end: kill-site passes on seeds 1..=20, runs are
//! reproducible, and a misconfigured group makes the liveness property fail with exit 1.

use std::process::Command;

use chaos::runner::{run_and_judge, run_many};
use chaos::scenario::{catalog_dir, find};

fn kill_site() -> chaos::scenario::Loaded {
    find(&catalog_dir(), "kill-site").expect("kill-site is in the catalog")
}

#[test]
fn kill_site_passes_on_seeds_1_to_20() {
    let scenario = kill_site();
    let jobs: Vec<_> = (1..=20).map(|seed| (&scenario, seed)).collect();
    // Two workers: CI machines have two cores.
    let failures: Vec<String> = run_many(&jobs, 2)
        .expect("simulations run")
        .into_iter()
        .filter(|r| !r.pass)
        .map(|r| r.summary())
        .collect();
    assert!(
        failures.is_empty(),
        "{} seed(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let scenario = kill_site();
    let a = run_and_judge(&scenario, 5, false).unwrap();
    let b = run_and_judge(&scenario, 5, false).unwrap();
    let c = run_and_judge(&scenario, 6, false).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.events, b.events);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn a_group_that_cannot_detect_the_loss_fails_liveness_with_exit_1() {
    let text = std::fs::read_to_string(catalog_dir().join("kill-site.toml")).unwrap();
    // A failure threshold far beyond the run: the controller never declares a unreachable.
    let broken = text.replace(
        "priorities = [\"a\", \"b\"]",
        "priorities = [\"a\", \"b\"]\nspec = { failure_threshold = 1000 }",
    );
    assert_ne!(text, broken);
    let dir = std::env::temp_dir().join(format!("chaos-misconfigured-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("kill-site.toml");
    std::fs::write(&file, broken).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["run", file.to_str().unwrap(), "--seed", "3", "--report-dir"])
        .arg(dir.join("report"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("FAIL FAILOVER"), "{stdout}");
    assert!(dir.join("report/report.json").exists());
}

#[test]
fn bad_input_exits_2_naming_the_problem() {
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["run", "no-such-scenario"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scenario"));
    let dir = std::env::temp_dir().join(format!("chaos-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, "id = \"bad\"\ndescription = \"x\"\nduration = \"60s\"\n[topology]\nsites = [{ name = \"a\" }, { name = \"b\" }]\nactive = \"q\"\n[expect]\nproperties = [\"SW\"]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["run", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml: topology.active: \"q\" is not a site"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["run", "kill-site", "--seed", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
