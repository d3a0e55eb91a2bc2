//! End-to-end tests in turmoil: framed protocol, server, replication threads.

use std::sync::Arc;
use std::time::Duration;

use bloodraven::gtid::GtidSet;
use bloodraven::net::SharedDialer;
use bloodraven::sql::{query_once, QueryResult, SqlConn, SqlConnector};

use super::{run_replica_threads, serve, Engine, FramedSqlConnector};
use crate::simnet::{SimDialer, SimListener};
use crate::trace::{EventKind, Trace};

const SRC_UUID: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const REP_UUID: &str = "bbbbbbbb-0000-4000-8000-000000000002";

fn sim() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .rng_seed(7)
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(120))
        .build()
}

fn mysqld(sim: &mut turmoil::Sim<'_>, name: &str, engine: &Engine) {
    let engine = engine.clone();
    sim.host(name, move || {
        let engine = engine.clone();
        async move {
            engine.boot(false);
            let dialer: SharedDialer = Arc::new(SimDialer);
            tokio::spawn(run_replica_threads(engine.clone(), dialer));
            serve(engine, Box::new(SimListener::bind(3306).await?)).await;
            Ok(())
        }
    });
}

fn connector(user: &str) -> FramedSqlConnector {
    let password = super::accounts::password_of(user).unwrap_or("secret");
    FramedSqlConnector::new(Arc::new(SimDialer), user, password)
}

async fn q(conn: &mut Box<dyn SqlConn>, sql: &str) -> QueryResult {
    conn.query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn status(conn: &mut Box<dyn SqlConn>) -> QueryResult {
    q(conn, "SHOW REPLICA STATUS").await
}

/// Polls `f` every 100ms for up to `secs` virtual seconds.
async fn eventually<F: FnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    for _ in 0..secs * 10 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached within {secs}s: {what}");
}

#[test]
fn replication_partition_drain_and_errant_gtid() {
    let first = replication_scenario();
    assert!(!first.is_empty());
    assert_eq!(
        crate::trace::hash_events(&first),
        crate::trace::hash_events(&replication_scenario()),
        "same seed, same trace"
    );
}

