//! One table of SQL cases, run against two identical fake engines: one through the
//! simulator's framed transport (`FramedSqlConnector`), one through the production
//! `MysqlAsyncConnector` over the real MySQL protocol (opensrv-mysql on loopback). Every
//! result (columns, rows, affected rows, error code and message) must be identical.
//!
//! The only field not compared is the committed GTID of an INSERT: the simulator's framed
//! protocol reports it for the workload's acknowledgement log, while `mysql_async` never asks
//! for session tracking, so production code cannot rely on it (and does not).

use std::sync::Arc;
use std::time::Duration;

use bloodraven::net::{SharedDialer, TokioDialer, TokioListener};
use bloodraven::sql::{MysqlAsyncConnector, QueryResult, SqlConnector, SqlError};
use chaos::fake_mysql::{mysql_protocol, serve, Engine, FramedSqlConnector};
use chaos::trace::Trace;

const UUID: &str = "cccccccc-0000-4000-8000-000000000003";

/// `(user, statement)`. `{system}` is replaced by the id of the first `system user` thread in
/// the processlist, `{self}` by the id of the connection running the statement.
const CASES: &[(&str, &str)] = &[
    // Probes the controller and sidecar issue.
    ("bloodraven", "SELECT @@global.read_only, @@global.super_read_only, @@global.gtid_executed"),
    ("root", "SELECT @@global.read_only, @@global.super_read_only"),
    ("root", "SELECT @@global.gtid_executed"),
    ("root", "SELECT @@server_id"),
    ("root", "SELECT CONNECTION_ID()"),
    ("bloodraven", "SHOW REPLICA STATUS"),
    // Writes on a writable primary, then the fence and the two-statement unfence.
    ("app", "INSERT INTO chaos.counter (id) VALUES (1)"),
    ("app", "INSERT INTO chaos.counter (id) VALUES (1)"),
    ("root", "SET GLOBAL super_read_only = ON"),
    ("root", "SELECT @@global.read_only, @@global.super_read_only"),
    ("app", "INSERT INTO chaos.counter (id) VALUES (2)"),
    ("root", "SET GLOBAL read_only = OFF"),
    ("root", "SET GLOBAL super_read_only = ON"),
    ("root", "SET GLOBAL super_read_only = OFF"),
    ("root", "SELECT @@global.read_only, @@global.super_read_only"),
    ("app", "INSERT INTO chaos.counter (id) VALUES (3)"),
    ("root", "SET GLOBAL read_only = OFF"),
    ("root", "SELECT @@global.read_only, @@global.super_read_only"),
    // GTID functions.
    ("bloodraven", "SELECT GTID_SUBSET('cccccccc-0000-4000-8000-000000000003:1', @@global.gtid_executed)"),
    ("bloodraven", "SELECT GTID_SUBSET('cccccccc-0000-4000-8000-000000000003:1-9', 'cccccccc-0000-4000-8000-000000000003:1-2')"),
    ("bloodraven", "SELECT GTID_SUBSET('not-a-gtid', '')"),
    ("bloodraven", "SELECT WAIT_FOR_EXECUTED_GTID_SET('cccccccc-0000-4000-8000-000000000003:1', 1)"),
    ("bloodraven", "SELECT WAIT_FOR_EXECUTED_GTID_SET('cccccccc-0000-4000-8000-000000000003:1-50', 0.2)"),
    // Replication configuration: 3081 while threads run, the real status columns.
    ("bloodraven", "CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-g-b-internal', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1"),
    ("bloodraven", "START REPLICA"),
    ("bloodraven", "SHOW REPLICA STATUS"),
    ("bloodraven", "RESET REPLICA ALL"),
    ("bloodraven", "CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql-g-c-internal', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1"),
    ("root", "SHOW PROCESSLIST"),
    // KILL rules: system threads and unknown ids are refused, the own session is not.
    ("root", "KILL {system}"),
    ("root", "KILL 99999"),
    ("app", "KILL {system}"),
    ("bloodraven", "STOP REPLICA"),
    ("bloodraven", "RESET REPLICA ALL"),
    ("bloodraven", "SHOW REPLICA STATUS"),
    ("bloodraven", "START REPLICA SQL_THREAD"),
    ("bloodraven", "STOP REPLICA"),
    // CLONE without a registered donor, and from itself.
    ("root", "CLONE INSTANCE FROM 'root'@'mysql-g-b-internal':3306 IDENTIFIED BY 'secret' REQUIRE SSL"),
    // Unknown SQL and unknown variables.
    ("root", "SELECT @@global.no_such_variable"),
    ("root", "DROP DATABASE chaos"),
    ("root", "SET GLOBAL gtid_mode = OFF"),
];

