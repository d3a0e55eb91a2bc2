//! The operator's HTTP surface over real TCP on loopback (spec §1, §8.3): the real runner
//! (topology manager and group reconciler) against the fake apiserver and two fake mysqld
//! engines, all on 127.0.0.1; then `/active-site`, `/status`, `/metrics` and the probes
//! fetched over HTTP from the listeners the binary starts (aux, metrics, probes).
//! Real time: the group polls every 200ms; waits are bounded loops, never assertions.

mod controller_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bloodraven::net::{BoxIo, Dialer, SharedDialer, TokioDialer, TokioListener};
use bloodraven::sql::SqlConnector;
use bloodraven::topology::{Registry, ReplicationCredentials, Seams};
use chaos::fake_k8s::ApiServer;
use chaos::fake_mysql::{self, Engine, FramedSqlConnector};
use chaos::trace::Trace;
use controller_support::{host, uuid, Setup, GROUP, NS};
use serde_json::{json, Value};

/// Dials the simulated host names at their loopback ports.
struct LoopbackDialer(BTreeMap<String, u16>);

#[async_trait]
impl Dialer for LoopbackDialer {
    async fn dial(&self, host: &str, _port: u16) -> std::io::Result<BoxIo> {
        let port = self.0.get(host).copied().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("unknown host {host}"))
        })?;
        TokioDialer.dial("127.0.0.1", port).await
    }
}

