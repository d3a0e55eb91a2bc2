//! Component tests of auto-clone (spec §3.10): an empty follower is cloned from the
//! confirmed active site, one phase per poll, reported by the `Bootstrapping` condition.

mod controller_support;

use std::time::Duration;

use controller_support::{host, lb_ip, simulate, Setup, GROUP, NS};

#[test]
fn an_empty_follower_is_cloned_from_the_active_site_and_replicates() {
    simulate(Setup::two_sites(), |ctx| async move {
        for (_, e) in &ctx.engines {
            e.set_clone_donors(
                ctx.engines
                    .iter()
                    .map(|(n, d)| (host(n), d))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|(h, d)| (h.as_str(), *d)),
            );
        }
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "NotBootstrapping");
        assert_eq!(ctx.condition("Bootstrapping")["status"], "False");

        // b's volume is replaced: fresh datadir, new server_uuid, fenced.
        let b = ctx.engine("b");
        b.shutdown();
        b.wipe_datadir("0000000b-0000-4000-8000-00000000000b");
        b.boot(true);
        let mut phases = vec![];
        for _ in 0..8 {
            ctx.poll(&mut m).await;
            let c = ctx.condition("Bootstrapping");
            let r = c["reason"].as_str().unwrap().to_string();
            if phases.last() != Some(&r) {
                phases.push(r);
            }
        }
        assert_eq!(
            phases,
            ["Cloning", "WaitingForRestart", "SetupReplication", "Done"],
            "one phase per poll"
        );
        assert_eq!(
            ctx.condition("Bootstrapping")["message"],
            "Auto-clone completed successfully"
        );
        assert_eq!(ctx.logged("starting bootstrap"), 1);
        assert_eq!(ctx.logged("bootstrap completed successfully"), 1);
        ctx.wait_replicated("a").await;
        let snap = ctx.engine("b").snapshot();
        assert_eq!(snap.gtid_executed, ctx.engine("a").snapshot().gtid_executed);
        assert!(snap.read_only, "the recipient stays fenced");
        let clones: Vec<_> = ctx
            .mutations()
            .into_iter()
            .filter(|(_, sql, _)| sql.starts_with("CLONE INSTANCE"))
            .collect();
        assert_eq!(clones.len(), 1, "{clones:?}");
        assert_eq!(clones[0].0, "b");
        assert!(
            clones[0].1.contains("@'mysql-g-a-internal':3306"),
            "{}",
            clones[0].1
        );
        assert_eq!(ctx.status()["activeSite"], "a");
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.site_status("b")["replicating"], true);
    });
}

#[test]
fn no_clone_without_a_confirmed_primary() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        ctx.engine("a").shutdown();
        let b = ctx.engine("b");
        b.shutdown();
        b.wipe_datadir("0000000b-0000-4000-8000-00000000000b");
        b.boot(true);
        ctx.polls(&mut m, 8).await;
        assert_eq!(ctx.logged("starting bootstrap"), 0);
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "NotBootstrapping");
    });
}

/// The clone runs beside the poll loop: while a 45s copy into b runs, every poll still
/// finishes within the probe bound and heals DNS; then the clone completes.
#[test]
fn a_long_clone_does_not_block_the_poll() {
    simulate(Setup::two_sites(), |ctx| async move {
        register_donors(&ctx);
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        let b = ctx.engine("b");
        b.shutdown();
        b.wipe_datadir("0000000b-0000-4000-8000-00000000000b");
        b.boot(true);
        b.set_clone_duration(Duration::from_secs(45));
        ctx.poll(&mut m).await;
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "Cloning");

        // The copy starts on the next poll and runs for 45s.
        for _ in 0..3 {
            let started = tokio::time::Instant::now();
            m.poll().await;
            let took = started.elapsed();
            assert!(
                took < Duration::from_secs(6),
                "a poll took {took:?} while the clone runs"
            );
            tokio::time::sleep(ctx.setup.poll_every()).await;
        }
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "Cloning");
        // DNS is healed while the clone is in flight.
        ctx.api
            .delete_raw(
                "dnsendpoints",
                NS,
                &bloodraven::crd::dns_endpoint_name(GROUP),
            )
            .expect("the record existed");
        ctx.poll(&mut m).await;
        assert_eq!(ctx.dns_target(), Some(lb_ip(0)));
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "Cloning");

        for _ in 0..80 {
            ctx.poll(&mut m).await;
            if ctx.condition("Bootstrapping")["reason"] == "Done" {
                break;
            }
        }
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "Done");
        assert_eq!(
            ctx.engine("b").snapshot().gtid_executed,
            ctx.engine("a").snapshot().gtid_executed
        );
    });
}

