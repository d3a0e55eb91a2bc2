//! The plugin's `backup --wait` and `verify-backup --wait` end to end on 127.0.0.1: the real
//! `kubectl-bloodraven` binary and the real operator (runner, topology manager, backup
//! reconcile) share the fake apiserver, two fake mysqld engines replicate, and the fake
//! backup Job runner plays the Jobs. Real time: polls every 200ms; waits are bounded.
//!
//! The binary is built by `cargo test --workspace`; alone, run
//! `cargo build -p bloodraven --bin kubectl-bloodraven` first.

mod controller_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bloodraven::net::{BoxIo, Dialer, SharedDialer, TokioListener};
use bloodraven::sql::SqlConnector;
use bloodraven::topology::{Registry, ReplicationCredentials, Seams};
use chaos::fake_backup::{JobRunner, SiteEngine};
use chaos::fake_k8s::ApiServer;
use chaos::fake_mysql::{self, Engine, FramedSqlConnector};
use chaos::trace::Trace;
use controller_support::{host, uuid, Setup, NS};
use serde_json::{json, Value};

/// Dials the simulated host names at their loopback ports.
struct LoopbackDialer(BTreeMap<String, u16>);

#[async_trait]
impl Dialer for LoopbackDialer {
    async fn dial(&self, host: &str, _port: u16) -> std::io::Result<BoxIo> {
        let port = self.0.get(host).copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("unknown host {host}"))
        })?;
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Box::new(s))
    }
}

