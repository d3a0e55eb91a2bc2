//! Component tests of the Dragonfly sidekick (spec §7): the real topology `Manager` and
//! its DragonflyManager, poll by poll and tick by tick with virtual time, against fake
//! Dragonfly hosts speaking RESP over the simulated network, fake mysqld engines and the
//! fake apiserver.

mod controller_support;

use std::time::Duration;

use bloodraven::dragonfly::names;
use bloodraven::metrics::{DRAGONFLY_PROMOTIONS, DRAGONFLY_SITE_UP};
use bloodraven::topology::Manager;
use chaos::fake_dragonfly::{Node, Role};
use controller_support::{simulate, Ctx, Setup, GROUP, NS};
use serde_json::{json, Value};

const PLANNED: &str = "bloodraven.shipstream.io/planned-failover";

fn setup(dragonfly: Value) -> Setup {
    let mut s = Setup::sites(&[
        ("a", "primary-candidate"),
        ("b", "primary-candidate"),
        ("c", "primary-candidate"),
    ]);
    s.priorities = vec!["a".into(), "b".into(), "c".into()];
    s.dragonfly = dragonfly;
    s
}

fn enabled() -> Value {
    json!({"enabled": true, "image": "df:v1.38.0"})
}

fn df<'a>(ctx: &'a Ctx, site: &str) -> &'a Node {
    &ctx.dragonflies
        .iter()
        .find(|(n, _)| n == site)
        .expect("site")
        .1
}

fn follows(node: &Node, site: &str) -> bool {
    matches!(node.role(), Role::Replica { host, .. } if host == names::host(GROUP, site))
}

fn pod_labels(ctx: &Ctx, site: &str) -> Value {
    ctx.api
        .get("pods", NS, &names::pod(GROUP, site))
        .expect("pod")["metadata"]["labels"]
        .clone()
}

