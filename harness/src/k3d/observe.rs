//! Executes a k3d plan and watches the cluster: the fault steps run on their own thread at
//! their times while this thread samples, about once a second, each site's mysqld
//! (`kubectl exec`), the group's status, the DNSEndpoint and the counter's ack log. The
//! samples become the same trace events the simulator records, so the same oracles judge.
//! Wall time is fine here: a cluster run is an observation, not a reproducible simulation.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::Value;

use super::plan::{Arg, Cmd, Plan, GROUP, NAMESPACE, SITES};
use crate::oracles::{self, Final, Input, SiteTruth};
use crate::report::{timeline, Report};
use crate::scenario::Loaded;
use crate::trace::{hash_events, Event, EventKind};

const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Playground lbIPs (group.yaml), to name the site a DNS target points at.
const LB_IPS: &[(&str, &str)] = &[("10.43.100.1", "a"), ("10.43.100.2", "b")];

type Events = Arc<Mutex<Vec<Event>>>;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs one command; stdout on success, the last stderr line otherwise.
fn run_cmd(context: &str, cmd: &Cmd) -> Result<String, String> {
    let mut argv = vec![];
    for a in &cmd.argv {
        match a {
            Arg::Lit(s) => argv.push(s.clone()),
            Arg::PodOf(site) => argv.push(pod_of(context, site)?),
        }
    }
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.stdin(if cmd.stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = c.spawn().map_err(|e| format!("{}: {e}", argv[0]))?;
    if let Some(doc) = &cmd.stdin {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped");
        stdin.write_all(doc.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().last().unwrap_or("failed").trim().to_string())
    }
}

fn kubectl(context: &str, args: &[&str]) -> Result<String, String> {
    let mut argv = vec![
        "kubectl",
        "--context",
        context,
        "-n",
        NAMESPACE,
        "--request-timeout=5s",
    ];
    argv.extend_from_slice(args);
    let cmd = Cmd {
        argv: argv.iter().map(|s| Arg::Lit(s.to_string())).collect(),
        stdin: None,
    };
    run_cmd(context, &cmd)
}

fn pod_of(context: &str, site: &str) -> Result<String, String> {
    let sel = format!("app.kubernetes.io/name=mysql,shipstream.io/site={site}");
    let out = kubectl(context, &["get", "pod", "-l", &sel, "-o", "name"])?;
    out.lines()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("no running pod for site {site}"))
}

