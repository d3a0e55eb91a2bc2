//! The real `kubectl-bloodraven` binary against the fake apiserver served on 127.0.0.1,
//! through a kubeconfig pointing at it: every subcommand and output format, the preflight
//! refusals and exit codes, the annotation grammar the controller parses, and `--wait`.
//!
//! The binary is built by `cargo test --workspace` (bloodraven's own CLI test needs it);
//! alone, run `cargo build -p bloodraven --bin kubectl-bloodraven` first.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use bloodraven::annotations::{PlannedRequest, PLANNED_FAILOVER, RECLONE_SITE};
use chaos::fake_k8s::{ApiServer, Loopback};
use chaos::trace::Trace;
use chaos::world::clock::SimClock;
use serde_json::{json, Value};

const NS: &str = "comp";
const DIVERGENT: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562:7-9";

fn plugin_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let p = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("kubectl-bloodraven");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p bloodraven --bin kubectl-bloodraven` (cargo test --workspace builds it)",
        p.display()
    );
    p
}

fn group() -> Value {
    let site = |name: &str, state: &str, extra: Value| {
        let mut s = json!({"name": name, "state": state, "gtidExecuted": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6",
                           "replicating": state == "read-only", "secondsBehindSource": 0,
                           "sourceHost": if state == "read-only" { "mysql-g-a-internal" } else { "" }});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    json!({
        "apiVersion": "shipstream.io/v1alpha1",
        "kind": "MysqlFailoverGroup",
        "metadata": {"name": "g", "namespace": NS},
        "spec": {
            "sites": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d", "role": "dr-only"}],
            "dns": {"hostname": "db.example"},
        },
        "status": {
            "activeSite": "a",
            "lastFailover": "2025-12-31T23:00:00Z",
            "lastFailoverTarget": "a",
            "conditions": [{"type": "Ready", "status": "False", "reason": "TopologyPolled",
                            "message": "Replication is not healthy", "lastTransitionTime": "2025-12-31T23:00:00Z"}],
            "sites": [
                site("a", "writable", json!({"secondsBehindSource": null})),
                site("b", "read-only", json!({})),
                site("c", "read-only", json!({"replicating": false, "sourceHost": "", "recoveryState": "RecoveryBlocked",
                                               "divergentGtid": DIVERGENT, "divergentTransactionCount": 3})),
                site("d", "read-only", json!({})),
            ],
        },
    })
}

/// The fake apiserver on loopback, one group, and a kubeconfig with two contexts.
struct World {
    api: ApiServer,
    lb: Loopback,
}

impl World {
    async fn new() -> Self {
        let api = ApiServer::with_bloodraven_crds(Arc::new(SimClock::new()), Trace::new());
        for ns in [NS, "elsewhere"] {
            api.put_raw(
                "namespaces",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )
            .unwrap();
        }
        api.put_raw("mysqlfailovergroups", group()).unwrap();
        let mut lb = api.serve_loopback(NS).await.unwrap();
        lb.add_context("other", "elsewhere").unwrap();
        Self { api, lb }
    }

    /// Runs the plugin with `args` (KUBECONFIG set, no --kubeconfig flag).
    async fn run(&self, args: &str) -> Output {
        let (bin, kc, home) = (
            plugin_bin(),
            self.lb.kubeconfig.clone(),
            self.lb.dir.clone(),
        );
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin)
                .args(&args)
                .env("KUBECONFIG", kc)
                .env("HOME", home)
                .output()
                .expect("running kubectl-bloodraven")
        })
        .await
        .unwrap()
    }

    fn annotation(&self, key: &str) -> Option<String> {
        self.api.get("mysqlfailovergroups", NS, "g").unwrap()["metadata"]["annotations"][key]
            .as_str()
            .map(String::from)
    }

    fn clear(&self, key: &str) {
        self.api.modify("mysqlfailovergroups", NS, "g", |o| {
            if let Some(a) = o["metadata"]["annotations"].as_object_mut() {
                a.remove(key);
            }
        });
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_in_every_output_format() {
    let w = World::new().await;
    let table = w.run("status").await;
    assert_eq!(code(&table), 0, "{}", stderr(&table));
    insta::assert_snapshot!("status_table", stdout(&table));
    let wide = w.run("status -o wide").await;
    insta::assert_snapshot!("status_wide", stdout(&wide));
    let one = w.run("status g").await;
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    insta::assert_snapshot!("status_group", stdout(&one));
    let one_wide = w.run("status g -o wide").await;
    insta::assert_snapshot!("status_group_wide", stdout(&one_wide));
    let js: Value = serde_json::from_str(&stdout(&w.run("status g -o json").await)).unwrap();
    assert_eq!(js["status"]["activeSite"], "a");
    assert_eq!(js["metadata"]["name"], "g");
    let list: Value =
        serde_json::from_str(&stdout(&w.run("-n comp status -o json").await)).unwrap();
    assert_eq!(list["items"][0]["metadata"]["name"], "g");
    let y = stdout(&w.run("status g -o yaml").await);
    assert!(y.contains("activeSite: a\n"), "{y}");
    assert!(y.contains(&format!("divergentGtid: {DIVERGENT}")), "{y}");
    let all = w.run("status -A").await;
    assert!(stdout(&all).starts_with("NAMESPACE"), "{}", stdout(&all));
    // --context picks the other context's namespace; -n overrides it.
    let other = w.run("--context other status").await;
    assert_eq!(
        stdout(&other),
        "No MysqlFailoverGroups found in namespace elsewhere.\n"
    );
    assert!(stdout(&w.run("--context other -n comp status").await).contains("g "));
    let missing = w.run("status nope").await;
    assert_eq!(code(&missing), 2);
    assert!(
        stderr(&missing).contains("MysqlFailoverGroup comp/nope not found"),
        "{}",
        stderr(&missing)
    );
    let bad = w.run("status -o xml").await;
    assert_eq!(code(&bad), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_writes_the_grammar_the_controller_parses() {
    let w = World::new().await;
    let o = w
        .run("promote g b --max-lag-wait 90s --drain-timeout 5s")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = w.annotation(PLANNED_FAILOVER).expect("annotated");
    assert_eq!(v, "b:maxLagWait=1m30s:drainTimeout=5s");
    let parsed = PlannedRequest::parse(&v).unwrap();
    assert_eq!(parsed.site, "b");
    assert_eq!(parsed.max_lag_wait, Some(Duration::from_secs(90)));
    assert_eq!(parsed.drain_timeout, Some(Duration::from_secs(5)));
    assert!(stdout(&o).contains("planned failover of comp/g to b requested"));
    // A second request while one is pending is refused.
    let again = w.run("promote g b").await;
    assert_eq!(code(&again), 2);
    assert!(
        stderr(&again).contains("already pending"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_refuses_what_the_controller_would_refuse() {
    let w = World::new().await;
    for (args, msg) in [
        (
            "promote g zz",
            "site \"zz\" is not defined in spec.sites (a, b, c, d)",
        ),
        (
            "promote g d",
            "site d has role dr-only: only primary-candidate sites may be promoted",
        ),
        ("promote g a", "site a is already the active primary"),
        ("promote g c", "site c has divergent transactions"),
        ("promote nope b", "MysqlFailoverGroup comp/nope not found"),
        (
            "promote g b --max-lag-wait soon",
            "invalid duration \"soon\"",
        ),
        (
            "promote g b --drain-timeout 0s",
            "must be a positive duration",
        ),
    ] {
        let o = w.run(args).await;
        assert_eq!(code(&o), 2, "{args}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args}: {}", stderr(&o));
        assert_eq!(
            w.annotation(PLANNED_FAILOVER),
            None,
            "{args}: nothing written"
        );
    }
}

/// Plays the controller: takes the annotation, then walks `phases` in status.
fn fake_controller(api: ApiServer, phases: Vec<Value>) {
    tokio::spawn(async move {
        loop {
            let o = api.get("mysqlfailovergroups", NS, "g").unwrap();
            if o["metadata"]["annotations"][PLANNED_FAILOVER].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        api.modify("mysqlfailovergroups", NS, "g", |o| {
            o["metadata"]["annotations"]
                .as_object_mut()
                .unwrap()
                .remove(PLANNED_FAILOVER);
        });
        for p in phases {
            api.modify("mysqlfailovergroups", NS, "g", |o| {
                o["status"]["plannedFailover"] = p.clone()
            });
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_returns_when_the_phase_ends_and_fails_on_failed() {
    let w = World::new().await;
    let phase = |p: &str| json!({"phase": p, "targetSite": "b", "sourcePrimary": "a"});
    fake_controller(
        w.api.clone(),
        [
            "Pending",
            "Draining",
            "WaitingForLag",
            "Promoting",
            "Succeeded",
        ]
        .into_iter()
        .map(phase)
        .collect(),
    );
    let o = w
        .run("promote g b --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("phase: Succeeded") && out.contains("planned failover to b succeeded"),
        "{out}"
    );
    assert!(
        out.find("phase: Pending").unwrap() < out.find("phase: Succeeded").unwrap(),
        "{out}"
    );

    // A Failed end: exit 1 with the reason. The old Succeeded status is not mistaken for it.
    let failed =
        json!({"phase": "Failed", "targetSite": "b", "reason": "LagTimeout", "message": "b lags"});
    fake_controller(w.api.clone(), vec![phase("Validating"), failed]);
    let o = w
        .run("promote g b --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("reason=LagTimeout: b lags"),
        "{}",
        stderr(&o)
    );

    // Deferred is not success either.
    let deferred = json!({"phase": "Deferred", "targetSite": "b", "reason": "CooldownActive", "retryAfter": "2026-01-01T00:05:00Z"});
    fake_controller(w.api.clone(), vec![deferred]);
    let o = w
        .run("promote g b --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("deferred until 2026-01-01T00:05:00Z"),
        "{}",
        stderr(&o)
    );

    // Nobody acts: the wait times out (exit 1) and says so.
    let o = w
        .run("promote g b --wait --timeout 1s --poll-interval 50ms")
        .await;
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("timed out after 1s"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclone_fills_the_prefix_and_refuses_bad_requests() {
    let w = World::new().await;
    let o = w.run("reclone g c").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        w.annotation(RECLONE_SITE).as_deref(),
        Some(&format!("c:{}", &DIVERGENT[..12])[..])
    );
    let again = w.run("reclone g c").await;
    assert_eq!(code(&again), 2, "already pending");
    w.clear(RECLONE_SITE);
    let o = w.run("reclone g b --cold").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(w.annotation(RECLONE_SITE).as_deref(), Some("b:confirm=g"));
    w.clear(RECLONE_SITE);
    let o = w.run("reclone g c --gtid-prefix 3e11fa47").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(w.annotation(RECLONE_SITE).as_deref(), Some("c:3e11fa47"));
    w.clear(RECLONE_SITE);
    for (args, msg) in [
        ("reclone g b", "confirm with --cold"),
        ("reclone g c --gtid-prefix 3e11fa4", "shorter than 8"),
        ("reclone g c --gtid-prefix ffffffff", "does not match"),
        ("reclone g c --cold", "only for a site without any"),
        ("reclone g a --cold", "cannot reclone the active primary a"),
        ("reclone g zz --cold", "not defined in spec.sites"),
    ] {
        let o = w.run(args).await;
        assert_eq!(code(&o), 2, "{args}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args}: {}", stderr(&o));
        assert_eq!(w.annotation(RECLONE_SITE), None, "{args}");
    }
}
