//! Component tests of the primary re-assert (spec §3.7): the real topology manager, poll
//! by poll, against fake mysqld engines and the fake apiserver.

mod controller_support;

use bloodraven::metrics::PRIMARY_REASSERT;
use controller_support::{lb_ip, simulate, uuid, Ctx, Setup};
use serde_json::json;

const REASSERT: &str = "re-asserting fenced promoted primary: no site is writable and the last failover target is GTID-complete; restoring writability";
const REFUSED: &str = "primary re-assert refused: ";

/// Polls until `a` is the healthy writable primary, kills it, polls until `b` is promoted.
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
    assert_eq!(ctx.status()["lastFailoverTarget"], "b");
    assert!(!ctx.read_only("b"));
    // The next poll reads b writable, which confirms and clears the pending promotion
    // (§3.5): re-assert never runs while a promotion is pending.
    ctx.poll(m).await;
}

fn refusals(ctx: &Ctx) -> Vec<String> {
    ctx.logs()
        .into_iter()
        .filter(|(l, m)| l == "WARN" && m.starts_with(REFUSED))
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn fenced_promoted_primary_is_reasserted_once_every_peer_is_reachable_and_read_only() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;

        // b's own sidecar fences it with a stale lease while a is still down.
        ctx.sql("b", "SET GLOBAL super_read_only = ON").await;
        ctx.polls(&mut m, 2).await;
        assert!(ctx.read_only("b"), "a peer is unreachable: no re-assert");
        assert_eq!(ctx.logged(REASSERT), 0);
        let r = refusals(&ctx);
        assert!(
            r.iter().any(|m| m
                == "primary re-assert refused: site a is unreachable, not reachable and read-only"),
            "{r:?}"
        );

        // a comes back fenced: every other site is reachable and read-only.
        ctx.engine("a").boot(true);
        let before = ctx.mutation_count();
        ctx.poll(&mut m).await;
        assert_eq!(ctx.logged(REASSERT), 1);
        assert!(!ctx.read_only("b"), "b writable again");
        assert!(ctx.read_only("a"), "a stays fenced");
        let muts: Vec<(String, String)> = ctx.mutations()[before..]
            .iter()
            .filter(|(site, _, _)| site == "b")
            .map(|(s, q, _)| (s.clone(), q.clone()))
            .collect();
        assert_eq!(
            muts[..2],
            [
                (
                    "b".to_string(),
                    "SET GLOBAL super_read_only = OFF".to_string()
                ),
                ("b".to_string(), "SET GLOBAL read_only = OFF".to_string()),
            ],
            "the two-statement unfence"
        );
        assert_eq!(ctx.metric(PRIMARY_REASSERT, &[("site", "b")]), 1);
        assert_eq!(ctx.dns_target(), Some(lb_ip(1)));
        assert_eq!(ctx.status()["activeSite"], "b");
        assert_eq!(ctx.status()["lastFailoverTarget"], "b", "not a failover");
        assert_eq!(
            ctx.registry
                .get(controller_support::NS, controller_support::GROUP)
                .unwrap()
                .active_site,
            "b"
        );
        // The returning old primary is then recovered under b as usual.
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.logged(REASSERT), 1, "once");
        assert_eq!(
            ctx.engine("a").snapshot().source_host.as_deref(),
            Some(controller_support::host("b").as_str())
        );
    });
}

#[test]
fn total_loss_recovers_through_reassert() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.engine("b").shutdown();
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.condition("Degraded")["reason"], "TotalLoss");
        ctx.engine("a").boot(true);
        ctx.engine("b").boot(true);
        ctx.polls(&mut m, 2).await;
        assert_eq!(ctx.logged(REASSERT), 1);
        assert!(!ctx.read_only("b"));
        assert!(ctx.read_only("a"));
        assert_eq!(ctx.status()["activeSite"], "b");
    });
}

#[test]
fn reassert_refused_when_a_peer_has_transactions_the_target_lacks() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.sql("b", "SET GLOBAL super_read_only = ON").await;
        ctx.engine("a").boot(true);
        let errant = ctx.engine("a").errant_write(1);
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.logged(REASSERT), 0);
        assert!(ctx.read_only("b") && ctx.read_only("a"), "nobody unfenced");
        let want = format!(
            "primary re-assert refused: target b lacks {} present on a",
            errant[0]
        );
        assert_eq!(
            refusals(&ctx).iter().filter(|m| **m == want).count(),
            1,
            "logged once (rate limited): {:?}",
            refusals(&ctx)
        );
        assert_eq!(ctx.metric(PRIMARY_REASSERT, &[("site", "b")]), 0);
    });
}

