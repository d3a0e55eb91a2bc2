//! `chaos counter`: the playground's workload against a real MySQL. It writes unique ids
//! at a fixed rate to whatever the DNS record names (re-read every TTL, like a DNS
//! client), and keeps a log of every attempt, acknowledged (with the GTID MySQL reported
//! in the OK packet) or failed. The log is served over HTTP so the k3d target can judge
//! acked loss: `GET /log?after=N` (entries N.., at most 5000, and `next`), `GET /stats`,
//! `GET /healthz`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use bloodraven::http::{Handler, Reply};
use bloodraven::sql::{SqlConn, SqlConnector};
use serde::Serialize;
use serde_json::json;

/// Largest page `GET /log` returns.
const PAGE: usize = 5000;
/// Ids are `boot second * ID_STRIDE + sequence`: unique across restarts of the counter.
const ID_STRIDE: u64 = 10_000_000;

/// One write attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    pub id: u64,
    pub at_unix_ms: u64,
    /// The site the record named (None when nothing resolved).
    pub site: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gtid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// The attempt log, shared by the writer and the HTTP server.
#[derive(Clone, Default)]
pub struct AckLog {
    inner: Arc<Mutex<Vec<Entry>>>,
}

impl AckLog {
    pub fn push(&self, e: Entry) {
        self.inner.lock().unwrap().push(e);
    }

    /// Entries from index `after` (at most [`PAGE`]) and the index to ask for next.
    pub fn page(&self, after: usize) -> (Vec<Entry>, usize) {
        let all = self.inner.lock().unwrap();
        let from = after.min(all.len());
        let to = (from + PAGE).min(all.len());
        (all[from..to].to_vec(), to)
    }

    pub fn stats(&self) -> serde_json::Value {
        let all = self.inner.lock().unwrap();
        let acked = all.iter().filter(|e| e.ok).count();
        let last = all.last();
        json!({
            "acked": acked,
            "failed": all.len() - acked,
            "last_site": last.and_then(|e| e.site.clone()),
            "last_error": all.iter().rev().find(|e| !e.ok).map(|e| e.error.clone()),
        })
    }
}

/// Where the writes go.
#[derive(Clone, Debug)]
pub enum Target {
    /// A fixed host name (resolved by the system on each connect).
    Host(String),
    /// The first A target of a DNSEndpoint, mapped to a site by `sites` (IP → site).
    DnsEndpoint {
        namespace: String,
        name: String,
        sites: BTreeMap<String, String>,
    },
}

/// Parses `a=10.43.100.1,b=10.43.100.2` into IP → site.
pub fn parse_sites(s: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (site, ip) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--sites entry {pair:?}: expected site=ip"))?;
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| anyhow!("--sites entry {pair:?}: {ip:?} is not an IP address"))?;
        out.insert(ip.to_string(), site.to_string());
    }
    Ok(out)
}