fn replication_scenario() -> Vec<crate::trace::Event> {
    let trace = Trace::new();
    let src = Engine::new("src", SRC_UUID, 1, trace.clone());
    let rep = Engine::new("rep", REP_UUID, 2, trace.clone());
    let mut sim = sim();
    mysqld(&mut sim, "src", &src);
    mysqld(&mut sim, "rep", &rep);
    let (s, r) = (src.clone(), rep.clone());
    sim.client("test", async move {
        let c = connector("root");
        let mut cs = c.connect("src", 3306).await?;
        let mut cr = c.connect("rep", 3306).await?;
        for id in 1..=5 {
            let res = q(&mut cs, &format!("INSERT INTO chaos.counter (id) VALUES ({id})")).await;
            assert_eq!(res.gtid, Some(format!("{SRC_UUID}:{id}")));
        }
        assert!(status(&mut cr).await.rows.is_empty());
        q(&mut cr, "CHANGE REPLICATION SOURCE TO SOURCE_HOST='src', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1").await;
        q(&mut cr, "START REPLICA").await;
        let want = q(&mut cs, "SELECT @@global.gtid_executed").await.scalar().unwrap().to_string();
        let w = q(&mut cr, &format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{want}', 10)")).await;
        assert_eq!(w.scalar(), Some("0"));
        assert_eq!(r.snapshot().gtid_executed, s.snapshot().gtid_executed);
        assert_eq!(r.snapshot().rows, vec![1, 2, 3, 4, 5]);
        let st = status(&mut cr).await;
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("Yes"));
        assert_eq!(st.get(0, "Replica_SQL_Running"), Some("Yes"));
        assert_eq!(st.get(0, "Source_UUID"), Some(SRC_UUID));
        assert_eq!(st.get(0, "Seconds_Behind_Source"), Some("0"));
        assert_eq!(st.get(0, "Retrieved_Gtid_Set"), Some(want.as_str()));
        // Processlists: a Binlog Dump GTID thread on the source, two system user threads on the replica.
        let pl = q(&mut cs, "SHOW PROCESSLIST").await;
        let dumps: Vec<usize> = (0..pl.rows.len()).filter(|&i| pl.get(i, "Command") == Some("Binlog Dump GTID")).collect();
        assert_eq!(dumps.len(), 1);
        assert_eq!(pl.get(dumps[0], "User"), Some("repl"));
        assert_eq!(pl.get(dumps[0], "Host"), Some("rep"));
        let pl = q(&mut cr, "SHOW PROCESSLIST").await;
        assert_eq!((0..pl.rows.len()).filter(|&i| pl.get(i, "User") == Some("system user")).count(), 2);
        let mut a_wait = q(&mut cr, "SELECT WAIT_FOR_EXECUTED_GTID_SET('cccccccc-0000-4000-8000-000000000003:1', 0.5)").await;
        assert_eq!(a_wait.rows.pop().unwrap()[0].as_deref(), Some("1"), "timeout");

        // Streaming: new commits arrive without reconnecting.
        q(&mut cs, "INSERT INTO chaos.counter (id) VALUES (6)").await;
        let (s2, r2) = (s.clone(), r.clone());
        eventually(5, "row 6 replicated", || r2.snapshot().rows.contains(&6)).await;
        assert_eq!(r.snapshot().gtid_executed, s2.snapshot().gtid_executed);

        // Killing the dump thread on the source: the replica reconnects.
        let pl = q(&mut cs, "SHOW PROCESSLIST").await;
        let dump_id = (0..pl.rows.len())
            .find(|&i| pl.get(i, "Command") == Some("Binlog Dump GTID"))
            .map(|i| pl.get(i, "Id").unwrap().to_string())
            .unwrap();
        q(&mut cs, &format!("KILL {dump_id}")).await;
        q(&mut cs, "INSERT INTO chaos.counter (id) VALUES (7)").await;
        let r2 = r.clone();
        eventually(10, "row 7 replicated after the dump thread was killed", || r2.snapshot().rows.contains(&7)).await;

        // Backlog: slow applier, 20 more rows are retrieved but not yet applied.
        r.set_apply_rate(2.0);
        for id in 100..120 {
            q(&mut cs, &format!("INSERT INTO chaos.counter (id) VALUES ({id})")).await;
        }
        let (s2, r2) = (s.clone(), r.clone());
        let src_set = GtidSet::parse(&s2.snapshot().gtid_executed).unwrap();
        eventually(5, "all retrieved", || {
            GtidSet::parse(&r2.snapshot().retrieved).unwrap().is_superset_of(&GtidSet::parse(&format!("{SRC_UUID}:8-27")).unwrap())
        })
        .await;
        let before = r.snapshot();
        assert!(before.relay_len > 10, "a relay backlog exists: {}", before.relay_len);

        // Partition: the IO thread notices (read timeout), then cannot reconnect; the SQL
        // thread keeps draining the local relay log.
        turmoil::partition("src", "rep");
        tokio::time::sleep(Duration::from_secs(16)).await;
        let st = status(&mut cr).await;
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("Connecting"));
        assert_eq!(st.get(0, "Last_IO_Errno"), Some("2003"), "{:?}", st.get(0, "Last_IO_Error"));
        assert!(st.get(0, "Last_IO_Error").unwrap().starts_with("error connecting to source 'repl@src:3306'"));
        let during = r.snapshot();
        assert!(during.relay_len < before.relay_len, "relay drain continues while the source is unreachable");
        let r2 = r.clone();
        eventually(20, "relay fully drained while partitioned", || r2.snapshot().relay_len == 0).await;
        assert_eq!(GtidSet::parse(&r.snapshot().gtid_executed).unwrap(), src_set);
        let st = status(&mut cr).await;
        assert_eq!(st.get(0, "Seconds_Behind_Source"), Some("0"), "stale 0 while disconnected");

        // Heal: the IO thread reconnects and catches up.
        turmoil::repair("src", "rep");
        r.set_apply_rate(1000.0);
        q(&mut cs, "INSERT INTO chaos.counter (id) VALUES (200)").await;
        let r2 = r.clone();
        eventually(10, "reconnected and caught up", || r2.snapshot().rows.contains(&200)).await;
        let st = status(&mut cr).await;
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("Yes"));
        assert_eq!(st.get(0, "Last_IO_Errno"), Some("0"));

        // Errant GTID on the replica: its set exceeds the source's; the IO thread breaks with 1236.
        q(&mut cr, "STOP REPLICA").await;
        r.errant_write(1);
        q(&mut cr, "START REPLICA").await;
        let r2 = r.clone();
        eventually(5, "1236", || r2.snapshot().last_io_error.is_some_and(|e| e.0 == 1236)).await;
        let st = status(&mut cr).await;
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("No"));
        assert_eq!(st.get(0, "Replica_SQL_Running"), Some("Yes"));
        assert_eq!(st.get(0, "Last_IO_Errno"), Some("1236"));
        assert!(st.get(0, "Last_IO_Error").unwrap().contains(&format!("{REP_UUID}:1")));
        assert_eq!(st.get(0, "Seconds_Behind_Source"), None);
        Ok(())
    });
    sim.run().unwrap();

    // Replicated commits are in the trace with the original GTIDs.
    let ev = trace.events();
    assert!(ev.iter().any(|e| matches!(&e.kind,
        EventKind::Commit { site, gtid, replicated: true, row: Some(6) } if site == "rep" && gtid.to_string() == format!("{SRC_UUID}:6"))));
    assert!(ev.iter().any(|e| matches!(&e.kind, EventKind::ReplicationSource(r) if r.site == "rep" && r.source == "src")));
    ev
}

