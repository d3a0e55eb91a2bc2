//! Backups (spec §2.4) on the simulator: the verification oracle catches a backup that
//! claims transactions whose rows it does not hold (a planted fault in the fake backup
//! Job), and the controller's verification alone would not (its GTID check passes).

use chaos::runner::run_with;
use chaos::scenario::{catalog_dir, parse};
use chaos::world::RunConfig;

fn with_planted_fault() -> chaos::scenario::Loaded {
    let path = catalog_dir().join("backup-during-failover.toml");
    let text = std::fs::read_to_string(&path).expect("catalog scenario");
    // The next backup silently leaves out its 5 newest rows.
    let text = text.replace(
        "[expect]",
        "[[faults]]\nat = \"20s\"\nop = \"backup-drop-rows\"\nn = 5\n\n[expect]",
    );
    parse(&path.display().to_string(), &text).expect("the planted scenario loads")
}

#[test]
fn verification_detects_a_backup_missing_acknowledged_rows() {
    let report = run_with(
        &with_planted_fault(),
        &RunConfig {
            seed: 1,
            print_log: false,
            broken: vec![],
        },
    )
    .expect("the simulation runs");
    let v = |p: &str| {
        report
            .verdicts
            .iter()
            .find(|v| v.property == p)
            .unwrap_or_else(|| panic!("{p} judged"))
            .clone()
    };
    let bkp_v = v("BKP-V");
    assert!(!bkp_v.pass, "the planted loss must be caught: {bkp_v:?}");
    assert!(
        bkp_v
            .detail
            .contains("acknowledged writes inside the backup's GTID set are missing"),
        "{bkp_v:?}"
    );
    // The source choice itself was right: only the artifact is broken.
    assert!(v("BKP-SRC").pass, "{:?}", v("BKP-SRC"));
}
