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
            "backup": {"profiles": [{"name": "nightly", "bucket": "b"}, {"name": "ondemand", "bucket": "b"},
                                    {"name": "weekly", "bucket": "b"}]},
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

// ---- backup and verify-backup ----

fn backup_object(name: &str, group: &str, profile: &str, status: Value) -> Value {
    json!({
        "apiVersion": "shipstream.io/v1alpha1",
        "kind": "MysqlBackup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"failoverGroupRef": group, "profileName": profile},
        "status": status,
    })
}

fn succeeded(at: &str) -> Value {
    json!({"phase": "Succeeded", "sourceSite": "b", "completionTime": at, "sizeBytes": 4096,
           "gtidExecuted": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6",
           "location": "s3://b/g/x", "storageType": "s3"})
}

/// The world of the backup tests: a reader site `r`, and backups of every phase.
async fn backup_world() -> World {
    let w = World::new().await;
    w.api.modify("mysqlfailovergroups", NS, "g", |g| {
        g["spec"]["sites"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "r", "role": "read-only"}));
    });
    for b in [
        backup_object(
            "nightly-old",
            "g",
            "nightly",
            succeeded("2026-01-01T00:00:00Z"),
        ),
        backup_object(
            "nightly-new",
            "g",
            "nightly",
            succeeded("2026-01-02T00:00:00Z"),
        ),
        backup_object(
            "nightly-failed",
            "g",
            "nightly",
            json!({"phase": "Failed", "reason": "JobFailed", "message": "xtrabackup exited 1"}),
        ),
        backup_object(
            "nightly-running",
            "g",
            "nightly",
            json!({"phase": "Running"}),
        ),
        backup_object(
            "ondemand-1",
            "g",
            "ondemand",
            succeeded("2026-01-01T12:00:00Z"),
        ),
        backup_object("h-1", "h", "nightly", succeeded("2026-01-03T00:00:00Z")),
    ] {
        w.api.put_raw("mysqlbackups", b).unwrap();
    }
    w
}

