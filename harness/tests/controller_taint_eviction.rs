//! Taint semantics end to end (spec §1 Taint, SCENARIOS `taint-eviction-isolation`): the
//! manager's NoExecute taint on a read-only site's nodes evicts workloads that do not
//! tolerate it (the fake apiserver's taint manager), keeps those that do, and keeps the
//! database pod itself, whose Deployment template tolerates the group's taint.

mod controller_support;

use controller_support::{simulate, Ctx, Setup, NS};
use serde_json::{json, Value};

const KEY: &str = "shipstream.io/db-readonly-g";

fn node(ctx: &Ctx, name: &str, site: &str) {
    ctx.api
        .put_raw(
            "nodes",
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": name, "labels": {"topology.example/site": site}},
                   "spec": {}}),
        )
        .unwrap();
}

fn pod(ctx: &Ctx, name: &str, node: &str, tolerations: Value) {
    ctx.api
        .put_raw(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": name, "namespace": NS},
                   "spec": {"nodeName": node, "tolerations": tolerations,
                            "containers": [{"name": "c", "image": "busybox"}]}}),
        )
        .unwrap();
}

fn alive(ctx: &Ctx, name: &str) -> bool {
    ctx.api.get("pods", NS, name).is_some()
}

#[test]
fn the_read_only_taint_evicts_intolerant_pods_only() {
    simulate(Setup::two_sites(), |ctx| async move {
        node(&ctx, "node-a1", "a");
        node(&ctx, "node-b1", "b");
        // The database pod's tolerations come from the reconciler's pod template.
        let group = ctx.group().await;
        let t = bloodraven::reconcile::deployment::pod_template(
            &group.spec,
            "g",
            2,
            &group.spec.sites[1],
            "mysql-g-operator",
        );
        let db_tolerations = serde_json::to_value(t.spec.unwrap().tolerations).unwrap();
        pod(&ctx, "mysql-g-b-x", "node-b1", db_tolerations);
        pod(&ctx, "canary-b", "node-b1", json!([]));
        pod(
            &ctx,
            "canary-b-tolerant",
            "node-b1",
            json!([{"key": KEY, "operator": "Exists", "effect": "NoExecute"}]),
        );
        pod(&ctx, "canary-a", "node-a1", json!([]));

        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        assert!(
            !alive(&ctx, "canary-b"),
            "intolerant pod on the read-only site evicted"
        );
        assert!(alive(&ctx, "canary-b-tolerant"));
        assert!(
            alive(&ctx, "mysql-g-b-x"),
            "the database pod tolerates its group's taint"
        );
        assert!(
            alive(&ctx, "canary-a"),
            "the primary's nodes are not tainted"
        );

        // After a failover the old primary's workloads leave, the new primary's stay.
        pod(&ctx, "canary-b2", "node-b1", json!([]));
        assert!(
            !alive(&ctx, "canary-b2"),
            "b is still tainted: evicted at once"
        );
        ctx.engine("a").shutdown();
        ctx.polls(&mut m, 6).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        assert!(!alive(&ctx, "canary-a"));
        pod(&ctx, "canary-b3", "node-b1", json!([]));
        assert!(
            alive(&ctx, "canary-b3"),
            "b's taint was removed on promotion"
        );
        assert!(alive(&ctx, "canary-b-tolerant") && alive(&ctx, "mysql-g-b-x"));
    });
}
