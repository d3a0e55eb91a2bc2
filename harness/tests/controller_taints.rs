//! Component tests of node taints (spec §1 Taint, §3.1 transition side effects): the real
//! topology manager against fake mysqld engines and the fake apiserver seeded with Nodes.

mod controller_support;

use bloodraven::metrics::TAINT_OPERATIONS;
use controller_support::{simulate, Ctx, Setup};
use serde_json::json;

const KEY: &str = "shipstream.io/db-readonly-g";

fn seed_nodes(ctx: &Ctx) {
    let node = |name: &str, site: &str, taints: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "Node",
               "metadata": {"name": name, "labels": {"topology.example/site": site}},
               "spec": {"taints": taints}})
    };
    let other = json!([{"key": "example.com/other", "value": "x", "effect": "NoSchedule"}]);
    for n in [
        node("node-a1", "a", other.clone()),
        node("node-a2", "a", json!([])),
        node("node-b1", "b", json!([])),
        node("node-r1", "r", json!([])),
        node("node-d1", "d", json!([])),
        node("node-x", "elsewhere", json!([])),
    ] {
        ctx.api.put_raw("nodes", n).expect("node");
    }
}

/// (key, value, effect) of a node's taints.
fn taints(ctx: &Ctx, node: &str) -> Vec<(String, String, String)> {
    let n = ctx.api.get("nodes", "", node).expect("node exists");
    n["spec"]["taints"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    (
                        t["key"].as_str().unwrap_or_default().to_string(),
                        t["value"].as_str().unwrap_or_default().to_string(),
                        t["effect"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn tainted(ctx: &Ctx, node: &str) -> bool {
    taints(ctx, node)
        .iter()
        .any(|(k, v, e)| k == KEY && v == "true" && e == "NoExecute")
}

fn three_sites() -> Setup {
    Setup::sites(&[
        ("a", "primary-candidate"),
        ("b", "primary-candidate"),
        ("r", "read-only"),
        ("d", "dr-only"),
    ])
}

#[test]
fn taints_follow_transitions_on_the_site_nodes_only() {
    simulate(three_sites(), |ctx| async move {
        seed_nodes(&ctx);
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        // unknown → read-only: the standby candidate's node is tainted; the reader never.
        assert!(tainted(&ctx, "node-b1"));
        assert!(!tainted(&ctx, "node-a1") && !tainted(&ctx, "node-a2"));
        assert!(
            taints(&ctx, "node-r1").is_empty(),
            "readers are never tainted"
        );
        assert!(
            taints(&ctx, "node-x").is_empty(),
            "unselected node untouched"
        );
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "b"), ("action", "apply")]),
            1
        );
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "r"), ("action", "apply")]),
            0
        );
        // unknown → writable removes (a no-op here, still a successful operation).
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "a"), ("action", "remove")]),
            1
        );

        // The primary is lost: its nodes are tainted (other taints kept), the promoted
        // site's taint is removed.
        ctx.engine("a").shutdown();
        for _ in 0..6 {
            ctx.poll(&mut m).await;
        }
        assert_eq!(ctx.status()["activeSite"], "b");
        assert!(tainted(&ctx, "node-a1") && tainted(&ctx, "node-a2"));
        assert_eq!(
            taints(&ctx, "node-a1")[0],
            (
                "example.com/other".to_string(),
                "x".to_string(),
                "NoSchedule".to_string()
            ),
            "other taints are kept"
        );
        assert_eq!(taints(&ctx, "node-a1").len(), 2);
        assert!(!tainted(&ctx, "node-b1"));
        assert!(taints(&ctx, "node-b1").is_empty());
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "a"), ("action", "apply")]),
            1
        );
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "b"), ("action", "remove")]),
            1
        );

        // unreachable → read-only: nothing (taints only on the listed transitions).
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 3).await;
        assert!(tainted(&ctx, "node-a1"));
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "a"), ("action", "apply")]),
            1
        );
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "a"), ("action", "remove")]),
            1
        );
        assert!(taints(&ctx, "node-r1").is_empty());
    });
}

#[test]
fn taint_errors_are_logged_and_never_block_the_failover() {
    simulate(three_sites(), |ctx| async move {
        seed_nodes(&ctx);
        ctx.api.deny("nodes", None);
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        assert!(!tainted(&ctx, "node-b1"));
        assert!(ctx.logged("node taint failed") >= 1);
        assert_eq!(
            ctx.metric(TAINT_OPERATIONS, &[("site", "b"), ("action", "apply")]),
            0
        );
        ctx.engine("a").shutdown();
        let start = tokio::time::Instant::now();
        while ctx.status()["activeSite"] != "b" {
            ctx.poll(&mut m).await;
            assert!(
                start.elapsed().as_secs() < 20,
                "failover not held up by taint errors"
            );
        }
        assert!(!tainted(&ctx, "node-a1"));
        // Once writes are allowed again the next transition taints as usual.
        ctx.api.allow("nodes", None);
        ctx.engine("b").shutdown();
        ctx.engine("a").boot(true);
        ctx.polls(&mut m, 4).await;
        assert!(tainted(&ctx, "node-b1"), "b: writable → unreachable");
    });
}