/// `(user, password)` handshakes both transports must refuse identically (1045, same text).
const BAD_LOGINS: &[(&str, &str)] = &[("repl", "wrong"), ("root", ""), ("mallory", "x")];

fn engine() -> Engine {
    let e = Engine::new("conformance", UUID, 3, Trace::new());
    e.boot(false);
    e
}

/// Replaces the placeholders of a case with ids read from `engine`.
fn statement(engine: &Engine, sql: &str) -> String {
    let system = engine
        .state()
        .sessions
        .values()
        .find(|s| s.user == "system user")
        .map(|s| s.id)
        .unwrap_or(0);
    sql.replace("{system}", &system.to_string())
}

fn password(user: &str) -> &'static str {
    chaos::fake_mysql::accounts::password_of(user).expect("a known account")
}

async fn run(
    engine: &Engine,
    connect: &dyn Fn(&str, &str) -> Box<dyn SqlConnector>,
    host: &str,
    port: u16,
    user: &str,
    sql: &str,
) -> Result<QueryResult, SqlError> {
    let sql = statement(engine, sql);
    let connector = connect(user, password(user));
    let mut conn = connector.connect(host, port).await?;
    let r = tokio::time::timeout(Duration::from_secs(10), conn.query(&sql))
        .await
        .unwrap_or_else(|_| panic!("{sql}: no answer within 10s"));
    r.map(|mut r| {
        r.gtid = None;
        r
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_cases_agree_between_the_framed_transport_and_mysql_async() {
    let framed_engine = engine();
    let wire_engine = engine();
    let listener = TokioListener::bind("127.0.0.1:0").await.unwrap();
    let framed_port = listener.0.local_addr().unwrap().port();
    tokio::spawn(serve(framed_engine.clone(), Box::new(listener)));
    let wire_port = mysql_protocol::serve_loopback(wire_engine.clone())
        .await
        .unwrap();

    let dialer: SharedDialer = Arc::new(TokioDialer);
    let framed = move |user: &str, password: &str| -> Box<dyn SqlConnector> {
        Box::new(
            FramedSqlConnector::new(dialer.clone(), user, password).with_client_host("127.0.0.1"),
        )
    };
    let wire = |user: &str, password: &str| -> Box<dyn SqlConnector> {
        Box::new(MysqlAsyncConnector {
            user: user.to_string(),
            password: password.to_string(),
            connect_timeout: Duration::from_secs(5),
        })
    };

    let mut errors = 0;
    for (user, sql) in CASES {
        let a = run(&framed_engine, &framed, "127.0.0.1", framed_port, user, sql).await;
        let b = run(&wire_engine, &wire, "127.0.0.1", wire_port, user, sql).await;
        errors += usize::from(a.is_err());
        assert_eq!(a, b, "{user}: {sql}");
    }
    // The table exercises refusals as much as successes.
    assert!(errors >= 10, "only {errors} error cases");
    for (user, pw) in BAD_LOGINS {
        let refused = |r: Result<Box<dyn bloodraven::sql::SqlConn>, SqlError>| match r {
            Ok(_) => panic!("{user}/{pw:?}: a bad login was accepted"),
            Err(e) => e,
        };
        let a = refused(framed(user, pw).connect("127.0.0.1", framed_port).await);
        let b = refused(wire(user, pw).connect("127.0.0.1", wire_port).await);
        assert_eq!(a.code, 1045, "{user}: {a}");
        assert_eq!(a, b, "{user}/{pw:?}");
    }
    assert_eq!(framed_engine.snapshot(), wire_engine.snapshot());
}

#[tokio::test]
async fn wire_errors_carry_real_codes_and_sqlstates() {
    use mysql_async::prelude::Queryable;
    let e = engine();
    let port = mysql_protocol::serve_loopback(e.clone()).await.unwrap();
    let url = format!("mysql://root:secret@127.0.0.1:{port}");
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    let server = |r: mysql_async::Result<()>| match r.unwrap_err() {
        mysql_async::Error::Server(s) => s,
        other => panic!("not a server error: {other}"),
    };
    let unknown = server(conn.query_drop("FLUSH TABLES").await);
    assert_eq!((unknown.code, unknown.state.as_str()), (1064, "42000"));
    assert!(
        unknown.message.contains("FLUSH TABLES"),
        "{}",
        unknown.message
    );
    conn.query_drop("CHANGE REPLICATION SOURCE TO SOURCE_HOST='x', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1").await.unwrap();
    conn.query_drop("START REPLICA").await.unwrap();
    let running = server(conn.query_drop("RESET REPLICA ALL").await);
    assert_eq!((running.code, running.state.as_str()), (3081, "HY000"));

    // The result set of a probe has integer and string columns, as on a real server.
    let r = conn
        .query_iter("SELECT @@global.read_only, @@global.gtid_executed")
        .await
        .unwrap();
    let types: Vec<_> = r.columns_ref().iter().map(|c| c.column_type()).collect();
    drop(r);
    assert_eq!(
        types,
        [
            mysql_async::consts::ColumnType::MYSQL_TYPE_LONGLONG,
            mysql_async::consts::ColumnType::MYSQL_TYPE_VAR_STRING
        ]
    );
}

#[tokio::test]
async fn wire_handshake_checks_the_accounts() {
    let e = engine();
    let port = mysql_protocol::serve_loopback(e.clone()).await.unwrap();
    let bad = MysqlAsyncConnector {
        user: "repl".into(),
        password: "wrong".into(),
        connect_timeout: Duration::from_secs(5),
    };
    let err = match bad.connect("127.0.0.1", port).await {
        Ok(_) => panic!("a wrong password must be refused"),
        Err(e) => e,
    };
    assert_eq!(err.code, 1045, "{err}");
    assert_eq!(
        err.message,
        "Access denied for user 'repl'@'127.0.0.1' (using password: YES)"
    );
    assert!(
        e.state().sessions.is_empty(),
        "a refused connection leaves no session"
    );
}

#[tokio::test]
async fn wire_hang_never_greets_and_ambiguous_write_applies_then_drops() {
    let e = engine();
    let port = mysql_protocol::serve_loopback(e.clone()).await.unwrap();
    let root = MysqlAsyncConnector {
        user: "root".into(),
        password: "secret".into(),
        connect_timeout: Duration::from_millis(300),
    };
    e.set_hang(true);
    let hung = match root.connect("127.0.0.1", port).await {
        Ok(_) => panic!("a hung server must not greet"),
        Err(e) => e,
    };
    assert_eq!(hung.code, SqlError::CANNOT_CONNECT, "{hung}");
    e.set_hang(false);

    let mut conn = root.connect("127.0.0.1", port).await.unwrap();
    e.ambiguous_next("set_super_read_only", 1);
    let err = conn
        .query("SET GLOBAL super_read_only = ON")
        .await
        .unwrap_err();
    assert!(err.is_transport(), "{err}");
    assert!(e.snapshot().super_read_only, "the write landed");
}

/// The production connector, dialing the loopback server whatever port the caller names
/// (the controller's `Session` always dials 3306).
struct LoopbackPort(MysqlAsyncConnector, u16);

#[async_trait::async_trait]
impl SqlConnector for LoopbackPort {
    async fn connect(
        &self,
        host: &str,
        _port: u16,
    ) -> Result<Box<dyn bloodraven::sql::SqlConn>, SqlError> {
        self.0.connect(host, self.1).await
    }
}

fn production(user: &str, port: u16) -> LoopbackPort {
    LoopbackPort(
        MysqlAsyncConnector {
            user: user.into(),
            password: password(user).into(),
            connect_timeout: Duration::from_secs(5),
        },
        port,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_and_sidecar_sessions_fence_unfence_and_probe_over_the_wire() {
    use bloodraven::topology::mysql_ops::Session;
    use bloodraven_sidecar::mysql::{do_fence, FenceOutcome, Mysql};

    let e = engine();
    let port = mysql_protocol::serve_loopback(e.clone()).await.unwrap();
    let controller = production("bloodraven", port);
    let mut session = Session::open(&controller, "127.0.0.1", Duration::from_secs(5))
        .await
        .unwrap();
    let app = production("app", port);
    let mut app_conn = app.connect("127.0.0.1", port).await.unwrap();
    app_conn
        .query("INSERT INTO chaos.counter (id) VALUES (7)")
        .await
        .unwrap();

    let p = session.probe().await.unwrap();
    assert!(!p.read_only && !p.super_read_only && p.replica.is_none());
    assert_eq!(p.gtid_executed.to_string(), format!("{UUID}:1"));

    // The sidecar's self-fence: SET super_read_only, then evict client sessions (the app's
    // and the controller's, never its own).
    let sidecar = production("root", port);
    let outcome = do_fence(Mysql {
        sql: &sidecar,
        host: "127.0.0.1",
        port,
    })
    .await;
    assert_eq!(outcome, FenceOutcome::Fenced { killed: 2 });
    assert!(app_conn.query("SELECT @@global.read_only").await.is_err());

    let mut session = Session::open(&controller, "127.0.0.1", Duration::from_secs(5))
        .await
        .unwrap();
    let p = session.probe().await.unwrap();
    assert!(p.read_only && p.super_read_only, "{p:?}");
    session.unfence().await.unwrap();
    let p = session.probe().await.unwrap();
    assert!(!p.read_only && !p.super_read_only, "{p:?}");
    assert_eq!(session.replica_status().await.unwrap(), None);
}
