//! Component tests of auto-clone (spec §3.10): an empty follower is cloned from the
//! confirmed active site, one phase per poll, reported by the `Bootstrapping` condition.

mod controller_support;

use controller_support::{host, simulate, Setup};

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
