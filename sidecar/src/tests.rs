//! I/O-level tests: the safety net, the monitor tick and the HTTP server, against an
//! in-test fake `SqlConnector` (recording every statement) and an in-memory network.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bloodraven::clock::WallClock;
use bloodraven::http::{get, serve, Handler, Reply};
use bloodraven::net::{BoxIo, Dialer, Listener};
use bloodraven::sql::{QueryResult, SqlConn, SqlConnector, SqlError};
use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::mpsc;

use crate::fencing::{safety_net, tick, Ctx, SafetyNet};
use crate::monitor::{Action, FenceReason};
use crate::mysql::FenceOutcome;
use crate::{run, Seams, SidecarConfig};

// ---------------------------------------------------------------- fake MySQL

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FenceMode {
    Ok,
    /// The SET lands but the client sees an error (PR #122).
    ErrorButApplied,
    /// The SET is refused.
    ErrorNotApplied,
}

struct SqlState {
    read_only: bool,
    super_read_only: bool,
    /// Connects that fail (2003) before mysqld is up.
    down_for_connects: usize,
    fence_mode: FenceMode,
    next_conn_id: u64,
    /// (connection id, statement)
    log: Vec<(u64, String)>,
    /// (Id, User, Command) of the other sessions.
    sessions: Vec<(u64, &'static str, &'static str)>,
}

#[derive(Clone)]
struct FakeSql(Arc<Mutex<SqlState>>);

impl FakeSql {
    fn new(read_only: bool) -> Self {
        Self(Arc::new(Mutex::new(SqlState {
            read_only,
            super_read_only: read_only,
            down_for_connects: 0,
            fence_mode: FenceMode::Ok,
            next_conn_id: 100,
            log: Vec::new(),
            sessions: vec![
                (1, "system user", "Connect"),
                (2, "system user", "Query"),
                (3, "event_scheduler", "Daemon"),
                (4, "repl", "Binlog Dump GTID"),
                (5, "", "Connect"),
                (10, "app", "Query"),
                (11, "app", "Sleep"),
            ],
        })))
    }
    fn st(&self) -> std::sync::MutexGuard<'_, SqlState> {
        self.0.lock().unwrap()
    }
    fn statements(&self) -> Vec<String> {
        self.st().log.iter().map(|(_, s)| s.clone()).collect()
    }
    fn count(&self, stmt: &str) -> usize {
        self.statements().iter().filter(|s| *s == stmt).count()
    }
    fn kills(&self) -> Vec<String> {
        self.statements()
            .into_iter()
            .filter(|s| s.starts_with("KILL "))
            .collect()
    }
    fn read_only(&self) -> bool {
        self.st().read_only
    }
    fn set_writable(&self) {
        let mut st = self.st();
        st.read_only = false;
        st.super_read_only = false;
    }
}

fn flag(b: bool) -> Option<String> {
    Some(if b { "1" } else { "0" }.to_string())
}

