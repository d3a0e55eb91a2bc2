//! Component tests of planned failover (spec §4) and reclone (§5): the real topology
//! `Manager`, poll by poll, against fake mysqld engines and the fake apiserver. The
//! annotation is set on the live object like `kubectl annotate` would.

mod controller_support;

use bloodraven::metrics::{
    FAILOVERS, PLANNED_FAILOVERS, PLANNED_FAILOVER_DURATION, PLANNED_FAILOVER_LAG_WAIT,
    RECLONE_OPERATIONS,
};
use bloodraven::sql::SqlConnector;
use bloodraven::topology::Manager;
use chaos::fake_mysql::FramedSqlConnector;
use controller_support::{host, lb_ip, simulate, uuid, Ctx, Setup, GROUP, NS};
use serde_json::{json, Value};

const PLANNED: &str = "bloodraven.shipstream.io/planned-failover";
const RECLONE: &str = "bloodraven.shipstream.io/reclone-site";

fn three_sites() -> Setup {
    Setup::sites(&[
        ("a", "primary-candidate"),
        ("b", "primary-candidate"),
        ("c", "primary-candidate"),
    ])
}

fn annotate(ctx: &Ctx, key: &str, value: Option<&str>) {
    ctx.api
        .modify("mysqlfailovergroups", NS, GROUP, |o| {
            if o["metadata"]["annotations"].is_null() {
                o["metadata"]["annotations"] = json!({});
            }
            match value {
                Some(v) => o["metadata"]["annotations"][key] = json!(v),
                None => {
                    if let Some(m) = o["metadata"]["annotations"].as_object_mut() {
                        m.remove(key);
                    }
                }
            }
        })
        .expect("group exists");
}

fn annotation(ctx: &Ctx, key: &str) -> Option<String> {
    ctx.object()["metadata"]["annotations"][key]
        .as_str()
        .map(String::from)
}

fn set_spec(ctx: &Ctx, field: &str, v: Value) {
    ctx.api
        .modify("mysqlfailovergroups", NS, GROUP, |o| o["spec"][field] = v)
        .expect("group exists");
}

fn planned(ctx: &Ctx) -> Value {
    ctx.status()["plannedFailover"].clone()
}

