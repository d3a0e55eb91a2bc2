//! Component tests of the topology manager (spec §3): debounce, promotion order, anti-flap
//! cooldown, split brain, divergent returning sites and the durable anti-flap record. The
//! real `Manager`, poll by poll, against fake mysqld engines and the fake apiserver.

mod controller_support;

use std::time::Duration;

use bloodraven::metrics::{DIVERGENT_TRANSACTIONS, FAILOVERS, SPLIT_BRAIN_AUTO_RESOLVE};
use chaos::trace::EventKind;
use controller_support::{host, lb_ip, simulate, uuid, Ctx, Setup, GROUP, NS};
use serde_json::json;

/// The debounced state of `site` the manager publishes.
fn state(ctx: &Ctx, site: &str) -> String {
    ctx.registry
        .get(NS, GROUP)
        .and_then(|v| v.sites.into_iter().find(|(n, _)| n == site))
        .map(|(_, s)| s)
        .unwrap_or_default()
}

/// The (sourceConvergenceState, sourceConvergenceReason) of `site` the manager publishes
/// on `/status`.
fn convergence(ctx: &Ctx, site: &str) -> (String, String) {
    ctx.registry
        .get(NS, GROUP)
        .and_then(|v| v.details.into_iter().find(|d| d.name == site))
        .map(|d| (d.source_convergence_state, d.source_convergence_reason))
        .unwrap_or_default()
}

/// Index in the trace of the first controller mutation on `site` with exactly `sql`.
fn mutation_at(ctx: &Ctx, site: &str, sql: &str) -> Option<usize> {
    ctx.trace.events().iter().position(|e| {
        matches!(&e.kind, EventKind::Mutation { site: s, user, sql: q, ok: true }
            if s == site && user == controller_support::CONTROLLER_USER && q == sql)
    })
}

fn controller_mutations_on(ctx: &Ctx, site: &str) -> Vec<String> {
    ctx.mutations()
        .into_iter()
        .filter(|(s, _, _)| s == site)
        .map(|(_, q, _)| q)
        .collect()
}

/// Polls until `a` is the healthy primary, kills it, polls until `b` is promoted.
async fn fail_over_to_b(ctx: &Ctx, m: &mut bloodraven::topology::Manager) {
    ctx.polls(m, 3).await;
    assert_eq!(ctx.status()["activeSite"], "a");
    ctx.engine("a").shutdown();
    for _ in 0..6 {
        ctx.poll(m).await;
        if ctx.status()["activeSite"] == "b" {
            break;
        }
    }
    assert_eq!(ctx.status()["activeSite"], "b", "b promoted");
}

#[test]
fn debounce_thresholds_are_exact() {
    let mut setup = Setup::two_sites();
    setup.failure_threshold = 4;
    setup.recovery_threshold = 3;
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        // read_only=1 is taken at once; read_only=0 needs recoveryThreshold polls.
        ctx.poll(&mut m).await;
        assert_eq!(state(&ctx, "b"), "read-only");
        assert_eq!(state(&ctx, "a"), "unknown");
        ctx.poll(&mut m).await;
        assert_eq!(state(&ctx, "a"), "unknown");
        ctx.poll(&mut m).await;
        assert_eq!(
            state(&ctx, "a"),
            "writable",
            "after exactly 3 writable polls"
        );
        // Errors: unreachable only after failureThreshold consecutive failures.
        ctx.engine("a").shutdown();
        for n in 1..4 {
            ctx.poll(&mut m).await;
            assert_eq!(state(&ctx, "a"), "writable", "after {n} failed polls");
            assert!(ctx.read_only("b"), "no promotion before the threshold");
        }
        ctx.poll(&mut m).await;
        assert_eq!(
            state(&ctx, "a"),
            "unreachable",
            "after exactly 4 failed polls"
        );
        assert_eq!(ctx.status()["activeSite"], "b", "promoted on that poll");
        // A success in between resets the count.
        ctx.engine("b").shutdown();
        ctx.polls(&mut m, 3).await;
        ctx.engine("b").boot(false);
        ctx.poll(&mut m).await;
        ctx.engine("b").shutdown();
        ctx.polls(&mut m, 3).await;
        assert_eq!(
            state(&ctx, "b"),
            "writable",
            "count restarted after the success"
        );
        ctx.poll(&mut m).await;
        assert_eq!(state(&ctx, "b"), "unreachable");
    });
}

