//! Talking to the playground cluster: commands (kubectl, docker) with their output, SQL as
//! root in a site's mysqld container, and a site's state read at the end of a run.

use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::plan::{Arg, Cmd, GROUP, NAMESPACE};
use crate::oracles::SiteTruth;

pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs one command; stdout on success, the last stderr line otherwise.
pub(super) fn run_cmd(context: &str, cmd: &Cmd) -> Result<String, String> {
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

pub(super) fn kubectl(context: &str, args: &[&str]) -> Result<String, String> {
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

pub(super) fn pod_of(context: &str, site: &str) -> Result<String, String> {
    let sel = format!("app.kubernetes.io/name=mysql,shipstream.io/site={site}");
    let out = kubectl(context, &["get", "pod", "-l", &sel, "-o", "name"])?;
    out.lines()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("no running pod for site {site}"))
}

/// Tab-separated rows of a query run as root in a site's mysqld container.
pub(super) fn site_sql(context: &str, site: &str, sql: &str) -> Result<Vec<Vec<String>>, String> {
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

pub(super) const STATE_SQL: &str = "SELECT @@read_only, @@super_read_only, @@server_uuid, REPLACE(@@gtid_executed, '\\n', ''), \
  IFNULL((SELECT HOST FROM performance_schema.replication_connection_configuration LIMIT 1), ''), \
  IFNULL((SELECT SERVICE_STATE FROM performance_schema.replication_connection_status LIMIT 1), 'OFF'), \
  IFNULL((SELECT SERVICE_STATE FROM performance_schema.replication_applier_status LIMIT 1), 'OFF')";

pub(super) fn site_truth(context: &str, site: &str, ids: Option<(u64, u64)>) -> SiteTruth {
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
