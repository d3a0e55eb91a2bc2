//! Component tests of the §8.1 conditions beyond Ready: the per-follower overrides of
//! Degraded, and the idle Bootstrapping and Updating conditions.

mod controller_support;

use controller_support::{simulate, Setup};

#[test]
fn degraded_names_a_broken_follower_and_clears_when_it_replicates_again() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.condition("Degraded")["status"], "False");
        assert_eq!(ctx.condition("Degraded")["reason"], "Healthy");
        assert_eq!(ctx.condition("Updating")["reason"], "NotUpdating");
        assert_eq!(ctx.condition("Bootstrapping")["reason"], "NotBootstrapping");

        ctx.sql("b", "STOP REPLICA").await;
        ctx.polls(&mut m, 1).await;
        let d = ctx.condition("Degraded");
        assert_eq!(d["status"], "True");
        assert_eq!(d["reason"], "ReplicationBroken", "{d}");
        assert_eq!(d["message"], "Replication IO/SQL thread not running on b");
        assert_eq!(ctx.condition("Ready")["status"], "False");

        // The controller repoints the stopped follower (convergence), then it clears.
        ctx.polls(&mut m, 8).await;
        assert_eq!(ctx.condition("Degraded")["reason"], "Healthy");
        assert_eq!(ctx.condition("Ready")["status"], "True");
    });
}
