//! One exploration run from (campaign seed, run index): a topology and a fault schedule,
//! drawn as the same `Scenario` data the catalog uses, so every run is a scenario.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::vocabulary::{self, Ctx};
use crate::scenario::Scenario;

/// Properties judged on every explored run: the safety ones, and CONV once all faults heal.
pub const PROPERTIES: &[&str] = &["SW", "DNS-W", "RPO-A", "NDA", "FLAP", "DW", "CONV"];

/// Warm-up before the first fault (8 polls of 2s).
const WARMUP: u64 = 16;
/// Settle after the window: the cooldown plus this (SCENARIOS.md S = cooldown + 55 polls).
const SETTLE: u64 = 110;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The simulation seed of run `index` of campaign `campaign`.
pub fn run_seed(campaign: u64, index: u64) -> u64 {
    splitmix(splitmix(campaign) ^ index)
}

/// Draws run `index` of campaign `campaign`.
pub fn generate(campaign: u64, index: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix(run_seed(campaign, index)));
    let mut sites = vec![json!({"name": "a"}), json!({"name": "b"})];
    let mut names = vec!["a".to_string(), "b".to_string()];
    let mut spare = None;
    if rng.random_bool(0.3) {
        let role = match rng.random_range(0..10) {
            0..4 => "dr-only",
            4..6 => "read-only",
            _ => "primary-candidate",
        };
        if role != "primary-candidate" {
            spare = Some("c");
        }
        sites.push(json!({"name": "c", "role": role}));
        names.push("c".into());
    }
    let priorities: Vec<&str> = match rng.random_range(0..3) {
        0 => vec![],
        1 => vec!["a"],
        _ => vec!["a", "b"],
    };
    let cooldown = [10u64, 30, 60][rng.random_range(0..3)];
    let lease = [8u64, 15, 30][rng.random_range(0..3)];
    let history = rng.random_bool(0.5).then_some("a");
    let start = WARMUP;
    let end = start + rng.random_range(50..=108u64);
    let n_faults = rng.random_range(1..=4usize);
    let mut ctx = Ctx {
        rng: &mut rng,
        sites: &names,
        active: "a",
        spare,
        history: history.is_some(),
        start,
        end,
    };
    let faults: Vec<serde_json::Value> =
        (0..n_faults).map(|_| vocabulary::draw(&mut ctx)).collect();
    let duration = end + cooldown + SETTLE;
    // A writer the controller cannot reach (cut from it, frozen, or partitioned and healed
    // right after the promotion it caused) cannot be fenced by the promotion (spec §3.4
    // Execute step 1 is warn-only), and a killed mysqld restarts writable: such a deposed
    // primary acks its clients until its sidecar fences it, which is SW-H's bound
    // (SCENARIOS.md SW-H, `github-43s-partition`, `mysqld-kill`), not SW's. Those runs are
    // judged by SW-H instead of SW.
    let cut_from_controller = |f: &serde_json::Value| {
        f["peer"] == "controller"
            || ["partition", "pause"].contains(&f["op"].as_str().unwrap_or_default())
    };
    let isolated = faults.iter().any(cut_from_controller);
    let horizon = isolated || faults.iter().any(|f| f["op"] == "mysqld-kill");
    // Likewise dual-writable intervals with an unreachable writer are SW-H's, which DW
    // leaves out (see its doc).
    let properties: Vec<&str> = PROPERTIES
        .iter()
        .copied()
        .map(|p| if p == "SW" && horizon { "SW-H" } else { p })
        .filter(|p| *p != "DW" || !isolated)
        .collect();
    let mut topology = json!({
        "sites": sites,
        "active": "a",
        "priorities": priorities,
        "spec": {"failover_cooldown": format!("{cooldown}s"), "lease_timeout": format!("{lease}s")},
    });
    if let Some(h) = history {
        topology["history"] = json!(h);
    }
    let value = json!({
        "id": format!("explore-{campaign}-{index}"),
        "description": format!("chaos explore --seed {campaign}: run {index}"),
        "duration": format!("{duration}s"),
        "topology": topology,
        "faults": faults,
        "expect": {"properties": properties},
    });
    serde_json::from_value(value).expect("the generator builds valid scenario data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_run_is_a_valid_scenario_and_reproducible() {
        for i in 0..300 {
            let s = generate(7, i);
            assert_eq!(s, generate(7, i));
            let text = toml::to_string(&s).unwrap();
            crate::scenario::parse("gen.toml", &text)
                .unwrap_or_else(|e| panic!("run {i}: {e}\n{text}"));
        }
        assert_ne!(generate(7, 1), generate(8, 1));
    }
}
