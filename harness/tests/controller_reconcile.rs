//! Component tests of the group reconciler (spec §1): the objects of a group, server-side
//! applied with owner references, idempotent, garbage-collected with the group; the
//! missing-Secret condition; pod role labels that follow a failover; level-triggered
//! node taints. The real reconciler and topology manager against the fake apiserver.

mod controller_support;

use std::time::Duration;

use bloodraven::reconcile::CONDITION;
use controller_support::{simulate, Ctx, Setup, GROUP, NS};
use serde_json::{json, Value};

const KEY: &str = "shipstream.io/db-readonly-g";

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

fn seed_pod(ctx: &Ctx, site: &str) {
    ctx.api
        .put_raw(
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": format!("mysql-g-{site}-7f9c-x1"), "namespace": NS,
                                "labels": {"app.kubernetes.io/instance": GROUP, "shipstream.io/site": site}},
                   "spec": {"containers": [{"name": "mysql", "image": "mysql:9.7"}]}}),
        )
        .expect("pod");
}

fn get(ctx: &Ctx, resource: &str, name: &str) -> Value {
    ctx.api
        .get(resource, NS, name)
        .unwrap_or_else(|| panic!("{resource}/{name} missing"))
}

/// (resource, name) of every object the reconciler owns for the two-site group.
fn owned() -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("configmaps", "mysql-g-config".to_string()),
        ("services", "mysql-g-primary".to_string()),
        ("services", "mysql-g-replicas".to_string()),
        ("poddisruptionbudgets", "mysql-g".to_string()),
    ];
    for s in ["a", "b"] {
        v.push(("deployments", format!("mysql-g-{s}")));
        v.push(("persistentvolumeclaims", format!("mysql-g-{s}-data")));
        v.push(("services", format!("mysql-g-{s}")));
        v.push(("services", format!("mysql-g-{s}-internal")));
    }
    v
}

fn env_of(container: &Value) -> Vec<(String, Value)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn pod_labels(ctx: &Ctx, site: &str) -> (String, String) {
    let p = get(ctx, "pods", &format!("mysql-g-{site}-7f9c-x1"));
    let l = &p["metadata"]["labels"];
    (
        l["shipstream.io/role"].as_str().unwrap_or("").into(),
        l["shipstream.io/healthy"].as_str().unwrap_or("").into(),
    )
}

