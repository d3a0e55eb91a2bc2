//! For each safety property: on a scenario where it holds, a controller (or sidecar) with
//! the matching behaviour deliberately broken (through the test-only fault hooks of the
//! `fault-hooks` feature, never a production flag) makes its oracle fail.

use bloodraven::fault_hooks::Broken;
use chaos::runner::run_with;
use chaos::scenario::{catalog_dir, find, parse, Loaded};
use chaos::world::RunConfig;

const SEED: u64 = 1;

fn verdict(scenario: &Loaded, broken: &[Broken], property: &str) -> (bool, String) {
    let report = run_with(
        scenario,
        &RunConfig {
            seed: SEED,
            print_log: false,
            broken: broken.to_vec(),
        },
    )
    .expect("the simulation runs");
    let v = report
        .verdicts
        .iter()
        .find(|v| v.property == property)
        .unwrap_or_else(|| panic!("{property} is not judged by {}", scenario.scenario.id));
    (v.pass, format!("{} {}: {}", v.property, v.figure, v.detail))
}

/// The property passes with hooks off and fails with `broken`.
fn breaks(scenario: &Loaded, broken: Broken, property: &str) {
    let (ok, detail) = verdict(scenario, &[], property);
    assert!(
        ok,
        "{}: {property} must pass on the sound controller: {detail}",
        scenario.scenario.id
    );
    let (ok, detail) = verdict(scenario, &[broken], property);
    assert!(
        !ok,
        "{}: {property} must fail with {} broken, got: {detail}",
        scenario.scenario.id,
        broken.name()
    );
    eprintln!("{} with {}: {detail}", scenario.scenario.id, broken.name());
}

fn catalog(id: &str) -> Loaded {
    find(&catalog_dir(), id).expect("catalog scenario")
}

/// A scenario judged on one more property than its file lists (the always-on safety
/// properties the catalog entry does not target).
fn judging(mut scenario: Loaded, property: &str) -> Loaded {
    let props = &mut scenario.scenario.expect.properties;
    if !props.iter().any(|p| p == property) {
        props.push(property.to_string());
    }
    scenario
}

#[test]
fn flap_fails_when_the_cooldown_is_ignored() {
    breaks(
        &catalog("anti-flap-cooldown"),
        Broken::IgnoreCooldown,
        "FLAP",
    );
}

#[test]
fn dns_w_fails_when_dns_moves_before_confirmation() {
    breaks(&catalog("kill-site"), Broken::DnsBeforeConfirm, "DNS-W");
}

#[test]
fn nda_fails_when_a_divergent_site_is_repointed() {
    breaks(
        &catalog("gtid-divergence-detection"),
        Broken::RepointDivergent,
        "NDA",
    );
}

#[test]
fn dw_fails_when_a_split_brain_is_left_alone() {
    breaks(
        &catalog("split-brain-auto-resolve"),
        Broken::SkipSplitBrainFence,
        "DW",
    );
}

/// Three candidates; b loses its source 10s before a dies, so c is strictly fresher.
const STALE_CANDIDATE: &str = r#"
id = "stale-candidate"
description = "b cut from a at 20s, node-down a at 30s: c holds a strict superset of b"
duration = "120s"
[topology]
sites = [{ name = "a" }, { name = "b" }, { name = "c" }]
active = "a"
priorities = ["a", "b", "c"]
[[faults]]
at = "20s"
op = "partition-pair"
site = "b"
peer = "a"
[[faults]]
at = "30s"
op = "node-down"
site = "a"
[expect]
properties = ["RPO-A", "SW", "DNS-W"]
"#;

#[test]
fn rpo_a_fails_when_gtid_freshness_is_ignored() {
    let s = parse("stale-candidate.toml", STALE_CANDIDATE).expect("valid scenario");
    breaks(&s, Broken::IgnoreGtidFreshness, "RPO-A");
}

/// The controller loses a (refused) just long enough to promote b; a answers again at the
/// moment of the promotion's fence. Clients re-resolve every second, so they follow DNS to
/// b at once: an unfenced a keeps acknowledging the clients that still hold it.
const OLD_PRIMARY_BACK: &str = r#"
id = "old-primary-back"
description = "partition-pair a <-> controller 30s..34.1s: a reachable again when b is promoted"
duration = "120s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
priorities = ["a", "b"]
[[faults]]
at = "30s"
op = "partition-pair"
site = "a"
peer = "controller"
heal_at = "34.1s"
[workload]
dns_ttl = "1s"
[expect]
properties = ["SW", "DW"]
"#;

#[test]
fn sw_fails_when_the_old_primary_is_not_fenced() {
    let s = parse("old-primary-back.toml", OLD_PRIMARY_BACK).expect("valid scenario");
    breaks(&s, Broken::SkipFenceOldPrimary, "SW");
}

#[test]
fn fence_fails_when_the_sidecar_never_self_fences() {
    // a is cut from everything for 60s: its sidecar must fence it within H.
    breaks(
        &catalog("network-partition-primary"),
        Broken::NeverSelfFence,
        "FENCE",
    );
}