fn result(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> QueryResult {
    QueryResult {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows,
        ..Default::default()
    }
}

#[async_trait]
impl SqlConnector for FakeSql {
    async fn connect(&self, _host: &str, _port: u16) -> Result<Box<dyn SqlConn>, SqlError> {
        let mut st = self.st();
        if st.down_for_connects > 0 {
            st.down_for_connects -= 1;
            return Err(SqlError::new(
                SqlError::CANNOT_CONNECT,
                "connection refused",
            ));
        }
        st.next_conn_id += 1;
        Ok(Box::new(FakeConn {
            id: st.next_conn_id,
            db: self.clone(),
        }))
    }
}

struct FakeConn {
    id: u64,
    db: FakeSql,
}

#[async_trait]
impl SqlConn for FakeConn {
    async fn query(&mut self, sql: &str) -> Result<QueryResult, SqlError> {
        let mut st = self.db.st();
        st.log.push((self.id, sql.to_string()));
        match sql {
            "SELECT @@global.read_only, @@global.super_read_only" => Ok(result(
                &["@@global.read_only", "@@global.super_read_only"],
                vec![vec![flag(st.read_only), flag(st.super_read_only)]],
            )),
            "SET GLOBAL super_read_only = ON" => match st.fence_mode {
                FenceMode::Ok => {
                    st.read_only = true;
                    st.super_read_only = true;
                    Ok(QueryResult::default())
                }
                FenceMode::ErrorButApplied => {
                    st.read_only = true;
                    st.super_read_only = true;
                    Err(SqlError::transport("lost connection during query"))
                }
                FenceMode::ErrorNotApplied => Err(SqlError::new(1227, "access denied")),
            },
            "SET GLOBAL super_read_only = OFF" => {
                st.super_read_only = false;
                Ok(QueryResult::default())
            }
            "SET GLOBAL read_only = OFF" => {
                st.read_only = false;
                st.super_read_only = false;
                Ok(QueryResult::default())
            }
            "SELECT CONNECTION_ID()" => Ok(result(
                &["CONNECTION_ID()"],
                vec![vec![Some(self.id.to_string())]],
            )),
            "SHOW PROCESSLIST" => {
                let mut rows: Vec<Vec<Option<String>>> = st
                    .sessions
                    .iter()
                    .map(|(id, user, cmd)| {
                        vec![
                            Some(id.to_string()),
                            Some(user.to_string()),
                            Some("localhost".into()),
                            None,
                            Some(cmd.to_string()),
                            Some("0".into()),
                            None,
                            None,
                        ]
                    })
                    .collect();
                rows.push(vec![
                    Some(self.id.to_string()),
                    Some("operator".into()),
                    Some("localhost".into()),
                    None,
                    Some("Query".into()),
                    Some("0".into()),
                    None,
                    Some("SHOW PROCESSLIST".into()),
                ]);
                Ok(result(
                    &[
                        "Id", "User", "Host", "db", "Command", "Time", "State", "Info",
                    ],
                    rows,
                ))
            }
            "SELECT @@global.gtid_executed" => Ok(result(
                &["@@global.gtid_executed"],
                vec![vec![Some("u:1-5".into())]],
            )),
            "SELECT @@server_id" => Ok(result(&["@@server_id"], vec![vec![Some("7".into())]])),
            "SHOW REPLICA STATUS" => Ok(result(
                &[
                    "Replica_IO_Running",
                    "Replica_SQL_Running",
                    "Seconds_Behind_Source",
                    "Source_Host",
                ],
                vec![],
            )),
            _ => {
                if let Some(id) = sql.strip_prefix("KILL ") {
                    let id: u64 = id.parse().map_err(|_| SqlError::new(1064, "bad KILL"))?;
                    let before = st.sessions.len();
                    st.sessions.retain(|s| s.0 != id);
                    if st.sessions.len() == before {
                        return Err(SqlError::new(1094, "Unknown thread id"));
                    }
                    return Ok(QueryResult::default());
                }
                Err(SqlError::new(
                    1064,
                    format!("fake engine: unsupported statement {sql:?}"),
                ))
            }
        }
    }
}

// ---------------------------------------------------------------- fake network

type Routes = Arc<Mutex<BTreeMap<(String, u16), mpsc::UnboundedSender<BoxIo>>>>;

#[derive(Clone, Default)]
struct Net(Routes);

struct MemListener(mpsc::UnboundedReceiver<BoxIo>);

#[async_trait]
impl Listener for MemListener {
    async fn accept(&mut self) -> io::Result<BoxIo> {
        self.0
            .recv()
            .await
            .ok_or_else(|| io::Error::other("closed"))
    }
}

#[async_trait]
impl Dialer for Net {
    async fn dial(&self, host: &str, port: u16) -> io::Result<BoxIo> {
        let tx = self
            .0
            .lock()
            .unwrap()
            .get(&(host.to_string(), port))
            .cloned();
        let tx = tx.ok_or_else(|| io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))?;
        let (a, b) = tokio::io::duplex(64 * 1024);
        tx.send(Box::new(b))
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "refused"))?;
        Ok(Box::new(a))
    }
}