#[test]
fn promotion_fences_a_reachable_old_primary_before_unfencing_the_candidate() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        // a's probes fail three times (its SELECTs error) while it stays reachable.
        ctx.engine("a").fail_next("select", 3);
        let before = ctx.trace.len();
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        let fence_old =
            mutation_at(&ctx, "a", "SET GLOBAL super_read_only = ON").expect("old primary fenced");
        assert!(fence_old > before);
        let b_seq: Vec<String> = controller_mutations_on(&ctx, "b");
        assert_eq!(
            b_seq,
            [
                "STOP REPLICA",
                "RESET REPLICA ALL",
                "SET GLOBAL super_read_only = OFF",
                "SET GLOBAL read_only = OFF"
            ],
            "Execute on the candidate"
        );
        let unfence = mutation_at(&ctx, "b", "SET GLOBAL super_read_only = OFF").unwrap();
        assert!(
            fence_old < unfence,
            "old primary fenced before the candidate's unfence"
        );
        assert!(ctx.read_only("a"));
        assert!(!ctx.read_only("b"));
        // DNS only after the candidate answered writable.
        let events = ctx.trace.events();
        let dns_writes: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                matches!(&e.kind, EventKind::ApiWrite(w) if w.ok && w.resource == "dnsendpoints")
            })
            .map(|(i, _)| i)
            .collect();
        assert_eq!(dns_writes.len(), 2, "a at start, then b");
        assert!(dns_writes[0] < before);
        let dns = dns_writes[1];
        let read_only_off = mutation_at(&ctx, "b", "SET GLOBAL read_only = OFF").unwrap();
        let confirm = read_only_off
            + events[read_only_off..]
                .iter()
                .position(|e| {
                    matches!(&e.kind, EventKind::ReadOnlyProbe { site, read_only: false, .. } if site == "b")
                })
                .expect("writability confirmed");
        assert!(confirm < dns, "DNS written after the confirmation");
        assert_eq!(ctx.dns_target(), Some(lb_ip(1)));
        assert_eq!(ctx.metric(FAILOVERS, &[("target_site", "b")]), 1);
        assert_eq!(ctx.status()["lastFailoverTarget"], "b");
        assert_eq!(
            ctx.status()["promotionGtidExecuted"],
            format!("{}:1-3", uuid(0)).as_str()
        );
    });
}

#[test]
fn cooldown_blocks_a_second_promotion_which_then_happens_on_the_first_poll_after_it() {
    let mut setup = Setup::two_sites();
    setup.cooldown = "60s".into();
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        let last = chrono::DateTime::parse_from_rfc3339(
            ctx.status()["lastFailover"].as_str().expect("lastFailover"),
        )
        .unwrap();
        let until = last + chrono::Duration::seconds(60);
        // a returns fenced and rejoins under b; then b is lost inside the cooldown.
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 4).await;
        ctx.engine("b").shutdown();
        let mut previous_start = None;
        loop {
            let start = ctx.clock.now();
            ctx.poll(&mut m).await;
            if !ctx.read_only("a") {
                assert!(
                    start < until + chrono::Duration::seconds(2),
                    "late: {start}"
                );
                let prev = previous_start.expect("a blocked poll came first");
                assert!(
                    prev < until,
                    "the previous poll was still inside the cooldown"
                );
                break;
            }
            assert!(
                start < until + chrono::Duration::seconds(10),
                "never promoted"
            );
            previous_start = Some(start);
        }
        assert!(ctx.logged("failover blocked by anti-flap cooldown") >= 1);
        assert_eq!(ctx.logged("initiating failover"), 2);
        assert_eq!(ctx.status()["activeSite"], "a");
        assert_eq!(ctx.metric(FAILOVERS, &[("target_site", "a")]), 1);
    });
}