fn three_empty_sites() -> Setup {
    let mut s = Setup::sites(&[
        ("a", "primary-candidate"),
        ("b", "primary-candidate"),
        ("c", "dr-only"),
    ]);
    s.primary = None;
    s.priorities = vec!["b".into(), "a".into()];
    s
}

fn register_donors(ctx: &controller_support::Ctx) {
    for (_, e) in &ctx.engines {
        e.set_clone_donors(
            ctx.engines
                .iter()
                .map(|(n, d)| (host(n), d))
                .collect::<Vec<_>>()
                .iter()
                .map(|(h, d)| (h.as_str(), *d)),
        );
    }
}

fn clone_order(ctx: &controller_support::Ctx) -> Vec<String> {
    ctx.mutations()
        .into_iter()
        .filter(|(_, sql, ok)| *ok && sql.starts_with("CLONE INSTANCE"))
        .map(|(site, _, _)| site)
        .collect()
}

/// Spec §3.10 fresh deploy: every site empty and fenced, no history. The seed is the first
/// `sitePriorities` candidate (b, not the declared-first a); it alone is made writable,
/// then the candidate a and after it the dr-only c are cloned from it and replicate.
#[test]
fn a_fresh_deploy_seeds_the_priority_site_and_clones_the_others_in_role_order() {
    simulate(three_empty_sites(), |ctx| async move {
        register_donors(&ctx);
        let mut m = ctx.manager().await;
        for _ in 0..40 {
            ctx.poll(&mut m).await;
            if ctx.condition("Bootstrapping")["reason"] == "Done" {
                break;
            }
        }
        let c = ctx.condition("Bootstrapping");
        assert_eq!(c["message"], "Bootstrap completed successfully", "{c}");
        assert!(!ctx.read_only("b"), "the seed is writable");
        assert!(ctx.read_only("a") && ctx.read_only("c"));
        assert_eq!(
            clone_order(&ctx),
            ["a", "c"],
            "candidates first, then dr-only"
        );
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        for s in ["a", "c"] {
            assert_eq!(ctx.site_status(s)["replicating"], true, "{s}");
            assert_eq!(ctx.site_status(s)["sourceHost"], host("b"), "{s}");
        }
        assert_eq!(ctx.logged("starting bootstrap"), 1);
        assert_eq!(ctx.condition("Ready")["status"], "True");
        assert_eq!(
            ctx.status()["lastFailoverTarget"],
            serde_json::Value::Null,
            "no failover recorded"
        );
    });
}

/// The bootstrap survives controller restarts: right after seeding and in the middle of
/// the clones. No second seed, the `Bootstrap` label restored from status, same end.
#[test]
fn a_fresh_deploy_bootstrap_survives_controller_restarts() {
    simulate(three_empty_sites(), |ctx| async move {
        register_donors(&ctx);
        let mut m = ctx.manager().await;
        ctx.poll(&mut m).await;
        assert!(!ctx.read_only("b"), "seeded on the first poll");
        assert_eq!(
            ctx.condition("Bootstrapping")["message"],
            "Bootstrap in progress: Seeding"
        );
        let mut m = ctx.manager().await; // restart 1
        ctx.polls(&mut m, 4).await;
        let c = ctx.condition("Bootstrapping");
        assert!(
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("Bootstrap in progress"),
            "{c}"
        );
        let mut m = ctx.manager().await; // restart 2
        for _ in 0..40 {
            ctx.poll(&mut m).await;
            if ctx.condition("Bootstrapping")["reason"] == "Done" {
                break;
            }
        }
        assert_eq!(
            ctx.condition("Bootstrapping")["message"],
            "Bootstrap completed successfully"
        );
        assert_eq!(ctx.logged("starting bootstrap"), 1, "seeded once");
        assert!(!ctx.read_only("b"));
        assert!(ctx.read_only("a") && ctx.read_only("c"));
        ctx.polls(&mut m, 3).await;
        for s in ["a", "c"] {
            assert_eq!(ctx.site_status(s)["replicating"], true, "{s}");
        }
    });
}

/// Sites holding data are never re-seeded: all read-only with data and no history stays
/// `NoPrimary` (spec §3.2: all-read-only never elects a primary).
#[test]
fn no_fresh_deploy_when_a_site_holds_data() {
    let mut setup = three_empty_sites();
    setup.primary = Some("a".into());
    simulate(setup, |ctx| async move {
        register_donors(&ctx);
        ctx.sql("a", "SET GLOBAL super_read_only=ON").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 6).await;
        assert_eq!(ctx.logged("starting bootstrap"), 0);
        assert!(ctx.read_only("a") && ctx.read_only("b") && ctx.read_only("c"));
        assert_eq!(ctx.condition("Degraded")["reason"], "NoPrimary");
    });
}