#[test]
fn reassert_has_its_own_timer_of_one_cooldown() {
    let mut setup = Setup::two_sites();
    setup.cooldown = "60s".into();
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 2).await;
        // First self-fence: re-asserted once no writer has been seen for recoveryThreshold (2)
        // polls (the failover itself does not arm the timer).
        ctx.sql("b", "SET GLOBAL super_read_only = ON").await;
        ctx.polls(&mut m, 2).await;
        assert_eq!(ctx.logged(REASSERT), 1);
        assert!(!ctx.read_only("b"));
        // Second self-fence right away: refused until 60s after the first attempt.
        ctx.sql("b", "SET GLOBAL super_read_only = ON").await;
        let start = tokio::time::Instant::now();
        while ctx.logged(REASSERT) == 1 {
            ctx.poll(&mut m).await;
            assert!(start.elapsed().as_secs() < 90, "never re-asserted again");
        }
        let waited = start.elapsed().as_secs();
        assert!(
            (56..=64).contains(&waited),
            "second re-assert after {waited}s"
        );
        assert!(refusals(&ctx)
            .iter()
            .any(|m| m.contains("within the 60s cooldown")));
        assert!(!ctx.read_only("b"));
        assert_eq!(ctx.metric(PRIMARY_REASSERT, &[("site", "b")]), 2);
    });
}

/// A world where a failover to b is on record (seeded status) and both sites are fenced.
fn recorded_target_b(promotion_gtid: &str) -> Setup {
    let mut setup = Setup::two_sites();
    setup.status = json!({
        "lastFailover": "2025-12-31T23:00:00Z",
        "lastFailoverTarget": "b",
        "promotionGtidExecuted": promotion_gtid,
    });
    setup
}

#[test]
fn reassert_needs_the_promotion_gtid_set() {
    let lacking = format!("{}:1-10", uuid(0));
    simulate(recorded_target_b(&lacking), |ctx| async move {
        ctx.sql("a", "SET GLOBAL super_read_only = ON").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.logged(REASSERT), 0);
        assert!(ctx.read_only("b"));
        let r = refusals(&ctx);
        assert!(
            r.iter().any(|m| m
                == &format!(
                    "primary re-assert refused: target b lacks {}:4-10 of promotionGtidExecuted",
                    uuid(0)
                )),
            "{r:?}"
        );
    });
    simulate(recorded_target_b("not-a-gtid-set"), |ctx| async move {
        ctx.sql("a", "SET GLOBAL super_read_only = ON").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.logged(REASSERT), 0);
        assert!(refusals(&ctx).iter().any(|m| m.starts_with(
            "primary re-assert refused: promotionGtidExecuted \"not-a-gtid-set\" is unparseable"
        )));
    });
    let complete = format!("{}:1-3", uuid(0));
    simulate(recorded_target_b(&complete), |ctx| async move {
        ctx.sql("a", "SET GLOBAL super_read_only = ON").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 2).await;
        assert_eq!(ctx.logged(REASSERT), 1);
        assert!(!ctx.read_only("b"));
        assert!(ctx.read_only("a"));
    });
}

#[test]
fn no_reassert_without_a_recorded_target() {
    simulate(Setup::two_sites(), |ctx| async move {
        ctx.sql("a", "SET GLOBAL super_read_only = ON").await;
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.logged(REASSERT), 0);
        assert!(refusals(&ctx).is_empty());
        assert!(ctx.read_only("a") && ctx.read_only("b"));
        assert_eq!(ctx.condition("Degraded")["reason"], "NoPrimary");
    });
}

#[test]
fn a_one_poll_fence_blip_is_not_reasserted() {
    // A sidecar's start-up safety net fences the active site for a moment; a single probe
    // that catches it must not make the controller unfence the site again.
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        fail_over_to_b(&ctx, &mut m).await;
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 2).await;
        ctx.sql("b", "SET GLOBAL super_read_only = ON").await;
        ctx.poll(&mut m).await;
        ctx.sql("b", "SET GLOBAL super_read_only = OFF").await;
        ctx.sql("b", "SET GLOBAL read_only = OFF").await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.logged(REASSERT), 0);
        assert_eq!(ctx.metric(PRIMARY_REASSERT, &[("site", "b")]), 0);
        assert!(!ctx.read_only("b"));
    });
}