impl Net {
    fn listen(&self, host: &str, port: u16) -> Box<dyn Listener> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().unwrap().insert((host.to_string(), port), tx);
        Box::new(MemListener(rx))
    }
    fn unlisten(&self, host: &str, port: u16) {
        self.0.lock().unwrap().remove(&(host.to_string(), port));
    }
}

/// A fake controller whose `/active-site` answer can be changed.
#[derive(Clone)]
struct Controller(Arc<Mutex<(u16, String)>>);

impl Controller {
    fn start(net: &Net, status: u16, active_site: &str) -> Self {
        let c = Self(Arc::new(Mutex::new((status, active_site.to_string()))));
        let state = c.0.clone();
        let handler: Handler = Arc::new(move |_m, path: String| {
            let (status, site) = state.lock().unwrap().clone();
            Box::pin(async move {
                if path == "/healthz" {
                    Reply::text(200, "ok")
                } else if path.starts_with("/active-site?namespace=ns&group=g") {
                    match status {
                        200 => Reply::json(
                            200,
                            &serde_json::json!({"namespace":"ns","group":"g","activeSite":site}),
                        ),
                        s => Reply::json(
                            s,
                            &serde_json::json!({"error":"no active topology managers"}),
                        ),
                    }
                } else {
                    Reply::text(404, "not found")
                }
            })
        });
        tokio::spawn(serve(net.listen("ctl", 8082), handler));
        c
    }
    fn set(&self, status: u16, site: &str) {
        *self.0.lock().unwrap() = (status, site.to_string());
    }
}

/// Wall clock = fixed epoch + virtual elapsed time.
struct TestClock(tokio::time::Instant);

impl WallClock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let base = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        base + chrono::Duration::from_std(self.0.elapsed()).unwrap()
    }
}

fn config(peers: &[(&str, u16)]) -> SidecarConfig {
    SidecarConfig {
        site: "a".into(),
        namespace: "ns".into(),
        group: "g".into(),
        pod_name: "mysql-g-a-0".into(),
        mysql_host: "mysql-g-a-internal".into(),
        mysql_port: 3306,
        controller_host: "ctl".into(),
        controller_port: 8082,
        peers: peers.iter().map(|(h, p)| (h.to_string(), *p)).collect(),
        lease_timeout: Duration::from_secs(20),
        peer_check_interval: Duration::from_secs(5),
        listen_port: 8080,
    }
}

fn seams(net: &Net, sql: &FakeSql) -> Seams {
    Seams {
        dialer: Arc::new(net.clone()),
        sql: Arc::new(sql.clone()),
        clock: Arc::new(TestClock(tokio::time::Instant::now())),
    }
}

const FENCE: &str = "SET GLOBAL super_read_only = ON";
const UNFENCE: &str = "SET GLOBAL super_read_only = OFF";
const UNFENCE_RO: &str = "SET GLOBAL read_only = OFF";

// ---------------------------------------------------------------- safety net

#[tokio::test(start_paused = true)]
async fn safety_net_fences_first_and_stays_fenced_when_controller_unreachable() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    let out = safety_net(&ctx).await;
    assert!(matches!(out, SafetyNet::Unreachable(_)), "{out:?}");
    assert_eq!(
        sql.statements().first().map(String::as_str),
        Some(FENCE),
        "fence first"
    );
    assert!(sql.read_only());
    assert_eq!(sql.count(UNFENCE) + sql.count(UNFENCE_RO), 0);
}

