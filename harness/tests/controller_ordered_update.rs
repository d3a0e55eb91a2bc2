//! Component tests of the ordered update's handoff (spec §3.9): followers first, then a
//! planned switchover the controller starts by itself (not gated by the anti-flap
//! cooldown, §3.11), then the old primary, until `updatePhase` clears. The real group
//! reconciler and topology manager, tick by tick and poll by poll, against the fakes. The
//! fake apiserver runs no Deployment controller: `rollout_done` reports a finished rollout
//! the way it would.

mod controller_support;

use bloodraven::crd::MysqlFailoverGroup;
use bloodraven::metrics::{FAILOVERS, PLANNED_FAILOVERS};
use bloodraven::reconcile::GroupReconciler;
use bloodraven::topology::Manager;
use controller_support::{host, simulate, Ctx, Setup, GROUP, NS};
use serde_json::{json, Value};

const PLANNED: &str = "bloodraven.shipstream.io/planned-failover";

fn seed_secret(ctx: &Ctx) {
    ctx.api
        .put_raw(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "mysql-g-operator", "namespace": NS},
                   "data": {"username": "Ymxvb2RyYXZlbg==", "password": "c2VjcmV0",
                            "MYSQL_ROOT_PASSWORD": "c2VjcmV0"}}),
        )
        .expect("secret");
}

fn image(ctx: &Ctx, site: &str) -> String {
    ctx.api
        .get("deployments", NS, &format!("mysql-g-{site}"))
        .unwrap_or_else(|| panic!("deployment of {site} missing"))["spec"]["template"]["spec"]
        ["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// What the Deployment controller reports once the new pod runs.
fn rollout_done(ctx: &Ctx, site: &str) {
    ctx.api
        .modify("deployments", NS, &format!("mysql-g-{site}"), |d| {
            let g = d["metadata"]["generation"].clone();
            d["status"] = json!({"observedGeneration": g, "replicas": 1,
                                 "updatedReplicas": 1, "availableReplicas": 1});
        })
        .unwrap();
}

fn update_phase(ctx: &Ctx) -> String {
    ctx.status()["updatePhase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The last failover an hour-long cooldown ago... started now: any cooldown-gated
/// promotion is refused for the whole test.
fn in_cooldown(mut s: Setup) -> Setup {
    s.cooldown = "1h".into();
    let at = bloodraven::topology::manager::fmt_stamp(chaos::world::clock::epoch());
    s.annotations = json!({
        "bloodraven.shipstream.io/last-failover": at,
        "bloodraven.shipstream.io/last-failover-target": "a",
    });
    s
}

/// Brings the group to steady state with every Deployment rolled out, then patches the
/// image; returns the patched group.
async fn start_update(ctx: &Ctx, m: &mut Manager, r: &mut GroupReconciler) -> MysqlFailoverGroup {
    seed_secret(ctx);
    ctx.polls(m, 4).await;
    r.tick(&ctx.group().await).await;
    for s in &ctx.setup.sites {
        rollout_done(ctx, &s.0);
    }
    let mfgs: kube::Api<MysqlFailoverGroup> = kube::Api::namespaced(ctx.kube(), NS);
    mfgs.patch(
        GROUP,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"image": "mysql:9.8"}})),
    )
    .await
    .unwrap();
    ctx.group().await
}

/// One reconciler pass and one manager poll; returns the reconciler's `Updating` reason.
async fn step(
    ctx: &Ctx,
    m: &mut Manager,
    r: &mut GroupReconciler,
    g: &MysqlFailoverGroup,
) -> String {
    let u = r
        .tick(g)
        .await
        .updating
        .expect("the pass reached the update");
    ctx.poll(m).await;
    u.reason
}

