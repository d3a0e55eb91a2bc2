use std::collections::BTreeSet;

use async_trait::async_trait;
use bloodraven::sql::{QueryResult, SqlError};

use super::*;

/// A MySQL stand-in that commits inserts, reports OWN_GTID only when the session asked
/// for it, and drops the connection on the attempts listed in `broken`.
#[derive(Clone, Default)]
struct Db {
    rows: Arc<Mutex<BTreeSet<u64>>>,
    attempts: Arc<Mutex<u64>>,
    broken: Vec<u64>,
}

struct Conn {
    db: Db,
    track: bool,
}

#[async_trait]
impl SqlConnector for Db {
    async fn connect(&self, host: &str, port: u16) -> Result<Box<dyn SqlConn>, SqlError> {
        assert_eq!((host, port), ("db.example", 3306));
        Ok(Box::new(Conn {
            db: self.clone(),
            track: false,
        }))
    }
}

#[async_trait]
impl SqlConn for Conn {
    async fn query(&mut self, sql: &str) -> Result<QueryResult, SqlError> {
        if sql == "SET SESSION session_track_gtids = OWN_GTID" {
            self.track = true;
            return Ok(QueryResult::default());
        }
        if sql.starts_with("CREATE ") {
            return Ok(QueryResult::default());
        }
        let id: u64 = sql
            .strip_prefix("INSERT INTO chaos.counter (id) VALUES (")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected SQL {sql:?}"));
        let n = {
            let mut a = self.db.attempts.lock().unwrap();
            *a += 1;
            *a
        };
        if self.db.broken.contains(&n) {
            return Err(SqlError::transport("connection reset"));
        }
        let mut rows = self.db.rows.lock().unwrap();
        rows.insert(id);
        Ok(QueryResult {
            gtid: self
                .track
                .then(|| format!("3e11fa47-71ca-11e1-9e33-c80aa9429562:{}", rows.len())),
            ..Default::default()
        })
    }
}

#[tokio::test(start_paused = true)]
async fn counter_logs_acks_with_gtids_and_failures() {
    let db = Db {
        broken: vec![3, 7],
        ..Default::default()
    };
    let log = AckLog::default();
    Writer {
        connector: Arc::new(db.clone()),
        target: Target::Host("db.example".into()),
        kube: None,
        rate: 20,
        ttl: Duration::from_secs(10),
        timeout: Duration::from_secs(2),
        log: log.clone(),
        limit: Some(10),
    }
    .run()
    .await;
    let (entries, next) = log.page(0);
    assert_eq!((entries.len(), next), (10, 10));
    let acked: BTreeSet<u64> = entries.iter().filter(|e| e.ok).map(|e| e.id).collect();
    assert_eq!(acked.len(), 8);
    assert_eq!(
        acked,
        *db.rows.lock().unwrap(),
        "every ack is a committed row"
    );
    assert!(entries
        .iter()
        .filter(|e| e.ok)
        .all(|e| e.gtid.starts_with("3e11fa47-")));
    let failed: Vec<&Entry> = entries.iter().filter(|e| !e.ok).collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|e| e.error.contains("connection reset")));
    let ids: BTreeSet<u64> = entries.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 10, "ids are unique");
    assert_eq!(log.stats()["acked"], 8);
    assert_eq!(log.stats()["failed"], 2);
}

#[tokio::test]
async fn counter_http_pages_the_log() {
    let log = AckLog::default();
    for id in 1..=3 {
        log.push(Entry {
            id,
            at_unix_ms: 1_000 + id,
            site: Some("a".into()),
            ok: id != 2,
            gtid: if id != 2 {
                format!("u:{id}")
            } else {
                String::new()
            },
            error: if id == 2 {
                "read only".into()
            } else {
                String::new()
            },
        });
    }
    let h = handler(log);
    let r = h(http::Method::GET, "/log?after=1".into()).await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["next"], 3);
    assert_eq!(v["entries"].as_array().unwrap().len(), 2);
    assert_eq!(v["entries"][0]["id"], 2);
    assert_eq!(v["entries"][0]["ok"], false);
    assert_eq!(v["entries"][1]["gtid"], "u:3");
    assert_eq!(
        h(http::Method::GET, "/log?after=x".into()).await.status,
        400
    );
    assert_eq!(h(http::Method::GET, "/nope".into()).await.status, 404);
    assert_eq!(h(http::Method::POST, "/log".into()).await.status, 405);
    let s = h(http::Method::GET, "/stats".into()).await;
    assert!(s.body.contains("\"acked\":2"), "{}", s.body);
}

#[test]
fn counter_sites_flag() {
    let m = parse_sites("a=10.43.100.1, b=10.43.100.2").unwrap();
    assert_eq!(m["10.43.100.2"], "b");
    assert!(parse_sites("a")
        .unwrap_err()
        .to_string()
        .contains("expected site=ip"));
    assert!(parse_sites("a=nope")
        .unwrap_err()
        .to_string()
        .contains("not an IP address"));
}