fn plugin_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let p = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("kubectl-bloodraven");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p bloodraven --bin kubectl-bloodraven`",
        p.display()
    );
    p
}

async fn plugin(kubeconfig: &Path, args: &str) -> std::process::Output {
    let (bin, kc) = (plugin_bin(), kubeconfig.to_path_buf());
    let args: Vec<String> = args.split_whitespace().map(String::from).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(bin)
            .args(&args)
            .env("KUBECONFIG", kc)
            .output()
            .expect("running kubectl-bloodraven")
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_verify_backup_wait_for_the_real_operator() {
    let clock: Arc<dyn bloodraven::clock::WallClock> = Arc::new(bloodraven::clock::SystemClock);
    let trace = Trace::new();
    let api = ApiServer::with_bloodraven_crds(clock.clone(), trace.clone());
    api.put_raw(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .unwrap();
    let mut setup = Setup::two_sites();
    setup.poll_interval = "200ms".into();
    let mut group = setup.group_object();
    group["spec"]["backup"] = json!({"profiles": [{"name": "nightly", "bucket": "b"}]});
    api.put_raw("mysqlfailovergroups", group).unwrap();
    api.put_raw(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "mysql-g-operator", "namespace": NS},
               "stringData": {"username": "bloodraven", "password": "secret",
                              "MYSQL_ROOT_PASSWORD": "secret"}}),
    )
    .unwrap();
    let lb = api.serve_loopback(NS).await.unwrap();

    // Two engines: a writable with 3 rows, b replicating from it.
    let mut ports = BTreeMap::from([("apiserver".to_string(), lb.port)]);
    let mut engines = vec![];
    let mut listeners = vec![];
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        let e = Engine::new(name, &uuid(i), (i + 1) as u32, trace.clone());
        e.boot(name != "a");
        let l = TokioListener::bind("127.0.0.1:0").await.unwrap();
        ports.insert(host(name), l.0.local_addr().unwrap().port());
        listeners.push(l);
        engines.push(e);
    }
    let dialer: SharedDialer = Arc::new(LoopbackDialer(ports));
    for (e, l) in engines.iter().zip(listeners) {
        tokio::spawn(fake_mysql::serve(e.clone(), Box::new(l)));
        tokio::spawn(fake_mysql::run_replica_threads(e.clone(), dialer.clone()));
    }
    let root = FramedSqlConnector::new(dialer.clone(), "root", "secret");
    let mut a = root.connect(&host("a"), 3306).await.expect("connect a");
    for i in 1..=3 {
        a.query(&format!("INSERT INTO chaos.counter (id) VALUES ({i})"))
            .await
            .unwrap();
    }
    let mut b = root.connect(&host("b"), 3306).await.expect("connect b");
    b.query(&format!(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1",
        host("a")
    ))
    .await
    .unwrap();
    b.query("START REPLICA").await.unwrap();

    // The operator.
    let kube = bloodraven::kube_client::client_over(dialer.clone(), "apiserver", 6443, NS);
    let runner = bloodraven::runner::Runner {
        seams: Seams {
            kube,
            sql: Arc::new(FramedSqlConnector::new(
                dialer.clone(),
                "bloodraven",
                "secret",
            )),
            clock: clock.clone(),
            dialer: dialer.clone(),
        },
        creds: ReplicationCredentials {
            user: "repl".into(),
            password: "repl".into(),
        },
        registry: Registry::default(),
        namespace: Some(NS.into()),
    };
    let operator = tokio::spawn(runner.run());

    // The Job controller: its own clock runs a second per 50ms tick, so a Job takes 250ms.
    let sites: Vec<SiteEngine> = ["a", "b"]
        .iter()
        .zip(&engines)
        .map(|(s, e)| SiteEngine {
            site: s.to_string(),
            host: host(s),
            role: "primary-candidate".into(),
            engine: e.clone(),
        })
        .collect();
    let jobs = {
        let (api, trace) = (api.clone(), trace.clone());
        tokio::spawn(async move {
            let mut runner = JobRunner::default();
            for tick in 0u64.. {
                runner.tick(&api, NS, &sites, &trace, Duration::from_secs(tick));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let o = plugin(
        &lb.kubeconfig,
        "backup g --profile nightly --name nb-1 --wait --timeout 60s --poll-interval 100ms -o wide",
    )
    .await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.find("phase: Running").unwrap() < out.find("phase: Succeeded").unwrap(),
        "{out}"
    );
    let st = api.get("mysqlbackups", NS, "nb-1").unwrap()["status"].clone();
    assert_eq!(st["sourceSite"], "b", "the replica is the source: {st}");
    let gtid = st["gtidExecuted"].as_str().unwrap().to_string();
    assert_eq!(gtid, format!("{}:1-3", uuid(0)));
    assert!(out.contains(&gtid), "the final wide table shows it: {out}");

    // Verification of the latest Succeeded backup: 3 rows restored.
    let o = plugin(
        &lb.kubeconfig,
        "verify-backup g --profile nightly --name nv-1 --wait --timeout 60s --poll-interval 100ms -o json",
    )
    .await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["status"]["phase"], "Succeeded", "{v}");
    assert_eq!(v["status"]["backupName"], "nb-1");
    assert_eq!(v["status"]["restoredRows"], 3);

    // A backup whose artifact is gone: the restore Job fails, so does the verification,
    // and the wait exits 1 with the reason.
    api.put_raw(
        "mysqlbackups",
        json!({"apiVersion": "shipstream.io/v1alpha1", "kind": "MysqlBackup",
               "metadata": {"name": "ghost", "namespace": NS},
               "spec": {"failoverGroupRef": "g", "profileName": "nightly"},
               "status": {"phase": "Succeeded", "location": "s3://b/g/ghost", "gtidExecuted": gtid,
                          "completionTime": "2020-01-01T00:00:00Z"}}),
    )
    .unwrap();
    let o = plugin(
        &lb.kubeconfig,
        "verify-backup g --profile nightly --backup ghost --name nv-2 --wait --timeout 60s --poll-interval 100ms",
    )
    .await;
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("MysqlBackupVerification nv-2 failed: reason=RestoreFailed: no artifact at s3://b/g/ghost"),
        "{err}"
    );

    // The Events are on the requests.
    let on = |reason: &str| -> Vec<String> {
        api.list("events", Some(NS))
            .iter()
            .filter(|e| e["reason"] == reason)
            .map(|e| e["involvedObject"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(on("BackupSucceeded"), ["nb-1"]);
    assert_eq!(on("BackupVerificationSucceeded"), ["nv-1"]);
    assert_eq!(on("BackupVerificationFailed"), ["nv-2"]);
    operator.abort();
    jobs.abort();
}