fn phase(ctx: &Ctx) -> String {
    planned(ctx)["phase"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Events on the group as (type, reason, message).
fn events(ctx: &Ctx) -> Vec<(String, String, String)> {
    ctx.api
        .list("events", Some(NS))
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

fn event_count(ctx: &Ctx, reason: &str) -> usize {
    events(ctx).iter().filter(|(_, r, _)| r == reason).count()
}

/// One INSERT as an application would send it; Some(id) when the server acknowledged it.
async fn app_insert(ctx: &Ctx, site: &str, id: u64) -> Option<u64> {
    let c = FramedSqlConnector::new(ctx.dialer.clone(), "app", "app");
    let mut conn = c.connect(&host(site), 3306).await.ok()?;
    conn.query(&format!("INSERT INTO chaos.counter (id) VALUES ({id})"))
        .await
        .ok()
        .map(|_| id)
}

/// Polls until the planned failover ends (or `max` polls); writes to `writer()` before
/// every poll, returning the acknowledged ids.
async fn run_to_end(ctx: &Ctx, m: &mut Manager, max: usize, next_id: &mut u64) -> Vec<u64> {
    let mut acked = vec![];
    for _ in 0..max {
        let writer = if ctx.read_only("a") { "b" } else { "a" };
        *next_id += 1;
        if let Some(id) = app_insert(ctx, writer, *next_id).await {
            acked.push(id);
        }
        ctx.poll(m).await;
        if matches!(phase(ctx).as_str(), "Succeeded" | "Failed") {
            break;
        }
    }
    acked
}

fn rows(ctx: &Ctx, site: &str) -> Vec<u64> {
    ctx.engine(site).snapshot().rows
}

#[test]
fn switchover_fences_drains_promotes_and_repoints_every_follower() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        annotate(&ctx, PLANNED, Some("b"));
        let mut id = 100;
        let mut acked = vec![];
        let mut phases = vec![];
        for _ in 0..20 {
            acked.extend(run_to_end(&ctx, &mut m, 1, &mut id).await);
            let p = planned(&ctx);
            phases.push(phase(&ctx));
            if !p["sourceGtidAtFence"].is_null() && phase(&ctx) != "Succeeded" {
                // From the stamp on, the source is fenced: writes are refused, not lost.
                assert!(ctx.read_only("a"), "source fenced in {}", phase(&ctx));
                assert!(ctx.engine("a").snapshot().super_read_only);
                assert_eq!(app_insert(&ctx, "a", 10_000).await, None);
            }
            if phase(&ctx) == "Succeeded" {
                break;
            }
        }
        phases.dedup();
        assert_eq!(
            phases,
            [
                "Pending",
                "Validating",
                "Draining",
                "WaitingForLag",
                "Promoting",
                "Resuming",
                "Succeeded"
            ]
        );
        let p = planned(&ctx);
        assert_eq!(p["phase"], "Succeeded", "{p}");
        assert_eq!(p["targetSite"], "b");
        assert_eq!(p["sourcePrimary"], "a");
        assert_eq!(p["transactionsLost"], 0);
        assert!(p["sourceGtidAtFence"]
            .as_str()
            .is_some_and(|g| !g.is_empty()));
        assert_eq!(
            annotation(&ctx, PLANNED),
            None,
            "annotation removed at accept"
        );
        assert!(!ctx.read_only("b"), "b is the new writer");
        assert!(ctx.read_only("a"), "a stays fenced");
        // Zero acknowledged writes lost: every acked id is on the new primary.
        assert!(acked.len() > 3, "writes flowed: {acked:?}");
        let on_b = rows(&ctx, "b");
        let lost: Vec<u64> = acked
            .iter()
            .copied()
            .filter(|i| !on_b.contains(i))
            .collect();
        assert!(lost.is_empty(), "acked writes lost: {lost:?}");
        // The fence of a precedes the unfence of b.
        let muts = ctx.mutations();
        let at = |site: &str, sql: &str| {
            muts.iter()
                .position(|(s, q, ok)| s == site && q == sql && *ok)
                .unwrap_or_else(|| panic!("no {sql} on {site}: {muts:?}"))
        };
        let fence_a = at("a", "SET GLOBAL super_read_only = ON");
        let unfence_b = at("b", "SET GLOBAL read_only = OFF");
        assert!(fence_a < unfence_b);
        for reason in [
            "PlannedFailoverStarted",
            "PlannedFailoverDraining",
            "PlannedFailoverLagOK",
            "PlannedFailoverCompleted",
        ] {
            assert_eq!(event_count(&ctx, reason), 1, "{reason}: {:?}", events(&ctx));
        }
        assert_eq!(
            ctx.metric(
                PLANNED_FAILOVERS,
                &[("target_site", "b"), ("result", "success")]
            ),
            1
        );
        assert_eq!(
            ctx.metric(FAILOVERS, &[("target_site", "b")]),
            0,
            "not an emergency"
        );
        let metrics = ctx.registry.metrics();
        assert_eq!(metrics.histogram_count(PLANNED_FAILOVER_DURATION, "b"), 1);
        assert_eq!(metrics.histogram_count(PLANNED_FAILOVER_LAG_WAIT, "b"), 1);
        // Then every follower replicates directly from b, and DNS names b.
        ctx.polls(&mut m, 8).await;
        assert_eq!(ctx.status()["activeSite"], "b");
        assert_eq!(ctx.status()["lastFailoverTarget"], "b");
        assert_eq!(ctx.dns_target(), Some(lb_ip(1)));
        for f in ["a", "c"] {
            assert_eq!(
                ctx.engine(f).snapshot().source_host,
                Some(host("b")),
                "{f} replicates directly from b"
            );
        }
        ctx.wait_replicated("b").await;
    });
}