#[test]
fn sw_h_fails_when_the_deposed_primary_is_never_fenced_by_its_sidecar() {
    // Only the controller loses a: a's sidecar hears the promotion of b and must fence a
    // within F1; the controller cannot reach a to do it until the cut heals at 90s.
    breaks(
        &catalog("operator-cannot-reach-primary"),
        Broken::NeverSelfFence,
        "SW-H",
    );
}

#[test]
fn plv_fails_when_api_calls_can_hold_a_poll() {
    // The apiserver hangs for 90s: a poll whose every API call waits out its own 10s
    // timeout stalls far beyond interval + τ + 2s.
    breaks(
        &catalog("apiserver-outage-during-failover"),
        Broken::UnboundedApiCalls,
        "PLV",
    );
}

#[test]
fn nofo_fails_when_probes_are_not_debounced() {
    // 3s refused windows: two failed probes at most, never F = 3 in a row.
    breaks(&catalog("flapping-partition"), Broken::NoDebounce, "NOFO");
}

#[test]
fn rcl_fails_when_the_reclone_interlock_is_skipped() {
    // A prefix that does not match a's divergent GTID must be rejected, never cloned over.
    breaks(
        &catalog("reclone-interlock-bad-prefix"),
        Broken::SkipRecloneInterlock,
        "RCL",
    );
}

/// The controller loses a (refused) long enough to declare it unreachable; b's first STOP
/// REPLICA fails, so the promotion is retried a poll later, when a answers again: that
/// poll's probe reads a writable, and a must be fenced (acked) before b is unfenced.
const RETRY_AFTER_OLD_PRIMARY_BACK: &str = r#"
id = "retry-after-old-primary-back"
description = "a cut from the controller 30s..35s, b's first STOP REPLICA fails: the retried promotion reads a writable"
duration = "90s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
priorities = ["a", "b"]
[[faults]]
at = "30s"
op = "partition-pair"
site = "a"
peer = "controller"
heal_at = "35s"
[[faults]]
at = "31s"
op = "sql-fail"
site = "b"
stmt = "stop_replica"
n = 1
[expect]
properties = ["PWO", "FBP", "SW"]
"#;

fn retry_after_old_primary_back() -> Loaded {
    parse(
        "retry-after-old-primary-back.toml",
        RETRY_AFTER_OLD_PRIMARY_BACK,
    )
    .expect("valid scenario")
}

#[test]
fn fbp_fails_when_the_candidate_is_unfenced_before_the_old_primary_is_fenced() {
    breaks(
        &retry_after_old_primary_back(),
        Broken::UnfenceBeforeFence,
        "FBP",
    );
}

#[test]
fn pwo_fails_when_a_site_read_writable_is_not_fenced_before_the_unfence() {
    breaks(
        &retry_after_old_primary_back(),
        Broken::UnfenceBeforeFence,
        "PWO",
    );
}

#[test]
fn deb_fails_when_one_failed_probe_declares_a_site_unreachable() {
    // 3s refused windows hold at most two failed probes: never F = 3 in a row.
    breaks(
        &judging(catalog("flapping-partition"), "DEB"),
        Broken::NoDebounce,
        "DEB",
    );
}

#[test]
fn taint_fails_when_a_promoted_site_keeps_its_taint() {
    // b's node carries the taint while b is a read-only standby; b's promotion must lift it.
    breaks(
        &catalog("taint-eviction-isolation"),
        Broken::SkipUntaint,
        "TAINT",
    );
}

/// b is promoted at ~35s; b goes down at 60s, inside the 60s cooldown, so nothing is
/// writable until it ends (~95s): for 35s activeSite must not name the dead b.
const DOWN_INSIDE_COOLDOWN: &str = r#"
id = "down-inside-cooldown"
description = "site-down a 30s..42s (b promoted), site-down b at 60s: no writer until the cooldown ends"
duration = "120s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
priorities = ["a", "b"]
[[faults]]
at = "30s"
op = "site-down"
site = "a"
heal_at = "42s"
[[faults]]
at = "60s"
op = "site-down"
site = "b"
[expect]
properties = ["STATUS"]
"#;

#[test]
fn status_fails_when_active_site_names_a_dead_writer() {
    let s = parse("down-inside-cooldown.toml", DOWN_INSIDE_COOLDOWN).expect("valid scenario");
    breaks(&s, Broken::ReportLastWriter, "STATUS");
}

#[test]
fn pf_fails_when_the_planned_target_is_promoted_before_catching_up() {
    // b's SQL thread is stalled: the run must end Failed/LagTimeout, not Succeeded.
    breaks(
        &catalog("planned-lag-timeout-rollback"),
        Broken::SkipPlannedCatchUp,
        "PF",
    );
}

#[test]
fn nal_p_fails_when_the_planned_target_is_promoted_before_catching_up() {
    // Promoting the stalled b drops every write a acked that b had not applied.
    breaks(
        &catalog("planned-lag-timeout-rollback"),
        Broken::SkipPlannedCatchUp,
        "NAL-P",
    );
}
