//! The regression gate: every repro file in `scenarios/regressions/` is replayed. A `fixed`
//! one must pass every property; a `known-open` one (with its issue reference) must still
//! show its recorded violation; an `open` one fails the gate until its bug is fixed.

use chaos::explore::repro::{judge_replay, ReproFile};
use chaos::runner::run_with;
use chaos::scenario::catalog_dir;
use chaos::world::RunConfig;

#[test]
fn every_pinned_repro_keeps_its_verdict() {
    let dir = catalog_dir().join("regressions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/regressions exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no repro file in {}", dir.display());
    let mut problems = vec![];
    for path in &paths {
        let (file, loaded) = ReproFile::load(path).unwrap_or_else(|e| panic!("{e}"));
        if file.repro.status == "open" {
            problems.push(format!(
                "{}: status \"open\": fix the bug and mark it fixed, or mark it known-open with its issue",
                path.display()
            ));
            continue;
        }
        let report = run_with(
            &loaded,
            &RunConfig {
                seed: file.repro.seed,
                print_log: false,
                broken: file.broken().unwrap_or_else(|e| panic!("{e}")),
            },
        )
        .expect("the simulation runs");
        let outcome = judge_replay(&file, &report);
        if !outcome.ok {
            problems.push(format!("{}: {}", path.display(), outcome.message));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn repro_files_are_validated_at_load() {
    let dir = std::env::temp_dir().join(format!("chaos-repro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A known-open file, from a fixed one.
    let good = std::fs::read_to_string(
        catalog_dir().join("regressions/explore-errant-write-on-replica.toml"),
    )
    .unwrap()
    .replace("status = \"fixed\"", "status = \"known-open\"");
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let e = ReproFile::load(&write(
        "a.toml",
        good.replace("\"known-open\"", "\"maybe\""),
    ))
    .unwrap_err();
    assert!(
        e.contains("repro.status: \"maybe\": expected open, fixed or known-open"),
        "{e}"
    );
    let no_issue: String = good
        .lines()
        .filter(|l| !l.starts_with("issue ="))
        .collect::<Vec<_>>()
        .join("\n");
    let e = ReproFile::load(&write("b.toml", no_issue)).unwrap_err();
    assert!(
        e.contains("known-open repro needs the issue reference"),
        "{e}"
    );
    let e = ReproFile::load(&write(
        "c.toml",
        good.replace("site = \"c\"", "site = \"z\""),
    ))
    .unwrap_err();
    assert!(e.contains("faults[0].site: \"z\" is not a site"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run 129 of `explore --seed 1` judged with the properties that need a writer at the end:
/// they fail, and explore classifies the run as NoPrimary by design (spec §3.2, §3.7).
#[test]
fn no_primary_by_design_is_classified_inherent() {
    let path = catalog_dir().join("regressions/explore-no-primary-after-crash-mid-failover.toml");
    let (file, mut loaded) = ReproFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for p in ["CONV", "RPO-A"] {
        loaded.scenario.expect.properties.push(p.into());
    }
    let report = run_with(
        &loaded,
        &RunConfig {
            seed: file.repro.seed,
            print_log: false,
            broken: vec![],
        },
    )
    .expect("the simulation runs");
    let mut failing: Vec<&str> = report
        .verdicts
        .iter()
        .filter(|v| !v.pass)
        .map(|v| v.property.as_str())
        .collect();
    failing.sort();
    assert_eq!(failing, ["CONV", "RPO-A"], "{}", report.summary());
    let class =
        chaos::explore::inherent::classify(&loaded.scenario, &report).expect("classified inherent");
    assert!(class.contains("NoPrimary by design"), "{class}");
}