#[test]
fn lag_timeout_rolls_back_to_the_source() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        ctx.engine("b").set_apply_rate(0.0);
        for i in 0..5 {
            app_insert(&ctx, "a", 200 + i)
                .await
                .expect("a takes writes");
        }
        annotate(&ctx, PLANNED, Some("b:maxLagWait=6s"));
        let mut id = 300;
        run_to_end(&ctx, &mut m, 20, &mut id).await;
        let p = planned(&ctx);
        assert_eq!(p["phase"], "Failed", "{p}");
        assert_eq!(p["reason"], "LagTimeout");
        assert!(
            p["message"].as_str().unwrap().contains("maxLagWait 6s"),
            "{p}"
        );
        assert!(!ctx.read_only("a"), "source writable again");
        assert!(ctx.read_only("b"), "target still a replica");
        assert_eq!(ctx.engine("b").snapshot().source_host, Some(host("a")));
        assert!(app_insert(&ctx, "a", 999).await.is_some());
        assert_eq!(
            ctx.metric(
                PLANNED_FAILOVERS,
                &[("target_site", "b"), ("result", "failed_timeout")]
            ),
            1
        );
        assert!(events(&ctx).iter().any(|(t, r, msg)| t == "Warning"
            && r == "PlannedFailoverFailed"
            && msg.contains("LagTimeout")));
        // The group heals: emergency machinery and DNS resume on a.
        ctx.engine("b").set_apply_rate(1000.0);
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.status()["activeSite"], "a");
        assert_eq!(ctx.dns_target(), Some(lb_ip(0)));
    });
}

/// A setup whose last failover happened at the start of the run, with a 1m cooldown.
fn in_cooldown() -> Setup {
    let mut s = three_sites();
    s.cooldown = "1m".into();
    let at = bloodraven::topology::manager::fmt_stamp(chaos::world::clock::epoch());
    s.annotations = json!({
        "bloodraven.shipstream.io/last-failover": at,
        "bloodraven.shipstream.io/last-failover-target": "a",
    });
    s
}

#[test]
fn cooldown_rejects_by_default() {
    simulate(in_cooldown(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        annotate(&ctx, PLANNED, Some("b"));
        ctx.poll(&mut m).await;
        let p = planned(&ctx);
        assert_eq!(p["phase"], "Failed", "{p}");
        assert_eq!(p["reason"], "CooldownActive");
        assert!(
            p["message"].as_str().unwrap().contains("retry after"),
            "{p}"
        );
        assert_eq!(annotation(&ctx, PLANNED), None);
        assert_eq!(event_count(&ctx, "PlannedFailoverRejected"), 1);
        assert!(ctx.read_only("b") && !ctx.read_only("a"), "nothing moved");
    });
}

#[test]
fn cooldown_defers_when_asked_then_runs() {
    simulate(in_cooldown(), |ctx| async move {
        set_spec(&ctx, "plannedFailover", json!({"onCooldown": "defer"}));
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        annotate(&ctx, PLANNED, Some("b"));
        ctx.polls(&mut m, 3).await;
        let p = planned(&ctx);
        assert_eq!(p["phase"], "Deferred", "{p}");
        assert!(p["retryAfter"].as_str().is_some(), "{p}");
        assert_eq!(
            annotation(&ctx, PLANNED).as_deref(),
            Some("b"),
            "annotation kept"
        );
        assert_eq!(event_count(&ctx, "PlannedFailoverDeferred"), 1, "once");
        assert!(ctx.read_only("b"));
        // After the cooldown the same request runs to the end.
        let mut id = 400;
        for _ in 0..40 {
            run_to_end(&ctx, &mut m, 1, &mut id).await;
            if phase(&ctx) == "Succeeded" {
                break;
            }
        }
        assert_eq!(phase(&ctx), "Succeeded", "{}", planned(&ctx));
        assert_eq!(event_count(&ctx, "PlannedFailoverDeferred"), 1);
        assert!(!ctx.read_only("b"));
    });
}

#[test]
fn removing_a_deferred_annotation_cancels() {
    simulate(in_cooldown(), |ctx| async move {
        set_spec(&ctx, "plannedFailover", json!({"onCooldown": "defer"}));
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        annotate(&ctx, PLANNED, Some("b"));
        ctx.poll(&mut m).await;
        assert_eq!(phase(&ctx), "Deferred");
        annotate(&ctx, PLANNED, None);
        ctx.poll(&mut m).await;
        assert_eq!(phase(&ctx), "Failed");
        assert_eq!(planned(&ctx)["reason"], "Cancelled");
    });
}