#[test]
fn update_hands_off_by_itself_inside_the_cooldown_then_updates_the_old_primary() {
    simulate(in_cooldown(Setup::two_sites()), |ctx| async move {
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        let g = start_update(&ctx, &mut m, &mut r).await;
        let mut phases: Vec<String> = vec![];
        let mut note = |p: String| {
            if !p.is_empty() && phases.last() != Some(&p) {
                phases.push(p);
            }
        };

        // The follower b first, its rollout, then the handoff request for a.
        assert_eq!(step(&ctx, &mut m, &mut r, &g).await, "UpdateReplica");
        note(update_phase(&ctx));
        assert_eq!(
            (image(&ctx, "b").as_str(), image(&ctx, "a").as_str()),
            ("mysql:9.8", "mysql:9.7")
        );
        assert_eq!(step(&ctx, &mut m, &mut r, &g).await, "WaitReplica");
        note(update_phase(&ctx));
        rollout_done(&ctx, "b");

        // The handoff runs as a planned failover, though a failover was recorded at the
        // start of an hour-long cooldown. a's template is held until b is the writer.
        let mut switched = false;
        for _ in 0..20 {
            let reason = step(&ctx, &mut m, &mut r, &g).await;
            note(update_phase(&ctx));
            if ctx.status()["activeSite"] != "b" {
                assert_eq!(
                    image(&ctx, "a"),
                    "mysql:9.7",
                    "the writer is never restarted ({reason})"
                );
            }
            if ctx.status()["plannedFailover"]["phase"] == "Succeeded" {
                switched = true;
                break;
            }
        }
        assert!(switched, "no handoff: {}", ctx.status());
        let p = ctx.status()["plannedFailover"].clone();
        assert_eq!(p["phase"], "Succeeded", "{p}");
        assert_eq!(p["triggeredBy"], "OrderedUpdate", "{p}");
        assert_eq!(
            (p["sourcePrimary"].as_str(), p["targetSite"].as_str()),
            (Some("a"), Some("b"))
        );
        assert_eq!(p["transactionsLost"], 0);
        assert_eq!(
            ctx.status()["lastFailoverTarget"],
            "b",
            "recorded like any promotion"
        );
        assert_eq!(
            ctx.metric(FAILOVERS, &[("target_site", "b")]),
            1,
            "counted as a failover"
        );
        assert_eq!(
            ctx.metric(
                PLANNED_FAILOVERS,
                &[("target_site", "b"), ("result", "success")]
            ),
            1
        );
        assert!(ctx.read_only("a") && !ctx.read_only("b"));
        assert_eq!(ctx.logged("failover blocked by anti-flap cooldown"), 0);

        // Then the old primary, as a follower of b, until the update completes.
        let mut done = false;
        for _ in 0..30 {
            let reason = step(&ctx, &mut m, &mut r, &g).await;
            note(update_phase(&ctx));
            if reason == "WaitOldPrimary" && image(&ctx, "a") == "mysql:9.8" {
                rollout_done(&ctx, "a");
            }
            if reason == "Complete" {
                done = true;
                break;
            }
        }
        assert!(done, "update never completed: {}", ctx.status());
        ctx.poll(&mut m).await;
        assert_eq!(image(&ctx, "a"), "mysql:9.8");
        assert_eq!(
            phases,
            [
                "UpdateReplica",
                "WaitReplica",
                "Failover",
                "UpdateOldPrimary",
                "WaitOldPrimary"
            ]
        );
        assert_eq!(
            ctx.status()["updatePhase"],
            Value::Null,
            "updatePhase cleared"
        );
        let c = ctx.condition("Updating");
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some("False"), Some("Complete"))
        );
        assert_eq!(ctx.status()["activeSite"], "b", "no fail-back");
        assert_eq!(ctx.engine("a").snapshot().source_host, Some(host("b")));
        assert_eq!(ctx.registry.handoff_request(NS, GROUP), None);
    });
}

/// No healthy standby (b is not replicating): the handoff is held, a keeps the writer.
#[test]
fn handoff_waits_for_a_replicating_standby() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        let g = start_update(&ctx, &mut m, &mut r).await;
        assert_eq!(step(&ctx, &mut m, &mut r, &g).await, "UpdateReplica");
        rollout_done(&ctx, "b");
        // b's wait ends and the same pass asks for the handoff, before the next poll.
        assert_eq!(r.tick(&g).await.updating.unwrap().reason, "Failover");
        assert_eq!(
            ctx.registry.handoff_request(NS, GROUP).as_deref(),
            Some("a")
        );
        // Then b stops replicating (convergence restarts it every few polls, so it is
        // stopped again before each poll): the manager holds the handoff.
        for _ in 0..6 {
            ctx.sql("b", "STOP REPLICA").await;
            ctx.poll(&mut m).await;
        }
        assert_eq!(ctx.status()["activeSite"], "a");
        assert!(ctx.logged("ordered update handoff held") >= 1);
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
    });
}

/// Spec §4.3: an annotated planned failover during an update is refused
/// (`ConcurrentOperation`); the update moves the writer itself.
#[test]
fn annotated_planned_failover_is_refused_during_an_update() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        let g = start_update(&ctx, &mut m, &mut r).await;
        assert_eq!(step(&ctx, &mut m, &mut r, &g).await, "UpdateReplica");
        ctx.api
            .modify("mysqlfailovergroups", NS, GROUP, |o| {
                o["metadata"]["annotations"] = json!({ PLANNED: "b" });
            })
            .unwrap();
        ctx.poll(&mut m).await;
        let p = ctx.status()["plannedFailover"].clone();
        assert_eq!(
            (p["phase"].as_str(), p["reason"].as_str()),
            (Some("Failed"), Some("ConcurrentOperation")),
            "{p}"
        );
        assert!(
            p["message"]
                .as_str()
                .unwrap()
                .contains("updatePhase UpdateReplica"),
            "{p}"
        );
        assert_eq!(ctx.status()["activeSite"], "a");
    });
}