fn reasons(ctx: &Ctx) -> Vec<String> {
    ctx.api
        .list("events", Some(NS))
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The operator Secret the reconciler checks before applying anything.
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

fn promotions(ctx: &Ctx, site: &str, result: &str) -> i64 {
    ctx.metric(
        DRAGONFLY_PROMOTIONS,
        &[("group", GROUP), ("target_site", site), ("result", result)],
    )
}

/// Polls and ticks until Dragonfly on `a` is master with b and c replicating, sessions
/// written on `a` have reached both.
async fn bootstrap(ctx: &Ctx) -> Manager {
    let mut m = ctx.manager().await;
    for _ in 0..4 {
        ctx.poll(&mut m).await;
        m.dragonfly_tick().await;
    }
    df(ctx, "a").set("session:1", "alice").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.dragonfly_tick().await;
    ctx.poll(&mut m).await;
    assert!(follows(df(ctx, "b"), "a") && follows(df(ctx, "c"), "a"));
    assert_eq!(df(ctx, "b").get("session:1").as_deref(), Some("alice"));
    m
}

#[test]
fn reconciler_creates_the_dragonfly_objects_only_when_enabled() {
    simulate(setup(enabled()), |ctx| async move {
        seed_secret(&ctx);
        let mut r = ctx.reconciler();
        let out = r.full_pass(&ctx.group().await).await;
        assert!(out.condition.as_ref().unwrap().status, "{out:?}");
        for site in ["a", "b", "c"] {
            let name = format!("mysql-g-dragonfly-{site}");
            let sts = ctx.api.get("statefulsets", NS, &name).expect("StatefulSet");
            assert_eq!(sts["spec"]["replicas"], 1);
            assert_eq!(
                sts["spec"]["template"]["spec"]["containers"][0]["image"],
                "df:v1.38.0"
            );
            let svc = ctx.api.get("services", NS, &name).expect("Service");
            assert_eq!(svc["spec"]["ports"][0]["port"], 6379);
            assert!(ctx.api.get("poddisruptionbudgets", NS, &name).is_some());
        }
        let active = ctx
            .api
            .get("services", NS, "mysql-g-dragonfly")
            .expect("active Service");
        assert_eq!(active["spec"]["selector"][names::LABEL_ROLE], "master");
        assert_eq!(active["spec"]["selector"][names::LABEL_TRAFFIC], "enabled");
    });
    simulate(setup(Value::Null), |ctx| async move {
        seed_secret(&ctx);
        let mut r = ctx.reconciler();
        let out = r.full_pass(&ctx.group().await).await;
        assert!(out.condition.as_ref().unwrap().status, "{out:?}");
        assert!(ctx.api.get("deployments", NS, "mysql-g-a").is_some());
        assert!(ctx
            .api
            .get("statefulsets", NS, "mysql-g-dragonfly-a")
            .is_none());
        assert!(ctx.api.get("services", NS, "mysql-g-dragonfly").is_none());
    });
}

#[test]
fn manager_configures_replication_labels_pods_and_reports_ready() {
    simulate(setup(enabled()), |ctx| async move {
        let _m = bootstrap(&ctx).await;
        let st = ctx.status()["dragonfly"].clone();
        assert_eq!(st["activeSite"], "a", "{st}");
        assert_eq!(st["phase"], "Ready", "{st}");
        let roles: Vec<&str> = st["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["master", "replica", "replica"]);
        assert_eq!(pod_labels(&ctx, "a")[names::LABEL_ROLE], "master");
        assert_eq!(pod_labels(&ctx, "a")[names::LABEL_TRAFFIC], "enabled");
        assert_eq!(pod_labels(&ctx, "b")[names::LABEL_ROLE], "replica");
        assert_eq!(
            ctx.metric(DRAGONFLY_SITE_UP, &[("group", GROUP), ("site", "c")]),
            1
        );
        // The MySQL pod role labelling never touches a Dragonfly pod.
        assert!(pod_labels(&ctx, "a").get("shipstream.io/role").is_none());
    });
}

#[test]
fn emergency_failover_takes_dragonfly_over_with_sessions() {
    simulate(setup(enabled()), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        ctx.engine("a").shutdown();
        for _ in 0..15 {
            ctx.poll(&mut m).await;
            if ctx.status()["activeSite"] == "b" {
                break;
            }
        }
        assert_eq!(ctx.status()["activeSite"], "b");
        // The emergency path ran in its own task: give it its budget.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(df(&ctx, "b").role(), Role::Master);
        assert_eq!(df(&ctx, "b").get("session:1").as_deref(), Some("alice"));
        assert!(
            follows(df(&ctx, "a"), "b"),
            "REPLTAKEOVER demotes the old master"
        );
        assert_eq!(promotions(&ctx, "b", "success"), 1);
        assert!(reasons(&ctx).contains(&"DragonflyPromotionCompleted".to_string()));
        ctx.poll(&mut m).await;
        assert_eq!(ctx.status()["dragonfly"]["activeSite"], "b");
        assert_eq!(ctx.status()["dragonfly"]["lastPromotionTarget"], "b");
    });
}

#[test]
fn unreachable_dragonfly_never_holds_back_the_mysql_failover() {
    simulate(setup(enabled()), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        // b's Dragonfly is blackholed from the controller: every dial hangs.
        turmoil::partition("bloodraven", names::host(GROUP, "b").as_str());
        ctx.engine("a").shutdown();
        let mut longest = Duration::ZERO;
        for _ in 0..15 {
            let t = tokio::time::Instant::now();
            m.poll().await;
            longest = longest.max(t.elapsed());
            tokio::time::sleep(ctx.setup.poll_every()).await;
            if ctx.status()["activeSite"] == "b" {
                break;
            }
        }
        assert_eq!(ctx.status()["activeSite"], "b", "MySQL failed over");
        assert!(
            longest < Duration::from_secs(10),
            "a poll waited {longest:?}"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(promotions(&ctx, "b", "failed"), 1);
        assert!(reasons(&ctx).contains(&"DragonflyPromotionFailed".to_string()));
        assert_ne!(df(&ctx, "b").role(), Role::Master);
        // Once reachable, the drift from the MySQL active site is fixed with a takeover.
        turmoil::repair("bloodraven", names::host(GROUP, "b").as_str());
        for _ in 0..3 {
            m.dragonfly_tick().await;
            ctx.poll(&mut m).await;
        }
        assert_eq!(df(&ctx, "b").role(), Role::Master);
        assert_eq!(df(&ctx, "b").get("session:1").as_deref(), Some("alice"));
        assert_eq!(ctx.status()["dragonfly"]["activeSite"], "b");
    });
}

#[test]
fn dragonfly_only_master_loss_promotes_a_replica_without_touching_mysql() {
    simulate(setup(enabled()), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        let before = ctx.mutation_count();
        for h in [
            "bloodraven",
            names::host(GROUP, "b").as_str(),
            names::host(GROUP, "c").as_str(),
        ] {
            turmoil::partition(names::host(GROUP, "a").as_str(), h);
        }
        for _ in 0..4 {
            m.dragonfly_tick().await;
            ctx.poll(&mut m).await;
        }
        let promoted: Vec<&str> = ["b", "c"]
            .into_iter()
            .filter(|s| df(&ctx, s).role() == Role::Master)
            .collect();
        assert_eq!(promoted, ["b"], "the MySQL priority order breaks the tie");
        assert_eq!(df(&ctx, "b").get("session:1").as_deref(), Some("alice"));
        assert_eq!(ctx.mutation_count(), before, "no MySQL statement");
        assert_eq!(ctx.status()["activeSite"], "a");
        assert_eq!(ctx.status()["dragonfly"]["activeSite"], "b");
        // The old master comes back holding data: a stale master, stripped, never rejoined.
        for h in [
            "bloodraven",
            names::host(GROUP, "b").as_str(),
            names::host(GROUP, "c").as_str(),
        ] {
            turmoil::repair(names::host(GROUP, "a").as_str(), h);
        }
        m.dragonfly_tick().await;
        ctx.poll(&mut m).await;
        assert_eq!(df(&ctx, "a").role(), Role::Master);
        assert!(pod_labels(&ctx, "a").get(names::LABEL_TRAFFIC).is_none());
        assert!(reasons(&ctx).contains(&"DragonflyStaleMasterDetected".to_string()));
        let a = &ctx.status()["dragonfly"]["sites"][0];
        assert_eq!(a["role"], "stale-master", "{a}");
    });
}