#[test]
fn bad_requests_fail_with_a_reason_an_event_and_no_mutation() {
    let setup = Setup::sites(&[
        ("a", "primary-candidate"),
        ("b", "primary-candidate"),
        ("d", "dr-only"),
        ("r", "read-only"),
    ]);
    simulate(setup, |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        let cases = [
            ("zz", "UnknownSite", "\"zz\" is not a site of this group"),
            (
                "b:bogus=1s",
                "InvalidAnnotation",
                "unknown option \"bogus\"",
            ),
            (
                "b:maxLagWait=soon",
                "InvalidAnnotation",
                "maxLagWait: invalid duration",
            ),
            ("", "InvalidAnnotation", "empty value"),
            ("a", "AlreadyActive", "already the active primary"),
            (
                "d",
                "UnknownSite",
                "only primary-candidate sites may be promoted",
            ),
            (
                "r",
                "UnknownSite",
                "only primary-candidate sites may be promoted",
            ),
        ];
        for (n, (value, reason, msg)) in cases.into_iter().enumerate() {
            let before = ctx.mutation_count();
            annotate(&ctx, PLANNED, Some(value));
            ctx.poll(&mut m).await;
            let p = planned(&ctx);
            assert_eq!(p["phase"], "Failed", "{value:?}: {p}");
            assert_eq!(p["reason"], reason, "{value:?}: {p}");
            assert!(
                p["message"].as_str().unwrap().contains(msg),
                "{value:?}: {p}"
            );
            assert_eq!(
                annotation(&ctx, PLANNED),
                None,
                "{value:?}: annotation removed"
            );
            assert_eq!(
                event_count(&ctx, "PlannedFailoverRejected"),
                n + 1,
                "{value:?}"
            );
            assert_eq!(ctx.mutation_count(), before, "{value:?}: no SQL mutation");
        }
        assert!(!ctx.read_only("a"));
        let rejected = |t: &str| {
            ctx.metric(
                PLANNED_FAILOVERS,
                &[("target_site", t), ("result", "rejected")],
            )
        };
        assert_eq!(rejected(""), 3, "parse errors carry no target");
        assert_eq!(
            (rejected("zz"), rejected("a"), rejected("d"), rejected("r")),
            (1, 1, 1, 1)
        );
    });
}

#[test]
fn divergent_target_is_refused() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        ctx.engine("a").shutdown();
        for _ in 0..8 {
            ctx.poll(&mut m).await;
        }
        assert_eq!(ctx.status()["activeSite"], "b");
        ctx.engine("a").boot(true);
        ctx.engine("a").errant_write(2);
        ctx.polls(&mut m, 3).await;
        assert_eq!(ctx.site_status("a")["recoveryState"], "RecoveryBlocked");
        annotate(&ctx, PLANNED, Some("a"));
        ctx.poll(&mut m).await;
        let p = planned(&ctx);
        assert_eq!(p["phase"], "Failed", "{p}");
        assert_eq!(p["reason"], "TargetUnhealthy");
        assert!(
            p["message"]
                .as_str()
                .unwrap()
                .contains("2 divergent transactions"),
            "{p}"
        );
        assert!(!ctx.read_only("b") && ctx.read_only("a"));
    });
}

/// Polls `m` until the persisted phase is `phase`; panics when it never is.
async fn poll_until_phase(ctx: &Ctx, m: &mut Manager, phase_name: &str, id: &mut u64) -> Vec<u64> {
    let mut acked = vec![];
    for _ in 0..20 {
        if phase(ctx) == phase_name {
            return acked;
        }
        acked.extend(run_to_end(ctx, m, 1, id).await);
    }
    panic!("never reached {phase_name}: {}", planned(ctx));
}

