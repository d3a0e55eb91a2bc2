//! The `counter` workload: unique-id writes through the DNS name, each acknowledgement
//! recorded with the site and GTID that committed it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bloodraven::sql::{SqlConn, SqlConnector};
use tokio::time::Instant;

use crate::name::Interner;
use crate::trace::{EventKind, Trace};

/// What external-dns has published: the site host the DNS name resolves to.
#[derive(Clone, Default)]
pub struct Resolver {
    inner: Arc<Mutex<Option<(String, String)>>>,
}

impl Resolver {
    /// Sets the record: (site name, host to dial).
    pub fn set(&self, record: Option<(String, String)>) {
        *self.inner.lock().unwrap() = record;
    }

    pub fn resolve(&self) -> Option<(String, String)> {
        self.inner.lock().unwrap().clone()
    }
}

#[derive(Clone)]
pub struct Counter {
    pub connector: Arc<dyn SqlConnector>,
    pub resolver: Resolver,
    pub trace: Trace,
    pub rate: u32,
    pub client_ttl: Duration,
    pub stop_at: Duration,
    pub write_timeout: Duration,
}

impl Counter {
    pub async fn run(self) {
        let period = Duration::from_secs_f64(1.0 / self.rate as f64);
        let start = Instant::now();
        let mut cached: Option<((String, String), Instant)> = None;
        let mut conn: Option<(String, Box<dyn SqlConn>)> = None;
        // Site names and server UUIDs repeat in every ack: one copy each.
        let mut names = Interner::default();
        let mut id = 0u64;
        let mut next = start;
        while start.elapsed() < self.stop_at {
            tokio::time::sleep_until(next).await;
            next += period;
            id += 1;
            let fresh = cached
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() < self.client_ttl);
            if !fresh {
                cached = self.resolver.resolve().map(|r| (r, Instant::now()));
            }
            let Some(((site, host), _)) = cached.clone() else {
                self.trace.record(EventKind::WriteError {
                    id,
                    site: None,
                    error: "DNS name does not resolve".into(),
                });
                continue;
            };
            if conn.as_ref().is_none_or(|(h, _)| h != &host) {
                conn = match tokio::time::timeout(
                    self.write_timeout,
                    self.connector.connect(&host, 3306),
                )
                .await
                {
                    Ok(Ok(c)) => Some((host.clone(), c)),
                    Ok(Err(e)) => {
                        self.trace.record(EventKind::WriteError {
                            id,
                            site: Some(site),
                            error: e.to_string(),
                        });
                        continue;
                    }
                    Err(_) => {
                        self.trace.record(EventKind::WriteError {
                            id,
                            site: Some(site),
                            error: "connect timed out".into(),
                        });
                        continue;
                    }
                };
            }
            let (_, c) = conn.as_mut().expect("connected above");
            let sql = format!("INSERT INTO chaos.counter (id) VALUES ({id})");
            match tokio::time::timeout(self.write_timeout, c.query(&sql)).await {
                Ok(Ok(r)) => {
                    let gtid = r.gtid.unwrap_or_default();
                    let server_uuid = names.intern(gtid.rsplit_once(':').map_or("", |(u, _)| u));
                    self.trace.record(EventKind::Ack {
                        id,
                        site: names.intern(&site),
                        server_uuid,
                        gtid: gtid.into(),
                    });
                }
                Ok(Err(e)) => {
                    if e.is_transport() {
                        conn = None;
                    }
                    self.trace.record(EventKind::WriteError {
                        id,
                        site: Some(site),
                        error: e.to_string(),
                    });
                }
                Err(_) => {
                    conn = None;
                    self.trace.record(EventKind::WriteError {
                        id,
                        site: Some(site),
                        error: "write timed out".into(),
                    });
                }
            }
        }
    }
}