/// How many times Events of `reason` were recorded (aggregated Events carry a count).
fn event_count(ctx: &Ctx, reason: &str) -> u64 {
    ctx.api
        .list("events", Some(NS))
        .iter()
        .filter(|e| e["reason"] == reason)
        .map(|e| e["count"].as_u64().unwrap_or(1))
        .sum()
}

#[test]
fn emergency_path_skips_a_target_the_manager_already_promoted() {
    simulate(setup(enabled()), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        // a's Dragonfly is cut first: the manager promotes b on its own.
        for h in [
            "bloodraven",
            names::host(GROUP, "b").as_str(),
            names::host(GROUP, "c").as_str(),
        ] {
            turmoil::partition(names::host(GROUP, "a").as_str(), h);
        }
        for _ in 0..4 {
            m.dragonfly_tick().await;
            ctx.poll(&mut m).await;
        }
        assert_eq!(df(&ctx, "b").role(), Role::Master);
        assert_eq!(promotions(&ctx, "b", "success"), 1);
        // Then MySQL on a dies: the emergency path finds b serving already.
        ctx.engine("a").shutdown();
        for _ in 0..15 {
            ctx.poll(&mut m).await;
            if ctx.status()["activeSite"] == "b" {
                break;
            }
        }
        assert_eq!(ctx.status()["activeSite"], "b");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(promotions(&ctx, "b", "success"), 1, "promoted once");
        assert_eq!(promotions(&ctx, "b", "skipped"), 1);
        assert_eq!(event_count(&ctx, "DragonflyPromotionCompleted"), 1);
        assert_eq!(df(&ctx, "b").get("session:1").as_deref(), Some("alice"));
    });
}

fn annotate(ctx: &Ctx, value: &str) {
    ctx.api
        .modify("mysqlfailovergroups", NS, GROUP, |o| {
            o["metadata"]["annotations"] = json!({ PLANNED: value });
        })
        .expect("group exists");
}

#[test]
fn planned_failover_syncs_then_takes_over_and_preserves_sessions() {
    simulate(setup(enabled()), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        annotate(&ctx, "b:drainTimeout=1s");
        let mut phases = vec![];
        for _ in 0..30 {
            ctx.poll(&mut m).await;
            let p = ctx.status()["plannedFailover"]["phase"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if phases.last() != Some(&p) {
                phases.push(p.clone());
            }
            if p == "Succeeded" || p == "Failed" {
                break;
            }
        }
        let want = [
            "WaitingForLag",
            "WaitingForDragonflySync",
            "PromotingDragonfly",
            "Promoting",
            "Succeeded",
        ];
        let tail: Vec<&str> = phases
            .iter()
            .map(String::as_str)
            .filter(|p| want.contains(p))
            .collect();
        assert_eq!(tail, want, "{phases:?}");
        let d = ctx.status()["plannedFailover"]["dragonfly"].clone();
        assert_eq!(d["sessionsPreserved"], true, "{d}");
        assert_eq!(d["promotionMethod"], "REPLTAKEOVER");
        assert!(
            d["targetOffsetAtPromotion"].as_u64() >= d["sourceOffsetAtDrain"].as_u64(),
            "{d}"
        );
        assert_eq!(df(&ctx, "b").role(), Role::Master);
        assert_eq!(df(&ctx, "b").get("session:1").as_deref(), Some("alice"));
        assert_eq!(pod_labels(&ctx, "b")[names::LABEL_ROLE], "master");
        let r = reasons(&ctx);
        for e in [
            "DragonflyPromotionStarted",
            "DragonflyPromotionCompleted",
            "PlannedFailoverCompleted",
        ] {
            assert!(r.contains(&e.to_string()), "{e} missing in {r:?}");
        }
    });
}