#[test]
fn split_brain_with_history_fences_the_non_target() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        // The old primary comes back writable (no sidecar here to fence it).
        ctx.engine("a").boot(false);
        ctx.polls(&mut m, 3).await;
        assert!(ctx.read_only("a"), "returning old primary fenced");
        assert!(!ctx.read_only("b"), "the recorded target keeps writing");
        assert_eq!(
            ctx.logged("fencing returning old primary (split brain after failover)"),
            1
        );
        assert!(controller_mutations_on(&ctx, "b")
            .iter()
            .all(|q| q != "SET GLOBAL super_read_only = ON"));
        assert_eq!(
            ctx.metric(SPLIT_BRAIN_AUTO_RESOLVE, &[("prefer_site", "b")]),
            0,
            "the history path is not the policy path"
        );
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        assert_eq!(ctx.condition("Degraded")["reason"], "Healthy");
    });
}

#[test]
fn split_brain_with_priorities_fences_the_loser_and_counts_it() {
    let mut setup = Setup::two_sites();
    setup.priorities = vec!["b".into(), "a".into()];
    simulate(setup, |ctx| async move {
        // b is unfenced behind the controller's back, with fewer transactions than a.
        ctx.sql("b", "STOP REPLICA").await;
        ctx.sql("b", "SET GLOBAL read_only = OFF").await;
        ctx.sql("a", "INSERT INTO chaos.counter (id) VALUES (100)")
            .await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert!(ctx.read_only("a"), "the non-preferred site is fenced");
        assert!(
            !ctx.read_only("b"),
            "the winner stays writable (GTID not consulted)"
        );
        assert_eq!(
            ctx.metric(SPLIT_BRAIN_AUTO_RESOLVE, &[("prefer_site", "b")]),
            1
        );
        assert_eq!(
            ctx.logged("split-brain auto-resolve: fencing non-preferred site per spec.splitBrainPolicy.sitePriorities"),
            1
        );
        assert_eq!(
            controller_mutations_on(&ctx, "a"),
            ["SET GLOBAL super_read_only = ON"]
        );
        ctx.polls(&mut m, 2).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        assert_eq!(
            ctx.metric(SPLIT_BRAIN_AUTO_RESOLVE, &[("prefer_site", "b")]),
            1
        );
    });
}

#[test]
fn manual_split_brain_fences_nothing_and_reports_it() {
    simulate(Setup::two_sites(), |ctx| async move {
        ctx.sql("b", "STOP REPLICA").await;
        ctx.sql("b", "SET GLOBAL read_only = OFF").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 6).await;
        assert!(
            !ctx.read_only("a") && !ctx.read_only("b"),
            "both left writable"
        );
        assert!(ctx.mutations().is_empty(), "{:?}", ctx.mutations());
        let degraded = ctx.condition("Degraded");
        assert_eq!(degraded["status"], "True");
        assert_eq!(degraded["reason"], "SplitBrain");
        assert_eq!(
            degraded["message"],
            "SPLIT BRAIN: 2 sites are writable (a, b)"
        );
        assert_eq!(ctx.status()["activeSite"], "");
        assert_eq!(
            ctx.registry.get(NS, GROUP).unwrap().active_site,
            "",
            "/active-site names nobody"
        );
        assert_eq!(ctx.condition("Ready")["status"], "False");
        let events = ctx.api.list("events", Some(NS));
        assert!(events
            .iter()
            .any(|e| e["reason"] == "SplitBrainDetected" && e["type"] == "Warning"));
        assert_eq!(ctx.dns_target(), None, "no DNS for a split brain");
    });
}

