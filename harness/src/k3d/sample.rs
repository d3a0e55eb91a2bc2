//! One sample of the cluster per second, turned into trace events: each site's
//! read_only and the statements its general log recorded, `status.activeSite`, the
//! DNSEndpoint, the counter's new log entries; and, at the end, the pods' logs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use super::cluster::{kubectl, site_sql};
use super::plan::{GROUP, NAMESPACE, SITES};
use crate::trace::{Event, EventKind};

/// Playground lbIPs (group.yaml), to name the site a DNS target points at.
const LB_IPS: &[(&str, &str)] = &[("10.43.100.1", "a"), ("10.43.100.2", "b")];

pub(super) type Events = Arc<Mutex<Vec<Event>>>;

pub(super) struct Clock {
    pub(super) start: Instant,
    pub(super) start_unix_ms: u64,
}

impl Clock {
    pub(super) fn at_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    pub(super) fn run_ms_of(&self, unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(self.start_unix_ms)
    }
}

pub(super) fn push(events: &Events, at_ms: u64, kind: EventKind) {
    events.lock().unwrap().push(Event { at_ms, kind });
}

/// Samples the cluster until `stop`, recording changes.
pub(super) struct Observer<'a> {
    pub(super) context: &'a str,
    pub(super) clock: &'a Clock,
    pub(super) events: Events,
    pub(super) last_state: BTreeMap<String, (bool, bool, bool)>,
    pub(super) last_active: Option<String>,
    pub(super) last_dns: Option<Option<String>>,
    pub(super) ack_cursor: u64,
    pub(super) ids: Option<(u64, u64)>,
    /// Per site, the `event_time` of the last general-log row read.
    pub(super) log_cursor: BTreeMap<String, String>,
}

/// Fence, unfence and replication statements of the operator and root since `cursor`, from
/// the general log (my.cnf: `general_log=ON`, `log_output=TABLE`). The log records a
/// statement before it runs, so every statement counts as applied.
fn general_log_query(cursor: &str) -> String {
    format!(
        "SELECT 'L', DATE_FORMAT(event_time, '%Y-%m-%d %H:%i:%s.%f'), UNIX_TIMESTAMP(event_time) * 1000, user_host, argument \
         FROM mysql.general_log WHERE event_time > {cursor} AND command_type = 'Query' \
         AND (user_host LIKE 'bloodraven[%' OR user_host LIKE 'root[%') \
         AND (argument LIKE 'SET GLOBAL%' OR argument LIKE 'CHANGE REPLICATION%' OR argument LIKE 'START REPLICA%' \
         OR argument LIKE 'STOP REPLICA%' OR argument LIKE 'RESET REPLICA%' OR argument LIKE 'KILL%' OR argument LIKE 'CLONE%') \
         ORDER BY event_time"
    )
}

/// One statement read from the general log.
#[derive(Debug, PartialEq)]
struct Statement {
    event_time: String,
    unix_ms: u64,
    user: String,
    sql: String,
}

/// The `S` row (up, read_only, super_read_only; down when absent) and the `L` rows of one
/// sample.
fn split_sample(rows: &[Vec<String>]) -> ((bool, bool, bool), Vec<Statement>) {
    let state = match rows.iter().find(|r| r.first().is_some_and(|c| c == "S")) {
        Some(r) if r.len() == 3 => (true, r[1] == "1", r[2] == "1"),
        _ => (false, true, true),
    };
    let statements = rows
        .iter()
        .filter(|r| r.len() == 5 && r[0] == "L")
        .filter_map(|r| {
            Some(Statement {
                event_time: r[1].clone(),
                unix_ms: r[2].parse::<f64>().ok()? as u64,
                user: user_of(&r[3]),
                sql: r[4].replace("\\n", " ").replace("\\t", " "),
            })
        })
        .collect();
    (state, statements)
}