#[test]
fn reconcile_creates_owned_objects_and_a_second_pass_writes_nothing() {
    simulate(Setup::two_sites(), |ctx| async move {
        seed_secret(&ctx);
        let group = ctx.group().await;
        let uid = group.metadata.uid.clone().unwrap();
        let mut r = ctx.reconciler();
        let first = r.full_pass(&group).await;
        let c = first.condition.clone().unwrap();
        assert!(c.status, "{c:?}");
        assert_eq!(c.type_, CONDITION);
        assert_eq!(first.changed.len(), owned().len(), "{:?}", first.changed);
        for (res, name) in owned() {
            let o = get(&ctx, res, &name);
            let refs = o["metadata"]["ownerReferences"].as_array().unwrap();
            assert_eq!(refs.len(), 1, "{res}/{name}");
            assert_eq!(refs[0]["uid"], uid.as_str());
            assert_eq!(refs[0]["kind"], "MysqlFailoverGroup");
            assert_eq!(refs[0]["controller"], true);
            assert_eq!(
                o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                "bloodraven"
            );
        }

        // The Deployment: two containers, the sidecar's environment, pinned to the site.
        let d = get(&ctx, "deployments", "mysql-g-b");
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["selector"]["matchLabels"]["shipstream.io/site"],
            "b"
        );
        let pod = &d["spec"]["template"]["spec"];
        let names: Vec<&str> = pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["mysql", "sidecar"]);
        let env = env_of(&pod["containers"][1]);
        let val = |n: &str| {
            env.iter()
                .find(|(k, _)| k == n)
                .unwrap_or_else(|| panic!("sidecar env {n} missing"))
                .1
                .clone()
        };
        assert_eq!(val("MY_SITE")["value"], "b");
        assert_eq!(val("FAILOVER_GROUP")["value"], GROUP);
        assert_eq!(val("PEER_ADDRESSES")["value"], "mysql-g-a-internal:8080");
        assert_eq!(
            val("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.namespace"
        );
        assert_eq!(
            val("MYSQL_USER")["valueFrom"]["secretKeyRef"]["name"],
            "mysql-g-operator"
        );
        // The sidecar accepts exactly this environment.
        let plain: std::collections::BTreeMap<String, String> = env
            .iter()
            .filter_map(|(k, v)| v["value"].as_str().map(|s| (k.clone(), s.to_string())))
            .chain([("POD_NAMESPACE".to_string(), NS.to_string())])
            .collect();
        let cfg = bloodraven_sidecar::SidecarConfig::from_lookup(|n| plain.get(n).cloned())
            .expect("the sidecar reads the Deployment's environment");
        assert_eq!(
            (cfg.site.as_str(), cfg.group.as_str(), cfg.peers.len()),
            ("b", GROUP, 1)
        );
        let term = &pod["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
            ["matchExpressions"][0];
        assert_eq!(term["key"], "topology.example/site");
        assert_eq!(term["values"][0], "b");
        assert_eq!(pod["tolerations"][0]["key"], KEY);
        assert_eq!(pod["tolerations"][0]["effect"], "NoExecute");
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "mysql-g-b-data"
        );

        // Services: the internal one publishes not-ready pods on 3306 and 8080; the group
        // ones select by role.
        let internal = get(&ctx, "services", "mysql-g-a-internal");
        assert_eq!(internal["spec"]["publishNotReadyAddresses"], true);
        let ports: Vec<i64> = internal["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["port"].as_i64().unwrap())
            .collect();
        assert_eq!(ports, [3306, 8080]);
        assert_eq!(
            get(&ctx, "services", "mysql-g-primary")["spec"]["selector"]["shipstream.io/role"],
            "primary"
        );
        let replicas = get(&ctx, "services", "mysql-g-replicas");
        assert_eq!(
            replicas["spec"]["selector"]["shipstream.io/role"],
            "replica"
        );
        assert_eq!(replicas["spec"]["selector"]["shipstream.io/healthy"], "yes");
        assert_eq!(
            get(&ctx, "poddisruptionbudgets", "mysql-g")["spec"]["minAvailable"],
            1
        );
        assert!(get(&ctx, "configmaps", "mysql-g-config")["data"]["my.cnf"]
            .as_str()
            .unwrap()
            .contains("gtid_mode=ON"));

        // Idempotent: a second pass changes no resourceVersion.
        let rvs = |ctx: &Ctx| -> Vec<String> {
            owned()
                .into_iter()
                .map(|(res, name)| {
                    get(ctx, res, &name)["metadata"]["resourceVersion"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        let before = rvs(&ctx);
        let second = r.full_pass(&group).await;
        assert!(second.changed.is_empty(), "{:?}", second.changed);
        assert_eq!(rvs(&ctx), before);
        // A fresh reconciler (an operator restart) writes nothing new either.
        let mut fresh = ctx.reconciler();
        fresh.full_pass(&group).await;
        assert_eq!(rvs(&ctx), before);

        // A spec change (Recreate) reaches the Deployments and nothing else.
        let mfgs: kube::Api<bloodraven::crd::MysqlFailoverGroup> =
            kube::Api::namespaced(ctx.kube(), NS);
        mfgs.patch(
            GROUP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"spec": {"image": "mysql:9.8", "updateStrategy": "Recreate"}}),
            ),
        )
        .await
        .expect("spec edit");
        let group2 = ctx.group().await;
        assert_eq!(group2.metadata.generation, Some(2));
        let third = r.tick(&group2).await;
        assert_eq!(
            third.changed,
            ["Deployment/mysql-g-a", "Deployment/mysql-g-b"]
        );

        // Deleting the group garbage-collects everything it owns.
        ctx.api.delete_raw("mysqlfailovergroups", NS, GROUP);
        for (res, name) in owned() {
            assert!(
                ctx.api.get(res, NS, &name).is_none(),
                "{res}/{name} survived"
            );
        }
    });
}

/// A real mysql image creates only root on first boot: the operator's Deployment mounts
/// the ConfigMap's script into the image's init directory and hands it the Secret's user,
/// the one the sidecar (and the operator, and replication) connect as. mysqld's conf.d
/// holds my.cnf alone.
#[test]
fn first_boot_creates_the_secret_user_the_sidecar_connects_as() {
    simulate(Setup::two_sites(), |ctx| async move {
        seed_secret(&ctx);
        let group = ctx.group().await;
        let mut r = ctx.reconciler();
        r.full_pass(&group).await;
        let cm = get(&ctx, "configmaps", "mysql-g-config");
        let script = cm["data"]["init-operator-user.sh"].as_str().unwrap();
        assert!(script.contains("SET SQL_LOG_BIN=0;"), "{script}");
        assert!(script.contains("CREATE USER IF NOT EXISTS"), "{script}");

        let pod = &get(&ctx, "deployments", "mysql-g-a")["spec"]["template"]["spec"];
        let volume = |name: &str| {
            pod["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("volume {name} missing"))
                .clone()
        };
        for (name, key) in [("config", "my.cnf"), ("init", "init-operator-user.sh")] {
            let v = volume(name);
            assert_eq!(v["configMap"]["name"], "mysql-g-config");
            assert_eq!(v["configMap"]["items"], json!([{"key": key, "path": key}]));
        }
        let mysql = &pod["containers"][0];
        let mounts: Vec<(String, String)> = mysql["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().into(),
                    m["mountPath"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(mounts.contains(&("config".into(), "/etc/mysql/conf.d".into())));
        assert!(mounts.contains(&("init".into(), "/docker-entrypoint-initdb.d".into())));

        // The script's user is the sidecar's user: the same Secret keys.
        let key_of = |c: &Value, n: &str| {
            let e = env_of(c)
                .into_iter()
                .find(|(k, _)| k == n)
                .unwrap_or_else(|| panic!("env {n} missing"))
                .1;
            let r = &e["valueFrom"]["secretKeyRef"];
            (r["name"].clone(), r["key"].clone())
        };
        let sidecar = &pod["containers"][1];
        assert_eq!(
            key_of(mysql, "BLOODRAVEN_MYSQL_USER"),
            key_of(sidecar, "MYSQL_USER")
        );
        assert_eq!(
            key_of(mysql, "BLOODRAVEN_MYSQL_PASSWORD"),
            key_of(sidecar, "MYSQL_PASSWORD")
        );
        assert_eq!(
            key_of(mysql, "BLOODRAVEN_MYSQL_USER"),
            (json!("mysql-g-operator"), json!("username"))
        );
    });
}

#[test]
fn a_missing_secret_blocks_with_a_condition_and_recovers_when_created() {
    simulate(Setup::two_sites(), |ctx| async move {
        let group = ctx.group().await;
        let mut r = ctx.reconciler();
        let out = r.tick(&group).await;
        let c = out.condition.unwrap();
        assert!(!c.status);
        assert_eq!(c.reason, "SecretNotFound");
        assert!(c.message.contains("comp/mysql-g-operator"), "{}", c.message);
        assert!(c.message.contains("MYSQL_ROOT_PASSWORD"), "{}", c.message);
        assert!(ctx.api.get("deployments", NS, "mysql-g-a").is_none());
        // The manager writes it into status beside its own conditions.
        let mut m = ctx.manager().await;
        ctx.poll(&mut m).await;
        let sc = ctx.condition(CONDITION);
        assert_eq!(sc["status"], "False");
        assert_eq!(sc["reason"], "SecretNotFound");
        assert_eq!(ctx.condition("Ready")["reason"], "TopologyPolled");
        let events: Vec<Value> = ctx
            .api
            .list("events", Some(NS))
            .into_iter()
            .filter(|e| e["reason"] == "SecretNotFound")
            .collect();
        assert_eq!(events.len(), 1, "one Warning event, after the status write");
        assert_eq!(events[0]["type"], "Warning");
        ctx.poll(&mut m).await;
        let again = ctx
            .api
            .list("events", Some(NS))
            .into_iter()
            .filter(|e| e["reason"] == "SecretNotFound")
            .count();
        assert_eq!(again, 1, "not repeated while the reason holds");

        // A Secret without every key: named.
        ctx.api
            .put_raw(
                "secrets",
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "mysql-g-operator", "namespace": NS},
                       "data": {"username": "eA=="}}),
            )
            .unwrap();
        let out = r.tick(&group).await;
        let c = out.condition.unwrap();
        assert_eq!(c.reason, "SecretMissingKey");
        assert!(
            c.message.contains("password, MYSQL_ROOT_PASSWORD"),
            "{}",
            c.message
        );

        // Requeued: the next tick after the Secret is complete applies everything.
        ctx.api.delete_raw("secrets", NS, "mysql-g-operator");
        seed_secret(&ctx);
        let out = r.tick(&group).await;
        assert!(out.condition.unwrap().status);
        assert!(ctx.api.get("deployments", NS, "mysql-g-a").is_some());
        ctx.poll(&mut m).await;
        assert_eq!(ctx.condition(CONDITION)["status"], "True");
        assert_eq!(ctx.condition(CONDITION)["reason"], "ResourcesApplied");
    });
}

#[test]
fn pod_role_labels_follow_a_failover() {
    simulate(Setup::two_sites(), |ctx| async move {
        seed_secret(&ctx);
        seed_pod(&ctx, "a");
        seed_pod(&ctx, "b");
        let group = ctx.group().await;
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        ctx.polls(&mut m, 3).await;
        let out = r.tick(&group).await;
        assert_eq!(out.pods_labelled, 2);
        assert_eq!(pod_labels(&ctx, "a"), ("primary".into(), "no".into()));
        assert_eq!(pod_labels(&ctx, "b"), ("replica".into(), "yes".into()));
        // Nothing moved: no label write.
        let out = r.tick(&group).await;
        assert_eq!(out.pods_labelled, 0);

        ctx.engine("a").shutdown();
        for _ in 0..6 {
            ctx.poll(&mut m).await;
        }
        assert_eq!(ctx.status()["activeSite"], "b");
        let out = r.tick(&group).await;
        assert_eq!(out.pods_labelled, 2);
        assert_eq!(pod_labels(&ctx, "b").0, "primary");
        assert_eq!(pod_labels(&ctx, "a"), ("replica".into(), "no".into()));

        // A hand edit of a label is healed by the next full pass.
        ctx.api
            .modify("pods", NS, "mysql-g-b-7f9c-x1", |p| {
                p["metadata"]["labels"]["shipstream.io/role"] = json!("replica");
            })
            .unwrap();
        tokio::time::sleep(Duration::from_secs(31)).await;
        r.tick(&group).await;
        assert_eq!(pod_labels(&ctx, "b").0, "primary");
    });
}

#[test]
fn taints_are_level_triggered() {
    simulate(Setup::two_sites(), |ctx| async move {
        seed_secret(&ctx);
        for (n, s) in [("node-a1", "a"), ("node-b1", "b")] {
            ctx.api
                .put_raw(
                    "nodes",
                    json!({"apiVersion": "v1", "kind": "Node",
                           "metadata": {"name": n, "labels": {"topology.example/site": s}},
                           "spec": {}}),
                )
                .unwrap();
        }
        let tainted = |ctx: &Ctx, n: &str| {
            ctx.api.get("nodes", "", n).unwrap()["spec"]["taints"]
                .as_array()
                .is_some_and(|ts| {
                    ts.iter()
                        .any(|t| t["key"] == KEY && t["effect"] == "NoExecute")
                })
        };
        let group = ctx.group().await;
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        // Before the manager's first view: nothing to decide, nothing touched.
        let out = r.tick(&group).await;
        assert_eq!(out.nodes_changed, 0);
        ctx.polls(&mut m, 3).await;
        assert!(tainted(&ctx, "node-b1") && !tainted(&ctx, "node-a1"));
        // Someone removes the taint of the standby by hand; add one on the primary.
        ctx.api
            .modify("nodes", "", "node-b1", |n| n["spec"]["taints"] = json!([]))
            .unwrap();
        ctx.api
            .modify("nodes", "", "node-a1", |n| {
                n["spec"]["taints"] = json!([{"key": KEY, "value": "true", "effect": "NoExecute"}])
            })
            .unwrap();
        // No transition happens, yet the next full pass restores the wanted taints.
        ctx.polls(&mut m, 2).await;
        assert!(
            !tainted(&ctx, "node-b1"),
            "the manager taints on transitions only"
        );
        let out = r.full_pass(&group).await;
        assert_eq!(out.nodes_changed, 2);
        assert!(tainted(&ctx, "node-b1") && !tainted(&ctx, "node-a1"));
        let out = r.full_pass(&group).await;
        assert_eq!(out.nodes_changed, 0);
    });
}

fn image(ctx: &Ctx, site: &str) -> String {
    get(ctx, "deployments", &format!("mysql-g-{site}"))["spec"]["template"]["spec"]["containers"][0]
        ["image"]
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

#[test]
fn ordered_update_goes_replica_first_and_asks_for_the_handoff() {
    simulate(Setup::two_sites(), |ctx| async move {
        seed_secret(&ctx);
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        ctx.polls(&mut m, 4).await;
        let first = r.tick(&ctx.group().await).await;
        assert_eq!(first.updating.unwrap().reason, "NotUpdating");
        for s in ["a", "b"] {
            rollout_done(&ctx, s);
        }
        let mfgs: kube::Api<bloodraven::crd::MysqlFailoverGroup> =
            kube::Api::namespaced(ctx.kube(), NS);
        mfgs.patch(
            GROUP,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"image": "mysql:9.8"}})),
        )
        .await
        .unwrap();
        let group = ctx.group().await;

        // The follower b first; the primary a keeps its template.
        let out = r.tick(&group).await;
        let u = out.updating.unwrap();
        assert_eq!((u.status, u.reason.as_str()), (true, "UpdateReplica"));
        assert_eq!(u.message, "Updating b");
        assert_eq!(image(&ctx, "b"), "mysql:9.8");
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
        // The manager writes it into status.
        ctx.poll(&mut m).await;
        assert_eq!(ctx.condition("Updating")["reason"], "UpdateReplica");

        // Until b's rollout completes (and b replicates), nothing else moves.
        let out = r.tick(&group).await;
        assert_eq!(out.updating.unwrap().reason, "WaitReplica");
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
        rollout_done(&ctx, "b");
        ctx.poll(&mut m).await;

        // Only the primary is left: the reconciler asks the manager for the handoff and
        // never restarts the writer itself (controller_ordered_update.rs runs the rest).
        let out = r.tick(&group).await;
        let u = out.updating.unwrap();
        assert_eq!(u.reason, "Failover", "{u:?}");
        assert!(u.message.contains("planned switchover"), "{}", u.message);
        assert_eq!(
            ctx.registry.handoff_request(NS, GROUP).as_deref(),
            Some("a")
        );
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
        let out = r.tick(&group).await;
        assert_eq!(out.updating.unwrap().reason, "Failover");
        assert_eq!(image(&ctx, "a"), "mysql:9.7", "never restarts the writer");
    });
}