#[test]
fn divergent_returning_site_is_blocked_with_the_exact_gtid_and_never_repointed() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.sql("b", "INSERT INTO chaos.counter (id) VALUES (50)")
            .await;
        // a returns fenced but with two transactions b never got.
        ctx.engine("a").boot(true);
        let errant = ctx.engine("a").errant_write(2);
        assert_eq!(errant, [format!("{}:4", uuid(0)), format!("{}:5", uuid(0))]);
        ctx.polls(&mut m, 3).await;
        let a = ctx.site_status("a");
        assert_eq!(a["recoveryState"], "RecoveryBlocked");
        assert_eq!(a["divergentGtid"], format!("{}:4-5", uuid(0)).as_str());
        assert_eq!(a["divergentTransactionCount"], 2);
        let rp = ctx.condition("RecoveryPending");
        assert_eq!(rp["status"], "True");
        assert_eq!(rp["reason"], "DivergentTransactions");
        assert_eq!(ctx.metric(DIVERGENT_TRANSACTIONS, &[("site", "a")]), 2);
        assert_eq!(ctx.logged("divergence detected"), 1);
        // Re-verified over time (every 30s), never repointed, never unfenced.
        ctx.polls(&mut m, 40).await;
        let on_a = controller_mutations_on(&ctx, "a");
        assert!(
            on_a.iter()
                .all(|q| !q.starts_with("CHANGE REPLICATION SOURCE")
                    && q != "START REPLICA"
                    && q != "RESET REPLICA ALL"
                    && !q.ends_with("= OFF")),
            "{on_a:?}"
        );
        assert!(ctx.read_only("a"));
        assert_eq!(ctx.engine("a").snapshot().source_host, None);
        assert_eq!(ctx.site_status("a")["recoveryState"], "RecoveryBlocked");
        assert_eq!(
            ctx.logged("divergence detected"),
            1,
            "logged when new or changed"
        );
        let events = ctx.api.list("events", Some(NS));
        assert_eq!(
            events
                .iter()
                .filter(|e| e["reason"] == "DataLossDetected")
                .count(),
            1
        );
        // A fresh divergent write changes the report.
        ctx.engine("a").errant_write(1);
        ctx.polls(&mut m, 16).await;
        assert_eq!(
            ctx.site_status("a")["divergentGtid"],
            format!("{}:4-6", uuid(0)).as_str()
        );
        assert_eq!(ctx.metric(DIVERGENT_TRANSACTIONS, &[("site", "a")]), 3);
    });
}

#[test]
fn anti_flap_record_is_rehydrated_from_annotations_when_status_lacks_it() {
    let mut setup = Setup::two_sites();
    setup.cooldown = "60s".into();
    // The simulated wall clock starts at 2026-01-01T00:00:00Z.
    setup.annotations = json!({
        "bloodraven.shipstream.io/last-failover": "2026-01-01T00:00:30Z",
        "bloodraven.shipstream.io/last-failover-target": "a",
    });
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        assert_eq!(
            ctx.logged("restored lastFailover from out-of-band annotations"),
            1
        );
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["lastFailover"], "2026-01-01T00:00:30Z");
        assert_eq!(ctx.status()["lastFailoverTarget"], "a");
        ctx.engine("a").shutdown();
        ctx.polls(&mut m, 5).await;
        assert!(ctx.read_only("b"), "cooldown from the annotation holds");
        assert!(ctx.logged("failover blocked by anti-flap cooldown") >= 1);
        while ctx.clock.now()
            < chrono::DateTime::parse_from_rfc3339("2026-01-01T00:01:30Z").unwrap()
        {
            ctx.poll(&mut m).await;
            if ctx.clock.now()
                < chrono::DateTime::parse_from_rfc3339("2026-01-01T00:01:29Z").unwrap()
            {
                assert!(ctx.read_only("b"));
            }
        }
        ctx.polls(&mut m, 1).await;
        assert!(!ctx.read_only("b"), "promoted once the cooldown ran out");
    });
}