/// `bloodraven[bloodraven] @  [10.42.1.5]` → `bloodraven`.
fn user_of(user_host: &str) -> String {
    user_host
        .split('[')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

impl Observer<'_> {
    pub(super) fn sample(&mut self) {
        for site in SITES {
            let cursor = self
                .log_cursor
                .entry(site.to_string())
                .or_insert_with(|| {
                    format!(
                        "FROM_UNIXTIME({:.3})",
                        self.clock.start_unix_ms as f64 / 1000.0
                    )
                })
                .clone();
            let sql = format!(
                "SELECT 'S', @@read_only, @@super_read_only; {}",
                general_log_query(&cursor)
            );
            let rows = site_sql(self.context, site, &sql).unwrap_or_default();
            let (state, statements) = split_sample(&rows);
            for st in statements {
                push(
                    &self.events,
                    self.clock.run_ms_of(st.unix_ms),
                    EventKind::Mutation {
                        site: site.to_string(),
                        user: st.user,
                        sql: st.sql,
                        ok: true,
                    },
                );
                self.log_cursor
                    .insert(site.to_string(), format!("'{}'", st.event_time));
            }
            if self.last_state.get(*site) != Some(&state) {
                self.last_state.insert(site.to_string(), state);
                push(
                    &self.events,
                    self.clock.at_ms(),
                    EventKind::MysqlState {
                        site: site.to_string(),
                        up: state.0,
                        read_only: state.1,
                        super_read_only: state.2,
                    },
                );
            }
        }
        if let Ok(active) = kubectl(
            self.context,
            &[
                "get",
                &format!("mfg/{GROUP}"),
                "-o",
                "jsonpath={.status.activeSite}",
            ],
        ) {
            if self.last_active.as_deref() != Some(active.as_str()) {
                self.last_active = Some(active.clone());
                push(
                    &self.events,
                    self.clock.at_ms(),
                    EventKind::ActiveSite { site: active },
                );
            }
        }
        if let Ok(ip) = kubectl(
            self.context,
            &[
                "get",
                &format!("dnsendpoint/bloodraven-{GROUP}"),
                "-o",
                "jsonpath={.spec.endpoints[0].targets[0]}",
            ],
        ) {
            let target = LB_IPS
                .iter()
                .find(|(i, _)| *i == ip.trim())
                .map(|(_, s)| s.to_string());
            if self.last_dns.as_ref() != Some(&target) {
                self.last_dns = Some(target.clone());
                push(&self.events, self.clock.at_ms(), EventKind::Dns { target });
            }
        }
        self.fetch_acks();
    }

    /// New entries of the counter's log (`/log?after=<seq>`), through the API proxy.
    fn fetch_acks(&mut self) {
        let path = format!(
            "/api/v1/namespaces/{NAMESPACE}/services/counter:8090/proxy/log?after={}",
            self.ack_cursor
        );
        let Ok(body) = kubectl(self.context, &["get", "--raw", &path]) else {
            return;
        };
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            return;
        };
        for e in v["entries"].as_array().into_iter().flatten() {
            let id = e["id"].as_u64().unwrap_or_default();
            let unix = e["at_unix_ms"].as_u64().unwrap_or_default();
            if unix < self.clock.start_unix_ms {
                continue; // written before this run
            }
            let at = self.clock.run_ms_of(unix);
            self.ids = Some(match self.ids {
                None => (id, id),
                Some((lo, hi)) => (lo.min(id), hi.max(id)),
            });
            let site = e["site"].as_str().map(str::to_string);
            let kind = if e["ok"].as_bool().unwrap_or(false) {
                let gtid = e["gtid"].as_str().unwrap_or_default().to_string();
                EventKind::Ack {
                    id,
                    site: site.unwrap_or_default().into(),
                    server_uuid: gtid.rsplit_once(':').map_or("", |(u, _)| u).into(),
                    gtid: gtid.into(),
                }
            } else {
                EventKind::WriteError {
                    id,
                    site,
                    error: e["error"].as_str().unwrap_or_default().to_string(),
                }
            };
            push(&self.events, at, kind);
        }
        if let Some(next) = v["next"].as_u64() {
            self.ack_cursor = next;
        }
    }
}

/// A JSON log line of the operator or a sidecar (tracing-subscriber's format): its time in
/// unix ms, level and message.
fn parse_log_line(line: &str) -> Option<(u64, String, String)> {
    let v: Value = serde_json::from_str(line).ok()?;
    let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok()?;
    Some((
        ts.timestamp_millis().max(0) as u64,
        v["level"].as_str().unwrap_or_default().to_string(),
        v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

/// Log lines of one workload since the start of the run, as trace Log events from `host`
/// (the simulator's host names: `bloodraven`, `mysql-demo-<site>-internal`). Only the
/// current pod's log is read: lines of a pod that was deleted meanwhile are gone.
pub(super) fn pod_logs(
    context: &str,
    clock: &Clock,
    events: &Events,
    workload: &[&str],
    host: &str,
) {
    let since = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(clock.start_unix_ms as i64)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut args = vec!["logs"];
    args.extend_from_slice(workload);
    let since_arg = format!("--since-time={since}");
    args.push(&since_arg);
    let Ok(out) = kubectl(context, &args) else {
        return;
    };
    for (unix_ms, level, msg) in out.lines().filter_map(parse_log_line) {
        push(
            events,
            clock.run_ms_of(unix_ms),
            EventKind::Log {
                host: host.to_string(),
                level,
                msg,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn k3d_sample_rows_become_state_and_statements() {
        let rows = vec![
            row(&["S", "0", "0"]),
            row(&[
                "L",
                "2026-01-12 14:02:19.123456",
                "1768226539123.4560",
                "bloodraven[bloodraven] @  [10.42.0.7]",
                "SET GLOBAL read_only = OFF",
            ]),
            row(&[
                "L",
                "2026-01-12 14:02:20.000001",
                "1768226540000.0010",
                "root[root] @ localhost [127.0.0.1]",
                "SET GLOBAL super_read_only = ON",
            ]),
        ];
        let (state, st) = split_sample(&rows);
        assert_eq!(state, (true, false, false));
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].user, "bloodraven");
        assert_eq!(st[0].unix_ms, 1_768_226_539_123);
        assert!(crate::oracles::truth::is_unfence(&st[0].sql));
        assert_eq!(st[1].user, "root");
        assert_eq!(st[1].event_time, "2026-01-12 14:02:20.000001");
        let (down, none) = split_sample(&[]);
        assert_eq!(down, (false, true, true));
        assert!(none.is_empty());
    }

    #[test]
    fn k3d_log_lines_parse() {
        let line = r#"{"timestamp":"2026-01-12T14:02:19.123456Z","level":"INFO","fields":{"message":"failover complete","site":"b"},"target":"bloodraven::topology::manager"}"#;
        let (ms, level, msg) = parse_log_line(line).unwrap();
        assert_eq!(ms, 1_768_226_539_123);
        assert_eq!(
            (level.as_str(), msg.as_str()),
            ("INFO", "failover complete")
        );
        assert!(parse_log_line("not json").is_none());
        assert!(parse_log_line(r#"{"level":"INFO"}"#).is_none());
    }

    #[test]
    fn k3d_general_log_query_starts_after_the_cursor() {
        let q = general_log_query("'2026-01-12 14:02:19.123456'");
        assert!(
            q.contains("event_time > '2026-01-12 14:02:19.123456'"),
            "{q}"
        );
        assert!(q.contains("user_host LIKE 'bloodraven[%'"), "{q}");
    }
}