async fn bind() -> (TokioListener, u16) {
    let l = TokioListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.0.local_addr().unwrap().port();
    (l, port)
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let r = bloodraven::http::get(
        &TokioDialer,
        "127.0.0.1",
        port,
        path,
        Duration::from_secs(5),
    )
    .await
    .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r.status, r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aux_metrics_and_probe_endpoints_over_loopback() {
    let clock: Arc<dyn bloodraven::clock::WallClock> = Arc::new(bloodraven::clock::SystemClock);
    let trace = Trace::new();

    // The fake apiserver, seeded with the group (200ms polls) and its Secret.
    let api = ApiServer::with_bloodraven_crds(clock.clone(), trace.clone());
    api.put_raw(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .unwrap();
    let mut setup = Setup::two_sites();
    setup.poll_interval = "200ms".into();
    api.put_raw("mysqlfailovergroups", setup.group_object())
        .unwrap();
    api.put_raw(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "mysql-g-operator", "namespace": NS},
               "stringData": {"username": "bloodraven", "password": "secret",
                              "MYSQL_ROOT_PASSWORD": "secret"}}),
    )
    .unwrap();
    let (l, api_port) = bind().await;
    tokio::spawn(api.clone().serve(Box::new(l)));

    // Two engines: a writable, b fenced.
    let mut ports = BTreeMap::from([("apiserver".to_string(), api_port)]);
    let mut engines = vec![];
    let mut listeners = vec![];
    for (i, name) in ["a", "b"].into_iter().enumerate() {
        let e = Engine::new(name, &uuid(i), (i + 1) as u32, trace.clone());
        e.boot(name != "a");
        let (l, port) = bind().await;
        ports.insert(host(name), port);
        listeners.push(l);
        engines.push(e);
    }
    let dialer: SharedDialer = Arc::new(LoopbackDialer(ports));
    for (e, l) in engines.iter().zip(listeners) {
        tokio::spawn(fake_mysql::serve(e.clone(), Box::new(l)));
        tokio::spawn(fake_mysql::run_replica_threads(e.clone(), dialer.clone()));
    }
    let root = FramedSqlConnector::new(dialer.clone(), "root", "secret");
    let mut b = root.connect(&host("b"), 3306).await.expect("connect b");
    b.query(&format!(
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1",
        host("a")
    ))
    .await
    .unwrap();
    b.query("START REPLICA").await.unwrap();

    // The operator's listeners, as `bloodraven run` starts them, then the runner.
    let registry = Registry::default();
    let (aux, aux_port) = bind().await;
    tokio::spawn(bloodraven::http::serve(
        Box::new(aux),
        bloodraven::aux_server::handler(registry.clone()),
    ));
    let (metrics, metrics_port) = bind().await;
    tokio::spawn(bloodraven::http::serve(
        Box::new(metrics),
        bloodraven::aux_server::metrics_handler(registry.clone()),
    ));
    let (probes, probe_port) = bind().await;
    tokio::spawn(bloodraven::http::serve(
        Box::new(probes),
        bloodraven::aux_server::probe_handler(),
    ));
    let active = format!("/active-site?namespace={NS}&group={GROUP}");
    // Before any manager has polled: 503, and /status says so.
    assert_eq!(get(aux_port, &active).await.0, 503);
    let (code, body) = get(aux_port, "/status").await;
    assert_eq!(
        (code, body.as_str()),
        (200, r#"{"status":"no active failover groups"}"#)
    );

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
        registry: registry.clone(),
        namespace: Some(NS.into()),
    };
    let task = tokio::spawn(runner.run());

    // Wait (bounded) for a converged view: a active, b serving.
    let mut status = Value::Null;
    for _ in 0..300 {
        let (code, body) = get(aux_port, "/status").await;
        assert_eq!(code, 200);
        status = serde_json::from_str(&body).expect("/status is JSON");
        let g = &status["comp/g"];
        if g["activeSite"] == "a" && g["sites"][1]["servingHealthy"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let g = &status["comp/g"];
    assert_eq!(g["activeSite"], "a", "{status}");
    assert!(
        g["pollTime"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{status}"
    );
    assert!(g["promotionGtidExecuted"].is_string());
    let a = &g["sites"][0];
    assert_eq!(
        (&a["name"], &a["role"], &a["state"]),
        (&json!("a"), &json!("primary-candidate"), &json!("writable"))
    );
    assert_eq!(a["sourceConvergenceState"], "");
    let b = &g["sites"][1];
    assert_eq!(b["state"], "read-only");
    assert_eq!(b["sourceHost"], host("a"));
    assert_eq!(b["sourceConvergenceState"], "Converged");
    assert_eq!(b["sourceConvergenceReason"], "DirectSource");
    assert_eq!(b["servingHealthy"], true);
    assert_eq!(b["recoveryState"], "");

    // /active-site: 200 with the site, 400 without parameters, 404 for another group.
    let (code, body) = get(aux_port, &active).await;
    assert_eq!(code, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"namespace": NS, "group": GROUP, "activeSite": "a"})
    );
    let (code, body) = get(aux_port, "/active-site").await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = get(
        aux_port,
        &format!("/active-site?namespace={NS}&group=other"),
    )
    .await;
    assert_eq!(
        (code, body.as_str()),
        (404, r#"{"error":"failover group not found"}"#)
    );

    // /metrics on the metrics listener: per-site state and replication gauges.
    let (code, text) = get(metrics_port, "/metrics").await;
    assert_eq!(code, 200);
    for line in [
        r#"bloodraven_site_state{namespace="comp",group="g",site="a",role="primary-candidate",state="writable"} 1"#,
        r#"bloodraven_site_state{namespace="comp",group="g",site="b",role="primary-candidate",state="read-only"} 1"#,
        r#"bloodraven_replication_lag_seconds{namespace="comp",group="g",site="b",role="primary-candidate"} 0"#,
        r#"bloodraven_replication_lag_seconds{namespace="comp",group="g",site="a",role="primary-candidate"} -1"#,
        r#"bloodraven_replication_running{namespace="comp",group="g",site="b",role="primary-candidate",thread="io"} 1"#,
        r#"bloodraven_replication_running{namespace="comp",group="g",site="b",role="primary-candidate",thread="sql"} 1"#,
        r#"bloodraven_replication_source_state{namespace="comp",group="g",site="b",state="converged"} 1"#,
        r#"bloodraven_replication_source_state{namespace="comp",group="g",site="b",state="pending"} 0"#,
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(
        !text.contains(r#"site="a",state="converged""#),
        "the active site has no source row"
    );

    // Probes.
    assert_eq!(get(probe_port, "/healthz").await, (200, "ok".to_string()));
    assert_eq!(get(probe_port, "/readyz").await, (200, "ok".to_string()));
    assert_eq!(get(probe_port, "/metrics").await.0, 404);

    // The reconciler ran too: the Deployments exist and status says so.
    for _ in 0..100 {
        if api.get("deployments", NS, "mysql-g-b").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(api.get("deployments", NS, "mysql-g-a").is_some());
    assert!(api.get("deployments", NS, "mysql-g-b").is_some());
    task.abort();
}