#[test]
fn a_newer_status_record_wins_and_a_corrupt_annotation_falls_back_to_status() {
    let mut setup = Setup::two_sites();
    setup.cooldown = "60s".into();
    setup.annotations = json!({
        "bloodraven.shipstream.io/last-failover": "not a time",
        "bloodraven.shipstream.io/last-failover-target": "b",
    });
    setup.status = json!({"lastFailover": "2026-01-01T00:00:20Z", "lastFailoverTarget": "a"});
    simulate(setup, |ctx| async move {
        let m = ctx.manager().await;
        drop(m);
        assert_eq!(ctx.logged("corrupt anti-flap annotation, using status"), 1);
        assert_eq!(ctx.logged("restored lastFailover from CR status"), 1);
    });
    let mut setup = Setup::two_sites();
    setup.annotations = json!({
        "bloodraven.shipstream.io/last-failover": "2026-01-01T00:00:10Z",
        "bloodraven.shipstream.io/last-failover-target": "b",
    });
    setup.status = json!({"lastFailover": "2026-01-01T00:00:20Z", "lastFailoverTarget": "a"});
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        assert_eq!(ctx.logged("restored lastFailover from CR status"), 1);
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["lastFailover"], "2026-01-01T00:00:20Z");
        assert_eq!(ctx.status()["lastFailoverTarget"], "a");
    });
}

#[test]
fn a_returning_clean_old_primary_rejoins_under_the_new_one() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 5).await;
        let snap = ctx.engine("a").snapshot();
        assert_eq!(snap.source_host.as_deref(), Some(host("b").as_str()));
        assert!(snap.read_only);
        assert_eq!(
            ctx.site_status("a")["recoveryState"].as_str().unwrap_or(""),
            ""
        );
        assert_eq!(ctx.condition("Ready")["status"], "True");
    });
}

#[test]
fn an_errant_write_on_a_replicating_follower_stops_its_replication_and_is_reported() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        // Primary writes while b replicates: b never looks errant, whatever the probe race.
        for id in 200..206 {
            ctx.sql(
                "a",
                &format!("INSERT INTO chaos.counter (id) VALUES ({id})"),
            )
            .await;
            ctx.poll(&mut m).await;
        }
        assert!(
            !controller_mutations_on(&ctx, "b").contains(&"STOP REPLICA".to_string()),
            "a caught-up follower is left alone"
        );
        assert_eq!(
            convergence(&ctx, "b"),
            ("Converged".into(), "DirectSource".into())
        );
        // Two local commits on b while it keeps replicating from a.
        let errant = ctx.engine("b").errant_write(2);
        ctx.poll(&mut m).await;
        let b = ctx.site_status("b");
        assert_eq!(b["recoveryState"], "RecoveryBlocked");
        assert_eq!(
            convergence(&ctx, "b"),
            ("Blocked".into(), "GTIDDiverged".into())
        );
        let (first, last) = (&errant[0], &errant[1]);
        let range = format!("{}-{}", first, last.rsplit_once(':').unwrap().1);
        assert_eq!(b["divergentGtid"], range.as_str());
        assert_eq!(b["divergentTransactionCount"], 2);
        assert_eq!(ctx.metric(DIVERGENT_TRANSACTIONS, &[("site", "b")]), 2);
        assert_eq!(ctx.logged("divergence detected"), 1);
        let snap = ctx.engine("b").snapshot();
        assert!(!snap.io_running && !snap.sql_running, "replication stopped");
        // It stays blocked and stopped (re-verified every 30s), a stays the writer.
        ctx.polls(&mut m, 20).await;
        let on_b = controller_mutations_on(&ctx, "b");
        assert!(
            on_b.iter()
                .all(|q| q != "START REPLICA" && !q.starts_with("CHANGE REPLICATION SOURCE")),
            "{on_b:?}"
        );
        assert!(!ctx.engine("b").snapshot().io_running);
        assert_eq!(ctx.site_status("b")["recoveryState"], "RecoveryBlocked");
        assert_eq!(ctx.status()["activeSite"], "a");
        assert!(ctx.read_only("b"));
    });
}