#[test]
fn a_restart_in_any_phase_resumes_from_status() {
    for crash_in in [
        "Pending",
        "Validating",
        "Draining",
        "WaitingForLag",
        "Promoting",
        "Resuming",
    ] {
        simulate(three_sites(), move |ctx| async move {
            let mut m = ctx.manager().await;
            ctx.polls(&mut m, 4).await;
            annotate(&ctx, PLANNED, Some("b"));
            let mut id = 500;
            let mut acked = poll_until_phase(&ctx, &mut m, crash_in, &mut id).await;
            drop(m); // the controller dies; a new one starts from the object
            let mut m = ctx.manager().await;
            for _ in 0..30 {
                acked.extend(run_to_end(&ctx, &mut m, 1, &mut id).await);
                if matches!(phase(&ctx).as_str(), "Succeeded" | "Failed") {
                    break;
                }
            }
            let p = planned(&ctx);
            assert_eq!(p["phase"], "Succeeded", "crash in {crash_in}: {p}");
            assert!(
                !ctx.read_only("b") && ctx.read_only("a"),
                "crash in {crash_in}"
            );
            let on_b = rows(&ctx, "b");
            assert!(
                acked.iter().all(|i| on_b.contains(i)),
                "crash in {crash_in}: acked {acked:?}, on b {on_b:?}"
            );
            assert_eq!(
                event_count(&ctx, "PlannedFailoverCompleted"),
                1,
                "crash in {crash_in}"
            );
        });
    }
}

#[test]
fn a_restart_between_the_fence_and_its_stamp_refences_and_goes_on() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        annotate(&ctx, PLANNED, Some("b"));
        let mut id = 600;
        poll_until_phase(&ctx, &mut m, "Draining", &mut id).await;
        // The fence happens, but its stamp never reaches the apiserver.
        ctx.api.deny("mysqlfailovergroups", Some("status"));
        ctx.poll(&mut m).await;
        assert!(ctx.read_only("a"), "fenced");
        assert!(planned(&ctx)["sourceGtidAtFence"].is_null());
        drop(m);
        ctx.api.allow("mysqlfailovergroups", Some("status"));
        let mut m = ctx.manager().await;
        run_to_end(&ctx, &mut m, 30, &mut id).await;
        assert_eq!(phase(&ctx), "Succeeded", "{}", planned(&ctx));
        assert!(!ctx.read_only("b"));
    });
}

#[test]
fn dns_write_failure_still_succeeds_and_dns_heals() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.dns_target(), Some(lb_ip(0)));
        ctx.api.deny("dnsendpoints", None);
        annotate(&ctx, PLANNED, Some("b"));
        let mut id = 700;
        run_to_end(&ctx, &mut m, 20, &mut id).await;
        assert_eq!(phase(&ctx), "Succeeded");
        assert!(events(&ctx)
            .iter()
            .any(|(t, r, _)| t == "Warning" && r == "PlannedFailoverDNSFailed"));
        assert_eq!(ctx.dns_target(), Some(lb_ip(0)), "the write was refused");
        ctx.api.allow("dnsendpoints", None);
        ctx.polls(&mut m, 2).await;
        assert_eq!(
            ctx.dns_target(),
            Some(lb_ip(1)),
            "level-triggered DNS healed"
        );
    });
}

#[test]
fn a_second_request_during_a_run_is_removed_with_a_warning() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        annotate(&ctx, PLANNED, Some("b"));
        let mut id = 800;
        poll_until_phase(&ctx, &mut m, "Validating", &mut id).await;
        annotate(&ctx, PLANNED, Some("c"));
        ctx.poll(&mut m).await;
        assert_eq!(annotation(&ctx, PLANNED), None);
        assert!(events(&ctx).iter().any(|(t, r, msg)| t == "Warning"
            && r == "PlannedFailoverRejected"
            && msg.contains("ConcurrentOperation")));
        run_to_end(&ctx, &mut m, 20, &mut id).await;
        assert_eq!(phase(&ctx), "Succeeded");
        assert_eq!(planned(&ctx)["targetSite"], "b");
        assert!(ctx.read_only("c"));
    });
}