#[test]
fn crash_keeps_data_and_reboots_with_replication_stopped() {
    let trace = Trace::new();
    let src = Engine::new("src", SRC_UUID, 1, trace.clone());
    let rep = Engine::new("rep", REP_UUID, 2, trace.clone());
    let mut sim = sim();
    mysqld(&mut sim, "src", &src);
    mysqld(&mut sim, "rep", &rep);
    let (s, r) = (src.clone(), rep.clone());
    sim.client("test", async move {
        let c = connector("root");
        let mut cs = c.connect("src", 3306).await?;
        let mut cr = c.connect("rep", 3306).await?;
        q(&mut cr, "CHANGE REPLICATION SOURCE TO SOURCE_HOST='src', SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1").await;
        q(&mut cr, "START REPLICA").await;
        q(&mut cs, "INSERT INTO chaos.counter (id) VALUES (1)").await;
        let r2 = r.clone();
        eventually(5, "row 1 replicated", || r2.snapshot().rows == vec![1]).await;
        // The harness crashes rep at 4s and restarts it at 6s (outside this client).
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert!(cr.query("SELECT @@read_only").await.unwrap_err().is_transport(), "old session died with the host");
        let snap = r.snapshot();
        assert!(snap.up && !snap.io_running && !snap.sql_running, "skip_replica_start");
        assert_eq!(snap.rows, vec![1], "durable data");
        q(&mut cs, "INSERT INTO chaos.counter (id) VALUES (2)").await;
        let mut cr = c.connect("rep", 3306).await?;
        assert_eq!(status(&mut cr).await.get(0, "Source_Host"), Some("src"), "durable replication config");
        q(&mut cr, "START REPLICA").await;
        let (r2, s2) = (r.clone(), s.clone());
        eventually(5, "caught up after reboot", || r2.snapshot().gtid_executed == s2.snapshot().gtid_executed).await;
        Ok(())
    });
    while sim.elapsed() < Duration::from_secs(4) {
        sim.step().unwrap();
    }
    sim.crash("rep");
    rep.shutdown();
    while sim.elapsed() < Duration::from_secs(6) {
        sim.step().unwrap();
    }
    sim.bounce("rep");
    sim.run().unwrap();
    let ups: Vec<bool> = trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::MysqlState { site, up, .. } if site == "rep" => Some(*up),
            _ => None,
        })
        .collect();
    assert_eq!(ups, vec![true, false, true]);
}

