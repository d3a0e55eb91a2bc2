//! Every catalog scenario passes on seeds 1, 2 and 3 (the catalog's admission rule), and
//! every profile only names catalog scenarios that exist. Smoke scenarios run on those
//! seeds in `.ci/run` (`chaos run-all --profile smoke --seeds 3`) and on seed 1 in the
//! golden test, so this test runs the rest.

use chaos::runner::run_many;
use chaos::scenario::{catalog_dir, load_catalog};

const SEEDS: [u64; 3] = [1, 2, 3];

#[test]
fn every_catalog_scenario_passes_on_seeds_1_to_3() {
    let catalog = load_catalog(&catalog_dir()).expect("the catalog loads");
    assert!(!catalog.is_empty());
    let jobs: Vec<(&chaos::scenario::Loaded, u64)> = catalog
        .iter()
        .filter(|l| !l.scenario.profiles.iter().any(|p| p == "smoke"))
        .flat_map(|l| SEEDS.iter().map(move |s| (l, *s)))
        .collect();
    // Two workers: CI machines have two cores.
    let failures: Vec<String> = run_many(&jobs, 2)
        .expect("simulations run")
        .into_iter()
        .filter(|r| !r.pass)
        .map(|r| r.summary())
        .collect();
    assert!(
        failures.is_empty(),
        "{} run(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn smoke_scenarios_are_also_release_and_full() {
    for l in load_catalog(&catalog_dir()).unwrap() {
        let p = &l.scenario.profiles;
        let has = |x: &str| p.iter().any(|q| q == x);
        assert!(!p.is_empty(), "{}: no profile", l.scenario.id);
        if has("smoke") {
            assert!(has("release") && has("full"), "{}: {p:?}", l.scenario.id);
        }
        if has("release") {
            assert!(has("full"), "{}: {p:?}", l.scenario.id);
        }
    }
}