/// Tab-separated rows of a query run as root in a site's mysqld container.
fn site_sql(context: &str, site: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let deploy = format!("deploy/mysql-{GROUP}-{site}");
    let script = r#"mysql -uroot -p"$MYSQL_ROOT_PASSWORD" -h127.0.0.1 -N -B -e "$1" 2>/dev/null"#;
    let out = kubectl(
        context,
        &[
            "exec", &deploy, "-c", "mysql", "--", "bash", "-c", script, "_", sql,
        ],
    )?;
    Ok(out
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

const STATE_SQL: &str = "SELECT @@read_only, @@super_read_only, @@server_uuid, REPLACE(@@gtid_executed, '\\n', ''), \
  IFNULL((SELECT HOST FROM performance_schema.replication_connection_configuration LIMIT 1), ''), \
  IFNULL((SELECT SERVICE_STATE FROM performance_schema.replication_connection_status LIMIT 1), 'OFF'), \
  IFNULL((SELECT SERVICE_STATE FROM performance_schema.replication_applier_status LIMIT 1), 'OFF')";

fn site_truth(context: &str, site: &str, ids: Option<(u64, u64)>) -> SiteTruth {
    let Ok(rows) = site_sql(context, site, STATE_SQL) else {
        return SiteTruth {
            name: site.into(),
            ..Default::default()
        };
    };
    let Some(r) = rows.first().filter(|r| r.len() >= 7) else {
        return SiteTruth {
            name: site.into(),
            ..Default::default()
        };
    };
    let mut t = SiteTruth {
        name: site.into(),
        up: true,
        read_only: r[0] == "1",
        server_uuid: r[2].clone(),
        gtid_executed: r[3].replace("\\n", ""),
        rows: vec![],
        source_host: r[4].clone(),
        io_running: r[5] == "ON",
        sql_running: r[6] == "ON",
    };
    if let Some((lo, hi)) = ids {
        let q = format!("SELECT id FROM chaos.counter WHERE id BETWEEN {lo} AND {hi}");
        if let Ok(rows) = site_sql(context, site, &q) {
            t.rows = rows
                .iter()
                .filter_map(|r| r.first()?.parse().ok())
                .collect();
        }
    }
    t
}

struct Clock {
    start: Instant,
    start_unix_ms: u64,
}

impl Clock {
    fn at_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    fn run_ms_of(&self, unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(self.start_unix_ms)
    }
}

fn push(events: &Events, at_ms: u64, kind: EventKind) {
    events.lock().unwrap().push(Event { at_ms, kind });
}

/// Samples the cluster until `stop`, recording changes.
struct Observer<'a> {
    context: &'a str,
    clock: &'a Clock,
    events: Events,
    last_state: BTreeMap<String, (bool, bool, bool)>,
    last_active: Option<String>,
    last_dns: Option<Option<String>>,
    ack_cursor: u64,
    ids: Option<(u64, u64)>,
    /// Per site, the `event_time` of the last general-log row read.
    log_cursor: BTreeMap<String, String>,
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
    fn sample(&mut self) {
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
                    site: site.unwrap_or_default(),
                    server_uuid: gtid
                        .rsplit_once(':')
                        .map(|(u, _)| u.to_string())
                        .unwrap_or_default(),
                    gtid,
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
fn pod_logs(context: &str, clock: &Clock, events: &Events, workload: &[&str], host: &str) {
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

pub fn execute(
    loaded: &Loaded,
    plan: &Plan,
    judged: &[String],
    not_judged: &[(String, String)],
) -> anyhow::Result<Report> {
    for c in &plan.precheck {
        run_cmd(&plan.context, c).map_err(|e| anyhow::anyhow!("precheck failed: {e}"))?;
    }
    let active = kubectl(
        &plan.context,
        &[
            "get",
            &format!("mfg/{GROUP}"),
            "-o",
            "jsonpath={.status.activeSite}",
        ],
    )
    .map_err(|e| anyhow::anyhow!("reading the group: {e}"))?;
    if active != loaded.scenario.topology.active {
        bail!(
            "the group's activeSite is {active:?}, the scenario starts with {:?} active (playground/reset-mysql.sh resets the playground)",
            loaded.scenario.topology.active
        );
    }
    let clock = Clock {
        start: Instant::now(),
        start_unix_ms: unix_ms(),
    };
    let events: Events = Arc::default();
    let wall = Instant::now();
    let (fin, result) = std::thread::scope(|s| {
        let injector = s.spawn(|| {
            for step in &plan.steps {
                let wait = step.at.saturating_sub(clock.start.elapsed());
                std::thread::sleep(wait);
                push(
                    &events,
                    clock.at_ms(),
                    EventKind::Fault {
                        op: step.op.clone(),
                        detail: step.detail.clone(),
                        heal: step.heal,
                    },
                );
                for c in &step.cmds {
                    if let Err(e) = run_cmd(&plan.context, c) {
                        return Err(anyhow::anyhow!("step {:?} failed: {e}", step.label));
                    }
                }
            }
            Ok(())
        });
        let mut obs = Observer {
            context: &plan.context,
            clock: &clock,
            events: events.clone(),
            last_state: BTreeMap::new(),
            last_active: None,
            last_dns: None,
            ack_cursor: 0,
            ids: None,
            log_cursor: BTreeMap::new(),
        };
        while clock.start.elapsed() < plan.duration {
            let tick = Instant::now();
            obs.sample();
            if injector.is_finished() && plan.steps.iter().any(|st| st.at > clock.start.elapsed()) {
                break; // a step failed early; stop observing
            }
            std::thread::sleep(SAMPLE_EVERY.saturating_sub(tick.elapsed()));
        }
        let injected = injector.join().expect("the injector thread panicked");
        let fin_sites: Vec<SiteTruth> = SITES
            .iter()
            .map(|s| site_truth(&plan.context, s, obs.ids))
            .collect();
        let status = kubectl(
            &plan.context,
            &["get", &format!("mfg/{GROUP}"), "-o", "json"],
        )
        .ok()
        .and_then(|o| serde_json::from_str::<Value>(&o).ok())
        .map(|v| v["status"].clone())
        .unwrap_or(Value::Null);
        let fin = Final {
            sites: fin_sites,
            status,
            dns_target: obs.last_dns.clone().flatten(),
        };
        (fin, injected)
    });
    for c in &plan.cleanup {
        if let Err(e) = run_cmd(&plan.context, c) {
            eprintln!("warning: cleanup command failed: {e}");
        }
    }
    result.context("running the plan")?;
    pod_logs(
        &plan.context,
        &clock,
        &events,
        &["deploy/bloodraven"],
        crate::world::CONTROLLER_HOST,
    );
    for site in SITES {
        let deploy = format!("deploy/mysql-{GROUP}-{site}");
        let host = bloodraven::crd::internal_service(GROUP, site);
        pod_logs(
            &plan.context,
            &clock,
            &events,
            &[&deploy, "-c", "sidecar"],
            &host,
        );
    }
    let mut events = events.lock().unwrap().clone();
    events.sort_by_key(|e| e.at_ms);
    let mut judged_scenario = loaded.clone();
    judged_scenario.scenario.expect.properties = judged.to_vec();
    let verdicts = oracles::judge(&Input {
        events: &events,
        fin: &fin,
        scenario: &judged_scenario,
        group: GROUP,
    });
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count() as u64;
    let mut description = loaded.scenario.description.clone();
    if !not_judged.is_empty() {
        description.push_str(&format!(
            " (k3d: not judged {})",
            not_judged
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Report {
        pass: verdicts.iter().all(|v| v.pass),
        description,
        verdicts,
        trace_hash: hash_events(&events),
        acked_writes: count(|k| matches!(k, EventKind::Ack { .. })),
        failed_writes: count(|k| matches!(k, EventKind::WriteError { .. })),
        virtual_seconds: wall.elapsed().as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        replay: format!(
            "cargo run -p chaos -- run {} --target k3d --context {}",
            loaded.scenario.id, plan.context
        ),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        timeline: timeline(&events),
        final_state: fin,
        events,
        scenario: loaded.scenario.id.clone(),
        seed: 0,
        target: "k3d".into(),
    })
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