/// b is the primary after an emergency failover; a came back with two divergent writes.
async fn blocked_a(ctx: &Ctx) -> Manager {
    let mut m = ctx.manager().await;
    ctx.polls(&mut m, 3).await;
    ctx.engine("a").shutdown();
    for _ in 0..8 {
        ctx.poll(&mut m).await;
    }
    assert_eq!(ctx.status()["activeSite"], "b");
    ctx.engine("a").boot(true);
    ctx.engine("a").errant_write(2);
    ctx.polls(&mut m, 3).await;
    assert_eq!(ctx.site_status("a")["recoveryState"], "RecoveryBlocked");
    let donors: Vec<(String, chaos::fake_mysql::Engine)> = ctx
        .engines
        .iter()
        .map(|(n, e)| (host(n), e.clone()))
        .collect();
    for (name, e) in &ctx.engines {
        e.set_clone_donors(
            donors
                .iter()
                .filter(|(h, _)| h != &host(name))
                .map(|(h, e)| (h.as_str(), e)),
        );
    }
    m
}

#[test]
fn reclone_interlock_rejects_bare_short_and_wrong_prefixes() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = blocked_a(&ctx).await;
        let divergent = ctx.site_status("a")["divergentGtid"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(divergent.starts_with(&uuid(0)));
        let cases = [
            ("a".to_string(), "confirm with a:"),
            (format!("a:{}", &divergent[..7]), "shorter than 8"),
            ("a:ffffffff".to_string(), "does not match"),
            ("a:confirm=g".to_string(), "only for a site without any"),
            ("zz:confirm=g".to_string(), "unknown site"),
            (
                "b:confirm=g".to_string(),
                "cannot reclone the active primary",
            ),
        ];
        for (n, (value, msg)) in cases.iter().enumerate() {
            annotate(&ctx, RECLONE, Some(value));
            ctx.poll(&mut m).await;
            assert_eq!(annotation(&ctx, RECLONE), None, "{value}: removed");
            let rejected: Vec<_> = events(&ctx)
                .into_iter()
                .filter(|(_, r, _)| r == "RecloneRejected")
                .collect();
            assert_eq!(rejected.len(), n + 1, "{value}");
            assert!(
                rejected
                    .iter()
                    .any(|(t, _, m)| t == "Warning" && m.contains(msg)),
                "{value}: {rejected:?}"
            );
            assert_eq!(ctx.site_status("a")["recoveryState"], "RecoveryBlocked");
        }
        assert_eq!(ctx.metric(RECLONE_OPERATIONS, &[("site", "a")]), 0);
    });
}

#[test]
fn reclone_with_an_eight_char_prefix_clones_from_the_primary_and_clears_the_block() {
    simulate(Setup::two_sites(), |ctx| async move {
        let mut m = blocked_a(&ctx).await;
        let divergent = ctx.site_status("a")["divergentGtid"]
            .as_str()
            .unwrap()
            .to_string();
        annotate(&ctx, RECLONE, Some(&format!("a:{}", &divergent[..8])));
        ctx.poll(&mut m).await;
        assert!(
            annotation(&ctx, RECLONE).is_some(),
            "kept while the clone runs"
        );
        ctx.poll(&mut m).await;
        assert_eq!(ctx.metric(RECLONE_OPERATIONS, &[("site", "a")]), 1);
        assert_eq!(event_count(&ctx, "RecloneRequested"), 1);
        assert_eq!(
            event_count(&ctx, "RecloneCompleted"),
            1,
            "{:?}",
            events(&ctx)
        );
        assert_eq!(annotation(&ctx, RECLONE), None);
        ctx.polls(&mut m, 6).await;
        let a = ctx.site_status("a");
        assert_eq!(a["recoveryState"], Value::Null, "{a}");
        assert_eq!(a["divergentGtid"], Value::Null);
        assert_eq!(ctx.engine("a").snapshot().source_host, Some(host("b")));
        ctx.sql("b", "INSERT INTO chaos.counter (id) VALUES (77)")
            .await;
        ctx.wait_replicated("b").await;
        assert_eq!(rows(&ctx, "a"), rows(&ctx, "b"));
    });
}