#[tokio::test(start_paused = true)]
async fn safety_net_stays_fenced_on_503_and_empty_active_site() {
    for (status, site) in [(503, ""), (404, ""), (200, "")] {
        let (net, sql) = (Net::default(), FakeSql::new(false));
        Controller::start(&net, status, site);
        let ctx = Ctx::new(config(&[]), seams(&net, &sql));
        let out = safety_net(&ctx).await;
        let expected_ok = status == 200;
        assert_eq!(
            matches!(out, SafetyNet::NoActiveSite),
            expected_ok,
            "{status}: {out:?}"
        );
        assert!(sql.read_only(), "{status}");
        assert_eq!(sql.count(UNFENCE), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn safety_net_retries_the_fence_until_mysql_is_up() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    sql.st().down_for_connects = 3;
    Controller::start(&net, 200, "b");
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    let t0 = tokio::time::Instant::now();
    let out = safety_net(&ctx).await;
    assert!(t0.elapsed() >= Duration::from_secs(3), "retried every 1s");
    assert_eq!(out, SafetyNet::Standby("b".into()));
    assert_eq!(sql.statements().first().map(String::as_str), Some(FENCE));
    assert!(sql.read_only());
    // The foreign view is cached and served to peers.
    assert_eq!(
        ctx.state().active_view().map(|v| v.active_site.clone()),
        Some("b".into())
    );
}

#[tokio::test(start_paused = true)]
async fn safety_net_unfences_only_when_the_controller_names_this_site() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    Controller::start(&net, 200, "a");
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    assert_eq!(safety_net(&ctx).await, SafetyNet::Active);
    assert_eq!(
        sql.statements(),
        vec![
            FENCE.to_string(),
            UNFENCE.to_string(),
            UNFENCE_RO.to_string()
        ]
    );
    assert!(!sql.read_only());
}

// ---------------------------------------------------------------- monitor tick

#[tokio::test(start_paused = true)]
async fn tick_fences_after_the_lease_with_controller_down_and_spares_system_sessions() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    let ctx = Ctx::new(config(&[("b", 8080)]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());

    tokio::time::advance(Duration::from_secs(20)).await;
    let r = tick(&ctx).await;
    assert_eq!(r.action, Some(Action::Nothing), "not before the lease");
    assert_eq!(sql.count(FENCE), 0);

    tokio::time::advance(Duration::from_secs(1)).await;
    let r = tick(&ctx).await;
    assert!(
        matches!(
            r.action,
            Some(Action::Fence(FenceReason::LeaseExpired { .. }))
        ),
        "{r:?}"
    );
    assert_eq!(r.fence, Some(FenceOutcome::Fenced { killed: 2 }));
    assert!(sql.read_only());
    assert!(ctx.state().is_fenced());
    assert_eq!(
        sql.kills(),
        vec!["KILL 10".to_string(), "KILL 11".to_string()]
    );
    // CONNECTION_ID, PROCESSLIST and the KILLs ran on one connection.
    let log = sql.st().log.clone();
    let conn_of = |stmt: &str| {
        log.iter()
            .find(|(_, s)| s == stmt)
            .map(|(c, _)| *c)
            .unwrap()
    };
    let own = conn_of("SELECT CONNECTION_ID()");
    assert_eq!(conn_of("SHOW PROCESSLIST"), own);
    assert!(log
        .iter()
        .filter(|(_, s)| s.starts_with("KILL"))
        .all(|(c, _)| *c == own));

    // Fenced and read-only: nothing more, no second eviction, never unfenced.
    for _ in 0..10 {
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(tick(&ctx).await.action, Some(Action::Nothing));
    }
    assert_eq!(sql.count(FENCE), 1);
    assert_eq!(sql.count("SHOW PROCESSLIST"), 1);
    assert_eq!(sql.count(UNFENCE) + sql.count(UNFENCE_RO), 0);
}

#[tokio::test(start_paused = true)]
async fn ambiguous_fence_counts_as_fenced_without_killing() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    sql.st().fence_mode = FenceMode::ErrorButApplied;
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());
    tokio::time::advance(Duration::from_secs(25)).await;
    let r = tick(&ctx).await;
    assert!(
        matches!(r.fence, Some(FenceOutcome::FencedAmbiguous { .. })),
        "{r:?}"
    );
    assert!(
        ctx.state().is_fenced(),
        "PR #122: the probe shows read-only"
    );
    assert_eq!(sql.count("SHOW PROCESSLIST"), 0);
    assert!(sql.kills().is_empty());

    // The operator re-asserts the site: the monitor rearms instead of re-fencing (no wedge).
    sql.set_writable();
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(tick(&ctx).await.action, Some(Action::Rearmed));
    assert!(!ctx.state().is_fenced());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(
        tick(&ctx).await.action,
        Some(Action::Nothing),
        "fresh lease after the rearm"
    );
    assert!(!sql.read_only());
}