#[test]
fn planned_sync_timeout_with_fail_policy_rolls_back() {
    let cfg = json!({"enabled": true, "image": "df:v1", "plannedFailover": {"maxSyncWait": "3s", "onSyncTimeout": "fail"}});
    simulate(setup(cfg), |ctx| async move {
        let mut m = bootstrap(&ctx).await;
        turmoil::partition("bloodraven", names::host(GROUP, "b").as_str());
        annotate(&ctx, "b:drainTimeout=1s");
        for _ in 0..30 {
            ctx.poll(&mut m).await;
            let p = ctx.status()["plannedFailover"]["phase"].clone();
            if p == "Succeeded" || p == "Failed" {
                break;
            }
        }
        let p = ctx.status()["plannedFailover"].clone();
        assert_eq!(p["phase"], "Failed", "{p}");
        assert_eq!(p["reason"], "DragonflySyncTimeout");
        assert_eq!(p["dragonfly"]["sessionsPreserved"], false);
        assert!(!ctx.read_only("a"), "the rollback unfenced the source");
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        assert_eq!(
            df(&ctx, "a").role(),
            Role::Master,
            "Dragonfly stays on the source"
        );
        assert_eq!(promotions(&ctx, "b", "failed"), 1);
    });
}

/// Creates (or replaces) the Dragonfly auth Secret with `data`.
fn put_auth_secret(ctx: &Ctx, data: Value) {
    ctx.api
        .put_raw(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "df-auth", "namespace": NS},
                   "stringData": data}),
        )
        .expect("secret");
}

async fn tick_and_poll(ctx: &Ctx, m: &mut Manager) -> Value {
    m.dragonfly_tick().await;
    ctx.poll(m).await;
    ctx.status()["dragonfly"].clone()
}

#[test]
fn auth_password_comes_from_its_secret_and_a_missing_one_is_reported() {
    let mut spec = enabled();
    spec["auth"] = json!({"secretName": "df-auth"});
    simulate(setup(spec), |ctx| async move {
        for (_, n) in &ctx.dragonflies {
            n.require_pass("s3cret");
        }
        let mut m = ctx.manager().await;
        ctx.poll(&mut m).await;
        // No Secret: a clear message, nothing dialled.
        let st = tick_and_poll(&ctx, &mut m).await;
        assert_eq!(st["phase"], "Degraded", "{st}");
        let msg = st["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&format!("Secret {NS}/df-auth")) && msg.contains("not found"),
            "{msg}"
        );
        assert!(
            df(&ctx, "b").role() == Role::Master,
            "b was never configured"
        );
        // The Secret lacks the key.
        put_auth_secret(&ctx, json!({"pass": "s3cret"}));
        let st = tick_and_poll(&ctx, &mut m).await;
        let msg = st["message"].as_str().unwrap_or_default();
        assert!(msg.contains("has no key \"password\""), "{msg}");
        // A wrong password: every site refuses with Redis's words.
        put_auth_secret(&ctx, json!({"password": "nope"}));
        let st = tick_and_poll(&ctx, &mut m).await;
        let site = &st["sites"][0];
        assert_eq!(site["role"], "unreachable", "{st}");
        assert!(
            site["message"]
                .as_str()
                .unwrap_or_default()
                .contains("WRONGPASS invalid username-password pair"),
            "{site}"
        );
        assert!(
            df(&ctx, "b").role() == Role::Master,
            "b was never configured"
        );
        // The right one: replication is configured through authenticated links.
        put_auth_secret(&ctx, json!({"password": "s3cret"}));
        for _ in 0..4 {
            tick_and_poll(&ctx, &mut m).await;
        }
        df(&ctx, "a").set("session:1", "alice").unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let st = tick_and_poll(&ctx, &mut m).await;
        assert!(follows(df(&ctx, "b"), "a") && follows(df(&ctx, "c"), "a"));
        assert_eq!(df(&ctx, "c").get("session:1").as_deref(), Some("alice"));
        assert_eq!(st["phase"], "Ready", "{st}");
        assert!(st.get("message").is_none_or(Value::is_null), "{st}");
    });
}