#[test]
fn cold_reclone_needs_the_group_name() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        let (c, a) = (ctx.engine("c").clone(), ctx.engine("a").clone());
        let ha = host("a");
        c.set_clone_donors([(ha.as_str(), &a)]);
        for (value, msg) in [
            ("c", "c:confirm=g"),
            ("c:confirm=other", "expected confirm=g"),
        ] {
            annotate(&ctx, RECLONE, Some(value));
            ctx.poll(&mut m).await;
            assert_eq!(annotation(&ctx, RECLONE), None);
            assert!(
                events(&ctx)
                    .iter()
                    .any(|(_, r, m)| r == "RecloneRejected" && m.contains(msg)),
                "{value}"
            );
        }
        assert_eq!(ctx.metric(RECLONE_OPERATIONS, &[("site", "c")]), 0);
        annotate(&ctx, RECLONE, Some("c:confirm=g"));
        ctx.poll(&mut m).await;
        ctx.poll(&mut m).await;
        assert_eq!(ctx.metric(RECLONE_OPERATIONS, &[("site", "c")]), 1);
        assert_eq!(
            event_count(&ctx, "RecloneCompleted"),
            1,
            "{:?}",
            events(&ctx)
        );
        ctx.polls(&mut m, 6).await;
        assert_eq!(ctx.engine("c").snapshot().source_host, Some(host("a")));
    });
}

#[test]
fn a_restart_after_an_unrecorded_rollback_never_loses_the_writes_taken_since() {
    simulate(three_sites(), |ctx| async move {
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 4).await;
        ctx.engine("b").set_apply_rate(0.0);
        app_insert(&ctx, "a", 900).await.expect("a takes writes");
        annotate(&ctx, PLANNED, Some("b:maxLagWait=4s:drainTimeout=2s"));
        let mut id = 1000;
        poll_until_phase(&ctx, &mut m, "WaitingForLag", &mut id).await;
        // The rollback unfences a, but its Failed status never reaches the apiserver.
        ctx.api.deny("mysqlfailovergroups", Some("status"));
        for _ in 0..6 {
            ctx.poll(&mut m).await;
            if !ctx.read_only("a") {
                break;
            }
        }
        assert!(!ctx.read_only("a"), "rolled back: a writable again");
        assert_eq!(
            phase(&ctx),
            "WaitingForLag",
            "only the old phase is recorded"
        );
        drop(m);
        // b catches up with the old fence, then stalls again while a takes new writes.
        ctx.engine("b").set_apply_rate(1000.0);
        ctx.wait_replicated("a").await;
        ctx.engine("b").set_apply_rate(0.0);
        let mut acked = vec![];
        for i in 0..5 {
            acked.extend(app_insert(&ctx, "a", 2000 + i).await);
        }
        assert_eq!(acked.len(), 5);
        // A new controller resumes the stale WaitingForLag: b holds the old fence's set,
        // but it must not be promoted without the writes taken since.
        ctx.api.allow("mysqlfailovergroups", Some("status"));
        let mut m = ctx.manager().await;
        let mut seen = vec![];
        for _ in 0..4 {
            ctx.poll(&mut m).await;
            seen.push(phase(&ctx));
            assert!(
                ctx.read_only("b"),
                "b promoted while lacking acked writes: {seen:?}"
            );
            if seen.ends_with(&["Promoting".to_string(), "WaitingForLag".to_string()]) {
                break;
            }
        }
        assert!(
            seen.ends_with(&["Promoting".to_string(), "WaitingForLag".to_string()]),
            "the source was re-fenced and its new writes awaited: {seen:?}"
        );
        assert!(ctx.read_only("a"), "a fenced again");
        ctx.engine("b").set_apply_rate(1000.0);
        run_to_end(&ctx, &mut m, 10, &mut id).await;
        assert_eq!(phase(&ctx), "Succeeded", "{}", planned(&ctx));
        let on_b = rows(&ctx, "b");
        assert!(
            acked.iter().all(|i| on_b.contains(i)),
            "acked {acked:?}, on b {on_b:?}"
        );
    });
}