#[tokio::test(start_paused = true)]
async fn failed_fence_is_retried_next_tick() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    sql.st().fence_mode = FenceMode::ErrorNotApplied;
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());
    tokio::time::advance(Duration::from_secs(25)).await;
    let r = tick(&ctx).await;
    assert!(
        matches!(r.fence, Some(FenceOutcome::Failed { .. })),
        "{r:?}"
    );
    assert!(!ctx.state().is_fenced());
    sql.st().fence_mode = FenceMode::Ok;
    tokio::time::advance(Duration::from_secs(5)).await;
    let r = tick(&ctx).await;
    assert!(
        matches!(r.fence, Some(FenceOutcome::Fenced { .. })),
        "{r:?}"
    );
    assert!(ctx.state().is_fenced());
}

#[tokio::test(start_paused = true)]
async fn read_only_replica_is_never_fenced() {
    let (net, sql) = (Net::default(), FakeSql::new(true));
    Controller::start(&net, 200, "b");
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());
    for i in 0..20 {
        if i == 2 {
            net.unlisten("ctl", 8082); // and the controller goes away
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(tick(&ctx).await.action, Some(Action::Nothing));
    }
    assert!(sql
        .statements()
        .iter()
        .all(|s| !s.starts_with("SET") && !s.starts_with("KILL")));
    assert!(!ctx.state().is_fenced());
}

#[tokio::test(start_paused = true)]
async fn promoted_replica_is_not_fenced_by_its_cache_while_the_controller_is_away() {
    // Explore run 126: replica a caches "b", the aux endpoint goes down, the operator
    // promotes a. The cached "b" predates the promotion and must not fence a; once the
    // controller is back and still names b, the newer answer fences as usual.
    let (net, sql) = (Net::default(), FakeSql::new(true));
    Controller::start(&net, 200, "b");
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(tick(&ctx).await.action, Some(Action::Nothing));
    assert_eq!(ctx.state().active_view().unwrap().active_site, "b");

    net.unlisten("ctl", 8082);
    sql.set_writable();
    for _ in 0..2 {
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(tick(&ctx).await.action, Some(Action::Nothing));
    }
    assert!(!sql.read_only());
    assert_eq!(sql.count(FENCE), 0);
    assert!(
        ctx.state().active_view().is_none(),
        "the stale view is gone"
    );

    Controller::start(&net, 200, "b");
    tokio::time::advance(Duration::from_secs(5)).await;
    let r = tick(&ctx).await;
    assert!(
        matches!(
            r.action,
            Some(Action::Fence(FenceReason::TopologyMismatch { ref active_site, .. })) if active_site == "b"
        ),
        "{r:?}"
    );
    assert!(sql.read_only());
}

#[tokio::test(start_paused = true)]
async fn reachable_peer_suppresses_the_lease_fence() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    // Peer b: a sidecar that answers ping and has no topology view.
    let handler: Handler = Arc::new(|_m, path: String| {
        Box::pin(async move {
            match path.as_str() {
                "/peer/ping" => Reply::text(200, "pong"),
                _ => Reply {
                    status: 204,
                    content_type: "text/plain",
                    body: String::new(),
                },
            }
        })
    });
    tokio::spawn(serve(net.listen("b", 8080), handler));
    let ctx = Ctx::new(config(&[("b", 8080)]), seams(&net, &sql));
    ctx.state().seed_startup_grace(tokio::time::Instant::now());
    for _ in 0..20 {
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(tick(&ctx).await.action, Some(Action::Nothing));
    }
    net.unlisten("b", 8080);
    let mut fenced_at = None;
    for i in 1..=6 {
        tokio::time::advance(Duration::from_secs(5)).await;
        if matches!(tick(&ctx).await.action, Some(Action::Fence(_))) {
            fenced_at = Some(i);
            break;
        }
    }
    assert_eq!(
        fenced_at,
        Some(5),
        "fences on the first tick beyond the 20s lease"
    );
}