/// Starts an image update with a healthy a (primary) and b; returns after the pass that
/// applied b's new template.
async fn start_update(
    ctx: &Ctx,
    m: &mut bloodraven::topology::Manager,
    r: &mut bloodraven::reconcile::GroupReconciler,
) -> bloodraven::crd::MysqlFailoverGroup {
    seed_secret(ctx);
    ctx.polls(m, 4).await;
    r.tick(&ctx.group().await).await;
    for s in ["a", "b"] {
        rollout_done(ctx, s);
    }
    let mfgs: kube::Api<bloodraven::crd::MysqlFailoverGroup> =
        kube::Api::namespaced(ctx.kube(), NS);
    mfgs.patch(
        GROUP,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"image": "mysql:9.8"}})),
    )
    .await
    .unwrap();
    let group = ctx.group().await;
    let u = r.tick(&group).await.updating.unwrap();
    assert_eq!(
        (u.reason.as_str(), u.message.as_str()),
        ("UpdateReplica", "Updating b")
    );
    ctx.poll(m).await;
    assert_eq!(ctx.status()["updatePhase"], "UpdateReplica");
    group
}

/// Spec §3.9: an updated follower that never replicates again fails the update after the
/// 5-minute deadline; the primary is never touched and the failure holds.
#[test]
fn ordered_update_fails_when_a_replica_wait_passes_its_deadline() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        let group = start_update(&ctx, &mut m, &mut r).await;
        // b's new pod never becomes available.
        tokio::time::sleep(Duration::from_secs(240)).await;
        let u = r.tick(&group).await.updating.unwrap();
        assert_eq!(u.reason, "WaitReplica", "still inside the deadline");
        tokio::time::sleep(Duration::from_secs(61)).await;
        let u = r.tick(&group).await.updating.unwrap();
        assert_eq!((u.status, u.reason.as_str()), (true, "Failed"));
        assert_eq!(
            u.message,
            "Update failed: b did not replicate again within 300s of its update"
        );
        ctx.poll(&mut m).await;
        assert_eq!(ctx.status()["updatePhase"], "Failed");
        assert_eq!(ctx.condition("Updating")["reason"], "Failed");
        // Held: later passes neither retry nor move on to the primary.
        rollout_done(&ctx, "b");
        let u = r.tick(&group).await.updating.unwrap();
        assert_eq!(u.reason, "Failed");
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
    });
}