fn names(w: &World, resource: &str) -> Vec<String> {
    w.api
        .list(resource, Some(NS))
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn spec_of(w: &World, resource: &str, name: &str) -> Value {
    w.api
        .get(resource, NS, name)
        .unwrap_or_else(|| panic!("{resource}/{name} was not created"))["spec"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_group_lists_its_backups_and_verifications() {
    let w = backup_world().await;
    let o = w.run("verify-backup g --profile nightly --name v-1").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = w.run("status g").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("status_group_backups", stdout(&o));
    let wide = stdout(&w.run("status g -o wide").await);
    assert!(
        wide.contains("s3://b/g/x") && wide.contains("xtrabackup exited 1"),
        "{wide}"
    );
    // Another group's backup (h-1) is not listed.
    assert!(!wide.contains("h-1"), "{wide}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_creates_a_mysqlbackup_in_every_output_format() {
    let w = backup_world().await;
    let o = w.run("backup g --profile nightly --name nightly-2").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("backup_table", stdout(&o));
    assert_eq!(
        spec_of(&w, "mysqlbackups", "nightly-2"),
        json!({"failoverGroupRef": "g", "profileName": "nightly", "triggeredBy": "kubectl-bloodraven"})
    );

    let o = w
        .run("backup g --profile ondemand --source-site b --name od-2 -o wide")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("backup_wide", stdout(&o));
    assert_eq!(
        spec_of(&w, "mysqlbackups", "od-2")["sourceSiteOverride"],
        "b"
    );

    // JSON and YAML: stdout is the object alone, the progress line goes to stderr.
    let o = w
        .run("backup g --profile nightly --name js-1 -o json")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let js: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(js["kind"], "MysqlBackup");
    assert_eq!(js["metadata"]["name"], "js-1");
    assert_eq!(js["spec"]["profileName"], "nightly");
    assert!(
        stderr(&o).contains("MysqlBackup comp/js-1 created"),
        "{}",
        stderr(&o)
    );
    let o = w
        .run("backup g --profile nightly --name ya-1 -o yaml")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let y = stdout(&o);
    assert!(
        y.contains("kind: MysqlBackup\n") && y.contains("profileName: nightly\n"),
        "{y}"
    );

    // Without --name the apiserver names it after the group and profile.
    let before = names(&w, "mysqlbackups");
    let o = w.run("backup g --profile nightly").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let new: Vec<String> = names(&w, "mysqlbackups")
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(
        new[0].starts_with("g-nightly-") && new[0].len() == "g-nightly-".len() + 5,
        "{new:?}"
    );
    assert!(
        stdout(&o).contains(&format!("MysqlBackup comp/{} created", new[0])),
        "{}",
        stdout(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_refuses_bad_input_before_writing() {
    let w = backup_world().await;
    w.api
        .put_raw("mysqlfailovergroups", {
            let mut h = group();
            h["metadata"] = json!({"name": "h", "namespace": "elsewhere"});
            h["spec"].as_object_mut().unwrap().remove("backup");
            h
        })
        .unwrap();
    let long = "x".repeat(55);
    let before = names(&w, "mysqlbackups");
    for (args, msg) in [
        (
            "backup g --profile nighty".to_string(),
            "profile \"nighty\" is not defined in spec.backup.profiles of g (nightly, ondemand, weekly)",
        ),
        (
            "backup g --profile nightly --source-site zz".into(),
            "site \"zz\" is not defined in spec.sites (a, b, c, d, r)",
        ),
        (
            "backup g --profile nightly --source-site r".into(),
            "site r is a reader (role read-only): backups are never taken from readers",
        ),
        (
            "backup nope --profile nightly".into(),
            "MysqlFailoverGroup comp/nope not found",
        ),
        (
            "-n elsewhere backup h --profile nightly".into(),
            "MysqlFailoverGroup h has no backup profiles",
        ),
        (
            "backup g --profile nightly --name Bad_Name".into(),
            "name \"Bad_Name\" cannot be used",
        ),
        (
            format!("backup g --profile nightly --name {long}"),
            "must be at most 63",
        ),
        (
            "backup g --profile nightly --name nightly-old".into(),
            "MysqlBackup comp/nightly-old already exists",
        ),
    ] {
        let o = w.run(&args).await;
        assert_eq!(code(&o), 2, "{args}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args}: {}", stderr(&o));
        assert_eq!(names(&w, "mysqlbackups"), before, "{args}: nothing written");
    }
    // The longest name whose Job name still fits is accepted.
    let fits = "y".repeat(63 - "-backup-1".len());
    let o = w
        .run(&format!("backup g --profile nightly --name {fits}"))
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_backup_picks_and_checks_the_backup() {
    let w = backup_world().await;
    let o = w.run("verify-backup g --profile nightly --name v-1").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("verify_backup_table", stdout(&o));
    // The operator picks the latest Succeeded backup itself; the request names none.
    assert_eq!(
        spec_of(&w, "mysqlbackupverifications", "v-1"),
        json!({"failoverGroupRef": "g", "profileName": "nightly"})
    );

    let o = w
        .run("verify-backup g --profile ondemand --backup ondemand-1 --name v-2 -o wide")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("verify_backup_wide", stdout(&o));
    assert_eq!(
        spec_of(&w, "mysqlbackupverifications", "v-2")["backupName"],
        "ondemand-1"
    );
    let o = w
        .run("verify-backup g --profile nightly --backup nightly-old --name v-3 -o json")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let js: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(js["kind"], "MysqlBackupVerification");
    assert_eq!(js["spec"]["backupName"], "nightly-old");
    // The backup may also be given as the second argument.
    let o = w
        .run("verify-backup g nightly-old --profile nightly --name v-5")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        spec_of(&w, "mysqlbackupverifications", "v-5")["backupName"],
        "nightly-old"
    );
    let o = w
        .run("verify-backup g nightly-old --backup nightly-new --profile nightly")
        .await;
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let o = w
        .run("verify-backup g --profile nightly --name v-4 -o yaml")
        .await;
    assert!(stdout(&o).contains("kind: MysqlBackupVerification\n"));
    let o = w.run("verify-backup g --profile nightly").await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        names(&w, "mysqlbackupverifications")
            .iter()
            .any(|n| n.starts_with("g-nightly-verify-")),
        "{:?}",
        names(&w, "mysqlbackupverifications")
    );

    let before = names(&w, "mysqlbackupverifications");
    for (args, msg) in [
        (
            "verify-backup g --profile nightly --backup nope",
            "MysqlBackup comp/nope not found",
        ),
        (
            "verify-backup g --profile nightly --backup nightly-failed",
            "MysqlBackup nightly-failed failed (JobFailed: xtrabackup exited 1): nothing to verify",
        ),
        (
            "verify-backup g --profile nightly --backup nightly-running",
            "MysqlBackup nightly-running is Running: only a Succeeded backup can be verified",
        ),
        (
            "verify-backup g --profile nightly --backup h-1",
            "MysqlBackup h-1 belongs to group h, not g",
        ),
        (
            "verify-backup g --profile nightly --backup ondemand-1",
            "MysqlBackup ondemand-1 was taken with profile ondemand, not nightly",
        ),
        (
            "verify-backup g --profile weekly",
            "no Succeeded MysqlBackup of profile weekly for group g",
        ),
        (
            "verify-backup g --profile monthly",
            "profile \"monthly\" is not defined",
        ),
        (
            "verify-backup nope --profile nightly",
            "MysqlFailoverGroup comp/nope not found",
        ),
        (
            "verify-backup g --profile nightly --name v-1",
            "MysqlBackupVerification comp/v-1 already exists",
        ),
    ] {
        let o = w.run(args).await;
        assert_eq!(code(&o), 2, "{args}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args}: {}", stderr(&o));
        assert_eq!(
            names(&w, "mysqlbackupverifications"),
            before,
            "{args}: nothing written"
        );
    }
}

/// Plays the backup reconcile: once `name` exists, walks its status through `statuses`.
fn fake_backup_controller(
    api: ApiServer,
    resource: &'static str,
    name: &str,
    statuses: Vec<Value>,
) {
    let name = name.to_string();
    tokio::spawn(async move {
        while api.get(resource, NS, &name).is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for st in statuses {
            tokio::time::sleep(Duration::from_millis(60)).await;
            api.modify(resource, NS, &name, |o| o["status"] = st.clone());
        }
    });
}

/// What follows the last progress line: the final table.
fn final_table(out: &str) -> String {
    out.lines()
        .skip_while(|l| !l.starts_with("phase: Succeeded") && !l.starts_with("phase: Failed"))
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_wait_returns_when_the_phase_ends_and_fails_on_failed() {
    let w = backup_world().await;
    let running = json!({"phase": "Running", "sourceSite": "b", "jobName": "w-1-backup-1"});
    fake_backup_controller(
        w.api.clone(),
        "mysqlbackups",
        "w-1",
        vec![running.clone(), succeeded("2026-01-04T00:00:00Z")],
    );
    let o = w
        .run("backup g --profile nightly --name w-1 --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.find("phase: Running").unwrap() < out.find("phase: Succeeded").unwrap(),
        "{out}"
    );
    insta::assert_snapshot!("backup_wait_succeeded", final_table(&out));

    // Failed: exit 1 with the reason, after the final table.
    fake_backup_controller(
        w.api.clone(),
        "mysqlbackups",
        "w-2",
        vec![
            running,
            json!({"phase": "Failed", "reason": "JobFailed", "message": "xtrabackup exited 1",
                   "completionTime": "2026-01-04T00:00:00Z"}),
        ],
    );
    let o = w
        .run("backup g --profile nightly --name w-2 --wait --timeout 30s --poll-interval 20ms -o wide")
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains("MysqlBackup w-2 failed: reason=JobFailed: xtrabackup exited 1"),
        "{}",
        stderr(&o)
    );
    assert!(
        final_table(&stdout(&o)).contains("Failed"),
        "{}",
        stdout(&o)
    );

    // JSON: the final object on stdout, the phases on stderr.
    fake_backup_controller(
        w.api.clone(),
        "mysqlbackups",
        "w-3",
        vec![succeeded("2026-01-05T00:00:00Z")],
    );
    let o = w
        .run("backup g --profile nightly --name w-3 --wait --timeout 30s --poll-interval 20ms -o json")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let js: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(js["status"]["phase"], "Succeeded");
    assert!(stderr(&o).contains("phase: Succeeded"), "{}", stderr(&o));

    // Nobody acts: the wait times out (exit 1) and says so.
    let o = w
        .run("backup g --profile nightly --name w-4 --wait --timeout 1s --poll-interval 50ms")
        .await;
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("timed out after 1s waiting for MysqlBackup comp/w-4 (phase Pending)"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_backup_wait_returns_when_the_phase_ends_and_fails_on_failed() {
    let w = backup_world().await;
    let running =
        json!({"phase": "Running", "backupName": "nightly-new", "jobName": "vw-1-verify"});
    fake_backup_controller(
        w.api.clone(),
        "mysqlbackupverifications",
        "vw-1",
        vec![
            running.clone(),
            json!({"phase": "Succeeded", "backupName": "nightly-new", "restoredRows": 6,
                   "restoredGtidExecuted": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6",
                   "completionTime": "2026-01-04T00:00:00Z"}),
        ],
    );
    let o = w
        .run("verify-backup g --profile nightly --name vw-1 --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    insta::assert_snapshot!("verify_backup_wait_succeeded", final_table(&stdout(&o)));

    fake_backup_controller(
        w.api.clone(),
        "mysqlbackupverifications",
        "vw-2",
        vec![
            running,
            json!({"phase": "Failed", "backupName": "nightly-new", "reason": "GtidMismatch",
                   "message": "the restored instance lacks 3e11fa47-71ca-11e1-9e33-c80aa9429562:6 of the backup's GTID set",
                   "completionTime": "2026-01-04T00:00:00Z"}),
        ],
    );
    let o = w
        .run("verify-backup g --profile nightly --name vw-2 --wait --timeout 30s --poll-interval 20ms")
        .await;
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stderr(&o).contains(
            "MysqlBackupVerification vw-2 failed: reason=GtidMismatch: the restored instance lacks"
        ),
        "{}",
        stderr(&o)
    );
}