// ---------------------------------------------------------------- whole sidecar

async fn http(net: &Net, path: &str) -> (u16, String) {
    let r = get(
        net,
        "mysql-g-a-internal",
        8080,
        path,
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    (r.status, r.body)
}

#[tokio::test(start_paused = true)]
async fn run_serves_endpoints_and_fences_on_a_foreign_active_site() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    let controller = Controller::start(&net, 200, "a");
    let listener = net.listen("mysql-g-a-internal", 8080);
    let mut cfg = config(&[]);
    cfg.lease_timeout = Duration::ZERO; // clamped by run to 15s
    let task = tokio::spawn(run(cfg, seams(&net, &sql), listener));

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!sql.read_only(), "safety net unfenced the active site");
    assert_eq!(http(&net, "/health").await, (200, "ok".into()));
    assert_eq!(http(&net, "/peer/ping").await, (200, "pong".into()));
    assert_eq!(http(&net, "/nope").await.0, 404);
    assert_eq!(
        http(&net, "/peer/active-site").await.0,
        204,
        "empty cache before the first tick"
    );
    let (status, body) = http(&net, "/status").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["role"], "primary");
    assert_eq!(v["read_only"], false);
    assert_eq!(v["gtid_executed"], "u:1-5");
    assert_eq!(v["server_id"], 7);
    assert_eq!(v["replica_io_running"], false);
    assert_eq!(v["seconds_behind_source"], serde_json::Value::Null);
    assert_eq!(v["self_fenced"], false);

    // First tick caches the controller's view.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, body) = http(&net, "/peer/active-site").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["activeSite"], "a");
    assert!(DateTime::parse_from_rfc3339(v["observedAt"].as_str().unwrap()).is_ok());

    // The operator fails over to b: rule 1 fences within one tick.
    controller.set(200, "b");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(sql.read_only());
    let (_, body) = http(&net, "/status").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["self_fenced"], true);
    assert_eq!(v["role"], "replica");

    // It never unfences itself afterwards, even when the controller names it again.
    controller.set(200, "a");
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(sql.read_only());
    assert_eq!(sql.count(UNFENCE), 1, "only the safety net's unfence");
    assert!(!task.is_finished());
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn health_reports_mysql_unreachable() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    let ctx = Ctx::new(config(&[]), seams(&net, &sql));
    sql.st().down_for_connects = 1;
    let r = crate::server::handle(&ctx, http::Method::GET, "/health").await;
    assert_eq!((r.status, r.body.as_str()), (503, "mysql unreachable"));
    let r = crate::server::handle(&ctx, http::Method::GET, "/health").await;
    assert_eq!(r.status, 200);
}

#[tokio::test(start_paused = true)]
async fn only_known_statements_are_sent() {
    let (net, sql) = (Net::default(), FakeSql::new(false));
    let controller = Controller::start(&net, 200, "a");
    let listener = net.listen("mysql-g-a-internal", 8080);
    let task = tokio::spawn(run(config(&[]), seams(&net, &sql), listener));
    tokio::time::sleep(Duration::from_secs(6)).await;
    http(&net, "/status").await;
    controller.set(200, "b");
    tokio::time::sleep(Duration::from_secs(6)).await;
    task.abort();
    // The fake answers 1064 to anything outside the list; make sure nothing hit that.
    let allowed = [
        "SELECT @@global.read_only, @@global.super_read_only",
        "SELECT @@global.gtid_executed",
        "SELECT @@server_id",
        FENCE,
        UNFENCE,
        UNFENCE_RO,
        "SHOW REPLICA STATUS",
        "SHOW PROCESSLIST",
        "SELECT CONNECTION_ID()",
    ];
    for s in sql.statements() {
        assert!(
            allowed.contains(&s.as_str()) || s.starts_with("KILL "),
            "unexpected statement {s:?}"
        );
    }
    assert!(sql.count(FENCE) >= 2, "safety net + rule 1");
}