#[test]
fn chained_replication_uses_log_replica_updates() {
    let trace = Trace::new();
    let a = Engine::new("a", SRC_UUID, 1, trace.clone());
    let b = Engine::new("b", REP_UUID, 2, trace.clone());
    let c = Engine::new("c", "cccccccc-0000-4000-8000-000000000003", 3, trace);
    let mut sim = sim();
    mysqld(&mut sim, "a", &a);
    mysqld(&mut sim, "b", &b);
    mysqld(&mut sim, "c", &c);
    let (a2, c2) = (a.clone(), c.clone());
    sim.client("test", async move {
        let conn = connector("root");
        let mut ca = conn.connect("a", 3306).await?;
        for (host, source) in [("b", "a"), ("c", "b")] {
            let mut x = conn.connect(host, 3306).await?;
            q(&mut x, &format!("CHANGE REPLICATION SOURCE TO SOURCE_HOST='{source}', SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1")).await;
            q(&mut x, "START REPLICA").await;
        }
        for id in 1..=3 {
            q(&mut ca, &format!("INSERT INTO chaos.counter (id) VALUES ({id})")).await;
        }
        let (a3, c3) = (a2.clone(), c2.clone());
        eventually(10, "c has a's rows through b", || c3.snapshot().gtid_executed == a3.snapshot().gtid_executed).await;
        assert_eq!(c2.snapshot().rows, vec![1, 2, 3]);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn hang_ambiguous_kill_and_refusal_over_the_wire() {
    let trace = Trace::new();
    let src = Engine::new("src", SRC_UUID, 1, trace.clone());
    let mut sim = sim();
    mysqld(&mut sim, "src", &src);
    let e = src.clone();
    sim.client("test", async move {
        let c = connector("app");
        let root = connector("root");
        // KILL of a client session closes its connection.
        let mut victim = c.connect("src", 3306).await?;
        let id = q(&mut victim, "SELECT CONNECTION_ID()")
            .await
            .scalar()
            .unwrap()
            .to_string();
        let mut admin = root.connect("src", 3306).await?;
        let pl = q(&mut admin, "SHOW PROCESSLIST").await;
        assert_eq!(pl.rows.len(), 2);
        let row = (0..2)
            .find(|&i| pl.get(i, "Id") == Some(id.as_str()))
            .unwrap();
        assert_eq!(pl.get(row, "User"), Some("app"));
        assert_eq!(pl.get(row, "Command"), Some("Sleep"));
        let me = (0..2)
            .find(|&i| pl.get(i, "Id") != Some(id.as_str()))
            .unwrap();
        assert_eq!(pl.get(me, "Info"), Some("SHOW PROCESSLIST"));
        q(&mut admin, &format!("KILL {id}")).await;
        let err = victim.query("SELECT 1 + 1").await.unwrap_err();
        assert!(err.is_transport(), "{err}");
        assert_eq!(
            admin.query(&format!("KILL {id}")).await.unwrap_err().code,
            1094
        );

        // Ambiguous write: applied, but the client sees a lost connection.
        e.ambiguous_next("insert", 1);
        let mut w = c.connect("src", 3306).await?;
        let err = w
            .query("INSERT INTO chaos.counter (id) VALUES (9)")
            .await
            .unwrap_err();
        assert!(err.is_transport(), "{err}");
        assert_eq!(e.snapshot().rows, vec![9]);

        // Injected failure: error, not applied.
        e.fail_next("insert", 1);
        let mut w = c.connect("src", 3306).await?;
        assert_eq!(
            w.query("INSERT INTO chaos.counter (id) VALUES (10)")
                .await
                .unwrap_err()
                .code,
            1105
        );
        assert_eq!(e.snapshot().rows, vec![9]);
        // Unknown statements fail loudly over the wire too.
        assert_eq!(w.query("SELECT NOW()").await.unwrap_err().code, 1064);

        // Hang: an open session never gets an answer, a new one never gets a greeting.
        e.set_hang(true);
        let r = tokio::time::timeout(Duration::from_secs(3), w.query("SELECT @@read_only")).await;
        assert!(r.is_err(), "a hung server never answers");
        let r = query_once(
            &c,
            "src",
            3306,
            "SELECT @@read_only",
            Duration::from_secs(3),
        )
        .await;
        assert!(r.unwrap_err().is_transport());
        e.set_hang(false);
        let r = query_once(
            &c,
            "src",
            3306,
            "SELECT @@read_only",
            Duration::from_secs(3),
        )
        .await
        .unwrap();
        assert_eq!(r.scalar(), Some("0"));

        // Refusal (nothing listens) is immediate, unlike the hang.
        let t0 = tokio::time::Instant::now();
        let err = query_once(&c, "src", 3307, "SELECT 1", Duration::from_secs(3))
            .await
            .unwrap_err();
        assert_eq!(err.code, 2003);
        assert!(t0.elapsed() < Duration::from_secs(1));
        Ok(())
    });
    sim.run().unwrap();
    let probes: Vec<bool> = trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ReadOnlyProbe { read_only, .. } => Some(*read_only),
            _ => None,
        })
        .collect();
    assert_eq!(
        probes,
        vec![false],
        "only answered reads of @@read_only are probes"
    );
}