/// Resolves the target to (site label, host to dial).
async fn resolve(
    target: &Target,
    kube: Option<&kube::Client>,
) -> Result<(Option<String>, String), String> {
    match target {
        Target::Host(h) => Ok((None, h.clone())),
        Target::DnsEndpoint {
            namespace,
            name,
            sites,
        } => {
            let client = kube.ok_or("no Kubernetes client")?;
            let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
                client.clone(),
                namespace,
                &bloodraven::topology::k8s::dns_endpoint_resource(),
            );
            let obj = tokio::time::timeout(Duration::from_secs(5), api.get_opt(name))
                .await
                .map_err(|_| "reading the DNSEndpoint timed out".to_string())?
                .map_err(|e| format!("reading the DNSEndpoint: {e}"))?
                .ok_or_else(|| format!("DNSEndpoint {namespace}/{name} does not exist"))?;
            let ip = obj.data["spec"]["endpoints"][0]["targets"][0]
                .as_str()
                .ok_or("the DNS record has no target")?
                .to_string();
            Ok((sites.get(&ip).cloned(), ip))
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub struct Writer {
    pub connector: Arc<dyn SqlConnector>,
    pub target: Target,
    pub kube: Option<kube::Client>,
    pub rate: u32,
    pub ttl: Duration,
    pub timeout: Duration,
    pub log: AckLog,
    /// Stop after this many attempts (None: forever).
    pub limit: Option<u64>,
}

impl Writer {
    pub async fn run(self) {
        let base = unix_ms() / 1000 * ID_STRIDE;
        let mut tick =
            tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate.max(1) as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut record: Option<((Option<String>, String), tokio::time::Instant)> = None;
        let mut conn: Option<(String, Box<dyn SqlConn>)> = None;
        let mut seq = 0u64;
        while self.limit.is_none_or(|l| seq < l) {
            tick.tick().await;
            seq += 1;
            let id = base + seq;
            if record
                .as_ref()
                .is_none_or(|(_, at)| at.elapsed() >= self.ttl)
            {
                match resolve(&self.target, self.kube.as_ref()).await {
                    Ok(r) => record = Some((r, tokio::time::Instant::now())),
                    Err(e) if record.is_none() => {
                        self.fail(id, None, e);
                        continue;
                    }
                    Err(_) => {} // keep the cached answer, as a DNS client would
                }
            }
            let ((site, host), _) = record.clone().expect("resolved above");
            if conn.as_ref().is_none_or(|(h, _)| h != &host) {
                match self.connect(&host).await {
                    Ok(c) => conn = Some((host.clone(), c)),
                    Err(e) => {
                        conn = None;
                        self.fail(id, site, e);
                        continue;
                    }
                }
            }
            let (_, c) = conn.as_mut().expect("connected above");
            let sql = format!("INSERT INTO chaos.counter (id) VALUES ({id})");
            match tokio::time::timeout(self.timeout, c.query(&sql)).await {
                Ok(Ok(r)) => self.log.push(Entry {
                    id,
                    at_unix_ms: unix_ms(),
                    site,
                    ok: true,
                    gtid: r.gtid.unwrap_or_default(),
                    error: String::new(),
                }),
                Ok(Err(e)) => {
                    if e.is_transport() {
                        conn = None;
                    }
                    self.fail(id, site, e.to_string());
                }
                Err(_) => {
                    conn = None;
                    self.fail(id, site, "write timed out".into());
                }
            }
        }
    }

    fn fail(&self, id: u64, site: Option<String>, error: String) {
        self.log.push(Entry {
            id,
            at_unix_ms: unix_ms(),
            site,
            ok: false,
            gtid: String::new(),
            error,
        });
    }

    /// Connects, asks MySQL to report each commit's GTID in the OK packet, and makes sure
    /// the table exists (a read-only site refuses; the table then exists already).
    async fn connect(&self, host: &str) -> Result<Box<dyn SqlConn>, String> {
        let mut c = tokio::time::timeout(self.timeout, self.connector.connect(host, 3306))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| e.to_string())?;
        c.query("SET SESSION session_track_gtids = OWN_GTID")
            .await
            .map_err(|e| e.to_string())?;
        let _ = c.query("CREATE DATABASE IF NOT EXISTS chaos").await;
        let _ = c
            .query("CREATE TABLE IF NOT EXISTS chaos.counter (id BIGINT PRIMARY KEY)")
            .await;
        Ok(c)
    }
}

/// The HTTP view of the log.
pub fn handler(log: AckLog) -> Handler {
    Arc::new(move |method, path| {
        let log = log.clone();
        Box::pin(async move {
            if method != http::Method::GET {
                return Reply::text(405, "only GET");
            }
            let (route, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
            match route {
                "/healthz" => Reply::text(200, "ok"),
                "/stats" => Reply::json(200, &log.stats()),
                "/log" => {
                    let after = query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix("after="))
                        .unwrap_or("0");
                    match after.parse::<usize>() {
                        Ok(after) => {
                            let (entries, next) = log.page(after);
                            Reply::json(200, &json!({ "entries": entries, "next": next }))
                        }
                        Err(_) => Reply::text(400, format!("after={after:?}: expected a number")),
                    }
                }
                _ => Reply::text(404, "not found: /log?after=N, /stats, /healthz"),
            }
        })
    })
}

/// Runs the counter until the process is stopped.
pub async fn serve(writer: Writer, listen: &str) -> anyhow::Result<()> {
    let listener = bloodraven::net::TokioListener::bind(listen)
        .await
        .with_context(|| format!("--listen {listen}: cannot listen"))?;
    let server = tokio::spawn(bloodraven::http::serve(
        Box::new(listener),
        handler(writer.log.clone()),
    ));
    tokio::select! {
        _ = writer.run() => Ok(()),
        r = server => Err(anyhow!("the HTTP server stopped: {r:?}")),
    }
}

#[cfg(test)]
mod tests;