/// Spec §3.9 fail-fast (issue #46): an updated follower that comes up writable with no
/// source fails the step after ~30s instead of waiting out the 5 minutes.
#[test]
fn ordered_update_fails_fast_when_the_replica_comes_up_writable_without_a_source() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        let mut r = ctx.reconciler();
        let group = start_update(&ctx, &mut m, &mut r).await;
        rollout_done(&ctx, "b");
        // The new pod boots writable with no replication configured and takes a local
        // write (issue #46): recovery refuses to repoint it (divergent), so it stays so.
        for stmt in [
            "STOP REPLICA",
            "RESET REPLICA ALL",
            "SET GLOBAL super_read_only=OFF",
            "SET GLOBAL read_only=OFF",
        ] {
            ctx.sql("b", stmt).await;
        }
        ctx.engine("b").errant_write(1);
        ctx.polls(&mut m, 3).await;
        let u = r.tick(&group).await.updating.unwrap();
        assert_eq!(u.reason, "WaitReplica");
        for _ in 0..16 {
            ctx.poll(&mut m).await;
        }
        let u = r.tick(&group).await.updating.unwrap();
        assert_eq!((u.status, u.reason.as_str()), (true, "Failed"), "{u:?}");
        assert_eq!(
            u.message,
            "Update failed: b came up writable with no replication source after its update"
        );
        assert_eq!(image(&ctx, "a"), "mysql:9.7");
    });
}