/// Spec §3.5 pending promotion: a promoted site read read-only by the next poll (here its
/// own sidecar's stale lease, modelled by fencing it as root) is still what `/active-site`
/// and `/status` name for 30s, while status.activeSite stays truthful; then it expires.
#[test]
fn a_pending_promotion_is_reported_for_30s_then_expires() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        let promoted_at = tokio::time::Instant::now();
        assert_eq!(ctx.registry.get(NS, GROUP).unwrap().active_site, "b");
        ctx.sql("b", "SET GLOBAL super_read_only=ON").await;
        ctx.poll(&mut m).await;
        assert_eq!(state(&ctx, "b"), "read-only", "the poll read b fenced");
        assert_eq!(ctx.status()["activeSite"], "", "status says what is true");
        assert_eq!(
            ctx.registry.get(NS, GROUP).unwrap().active_site,
            "b",
            "/active-site keeps the pending promotion"
        );
        while promoted_at.elapsed() < Duration::from_secs(29) {
            ctx.poll(&mut m).await;
            if promoted_at.elapsed() < Duration::from_secs(29) {
                assert_eq!(ctx.registry.get(NS, GROUP).unwrap().active_site, "b");
            }
        }
        ctx.polls(&mut m, 2).await;
        assert!(promoted_at.elapsed() >= Duration::from_secs(30));
        assert_eq!(ctx.registry.get(NS, GROUP).unwrap().active_site, "");
        assert_eq!(
            ctx.logged("pending promotion expired before a poll read the site writable"),
            1
        );
    });
}

/// A poll that reads the promoted site writable clears the pending promotion at once.
#[test]
fn a_pending_promotion_clears_when_a_poll_reads_the_site_writable() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.poll(&mut m).await;
        assert_eq!(
            ctx.logged("pending promotion cleared: a poll read the site writable"),
            1
        );
        // Cleared: a later fence is reported at once, not masked for 30s.
        ctx.sql("b", "SET GLOBAL super_read_only=ON").await;
        ctx.poll(&mut m).await;
        assert_eq!(ctx.registry.get(NS, GROUP).unwrap().active_site, "");
    });
}

/// Finding against spec §3/§8: while a promotion drains a relay backlog (up to 30s inside
/// one poll), status must not keep naming the lost primary. It is written before the
/// drain with activeSite "" and FailoverInProgress=True, and names the new primary as soon
/// as the promotion is confirmed.
#[test]
fn status_reports_the_promotion_in_progress_during_the_relay_drain() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.condition("FailoverInProgress")["status"], "False");
        // b's SQL thread stops applying: a backlog the drain budget cannot clear.
        ctx.engine("b").set_apply_rate(0.0);
        for i in 0..5 {
            ctx.sql(
                "a",
                &format!("INSERT INTO chaos.counter (id) VALUES ({})", 100 + i),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctx.engine("a").shutdown();
        let samples = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for _ in 0..8 {
            let done = std::rc::Rc::new(std::cell::Cell::new(false));
            let sampler = {
                let (ctx, done, samples) = (ctx.clone(), done.clone(), samples.clone());
                async move {
                    while !done.get() {
                        let c = ctx.condition("FailoverInProgress");
                        samples.borrow_mut().push((
                            ctx.status()["activeSite"]
                                .as_str()
                                .unwrap_or("")
                                .to_string(),
                            c["status"].as_str().unwrap_or("").to_string(),
                            c["reason"].as_str().unwrap_or("").to_string(),
                        ));
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            };
            let poll = async {
                m.poll().await;
                done.set(true);
            };
            tokio::join!(poll, sampler);
            if ctx.status()["activeSite"] == "b" {
                break;
            }
            tokio::time::sleep(ctx.setup.poll_every()).await;
        }
        assert_eq!(ctx.status()["activeSite"], "b", "b promoted");
        assert!(
            ctx.logged("relay log drain did not complete cleanly") >= 1,
            "the drain ran out its budget"
        );
        let samples = samples.borrow();
        let during: Vec<_> = samples.iter().filter(|s| s.1 == "True").collect();
        assert!(
            during.len() >= 40,
            "FailoverInProgress=True for the whole ~30s drain: {samples:?}"
        );
        for (active, _, reason) in &during {
            assert_eq!(active, "", "no stale activeSite during the drain");
            assert_eq!(reason, "Promoting");
        }
        let c = ctx.condition("FailoverInProgress");
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("NoFailoverInProgress"))
        );
        ctx.engine("b").set_apply_rate(1000.0);
    });
}
