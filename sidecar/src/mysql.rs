//! The sidecar's SQL, all through the `bloodraven::sql` seam. Only statements from the fixed
//! list the fake engine understands are sent.

use std::time::Duration;

use bloodraven::sql::{query_once, QueryResult, SqlConnector, SqlError};
use tracing::{info, warn};

pub const SQL_READ_ONLY: &str = "SELECT @@global.read_only, @@global.super_read_only";
pub const SQL_GTID_EXECUTED: &str = "SELECT @@global.gtid_executed";
pub const SQL_SERVER_ID: &str = "SELECT @@server_id";
pub const SQL_FENCE: &str = "SET GLOBAL super_read_only = ON";
pub const SQL_UNFENCE_SUPER: &str = "SET GLOBAL super_read_only = OFF";
pub const SQL_UNFENCE_READ_ONLY: &str = "SET GLOBAL read_only = OFF";
pub const SQL_REPLICA_STATUS: &str = "SHOW REPLICA STATUS";
pub const SQL_PROCESSLIST: &str = "SHOW PROCESSLIST";
pub const SQL_CONNECTION_ID: &str = "SELECT CONNECTION_ID()";

/// ER_NO_SUCH_THREAD: the session ended before the KILL.
pub const ER_NO_SUCH_THREAD: u16 = 1094;

/// Timeout of the health ping and the status queries.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Timeout of the read-only check in evaluate and of the ambiguous-fence probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of the fence write.
pub const FENCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Budget of the whole session eviction after a fence.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the local mysqld is.
#[derive(Clone, Copy)]
pub struct Mysql<'a> {
    pub sql: &'a dyn SqlConnector,
    pub host: &'a str,
    pub port: u16,
}

fn truthy(v: Option<&str>) -> bool {
    matches!(v.map(str::trim), Some(s) if s == "1" || s.eq_ignore_ascii_case("ON") || s.eq_ignore_ascii_case("true"))
}

/// `(read_only, super_read_only)` of a [`SQL_READ_ONLY`] result.
pub fn parse_read_only(r: &QueryResult) -> Result<(bool, bool), SqlError> {
    let row = r
        .rows
        .first()
        .ok_or_else(|| SqlError::new(0, "read_only query returned no row"))?;
    let get = |i: usize| row.get(i).and_then(|v| v.as_deref());
    if get(0).is_none() {
        return Err(SqlError::new(0, "read_only query returned NULL"));
    }
    Ok((truthy(get(0)), truthy(get(1))))
}

impl Mysql<'_> {
    pub async fn query(&self, sql: &str, timeout: Duration) -> Result<QueryResult, SqlError> {
        query_once(self.sql, self.host, self.port, sql, timeout).await
    }

    /// `(read_only, super_read_only)`.
    pub async fn read_only(&self, timeout: Duration) -> Result<(bool, bool), SqlError> {
        parse_read_only(&self.query(SQL_READ_ONLY, timeout).await?)
    }
}

/// Result of [`do_fence`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceOutcome {
    /// The SET landed; sessions were evicted (`killed` of them).
    Fenced { killed: usize },
    /// The SET errored but the probe shows read-only (PR #122): fenced, no eviction.
    FencedAmbiguous { error: SqlError },
    /// Not fenced; retry next tick.
    Failed { error: SqlError },
}

/// doFence (spec §6.4): `SET GLOBAL super_read_only = ON`, the ambiguous-write probe, and
/// one eviction of client sessions. Logs the stable `SELF-FENCED` / `SELF-FENCING FAILED`
/// messages. The caller records `fenced` for the two fenced outcomes.
pub async fn do_fence(db: Mysql<'_>) -> FenceOutcome {
    if let Err(error) = db.query(SQL_FENCE, FENCE_TIMEOUT).await {
        // A write that errored may still have landed: ask the server.
        match db.read_only(PROBE_TIMEOUT).await {
            Ok((true, _)) => {
                warn!(
                    %error,
                    "SELF-FENCING: super_read_only write failed but the fence is in place; skipping connection eviction"
                );
                warn!("SELF-FENCED: super_read_only=ON has been set, only Bloodraven can restore");
                return FenceOutcome::FencedAmbiguous { error };
            }
            Ok((false, _)) => {}
            Err(probe) => {
                warn!(error = %probe, "fencing: could not confirm whether the super_read_only write landed");
            }
        }
        warn!(%error, "SELF-FENCING FAILED: could not set super_read_only");
        return FenceOutcome::Failed { error };
    }
    let killed = match tokio::time::timeout(KILL_TIMEOUT, kill_sessions(db)).await {
        Ok(Ok(n)) => {
            info!(count = n, "SELF-FENCING: killed app connections");
            n
        }
        Ok(Err((n, error))) => {
            warn!(%error, count = n, "SELF-FENCING: failed to kill connections after fencing");
            n
        }
        Err(_) => {
            warn!("SELF-FENCING: failed to kill connections after fencing: timed out");
            0
        }
    };
    warn!("SELF-FENCED: super_read_only=ON has been set, only Bloodraven can restore");
    FenceOutcome::Fenced { killed }
}

/// One row of `SHOW PROCESSLIST`, the fields the kill filter needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRow {
    pub id: u64,
    pub user: String,
    pub command: String,
}

/// The kill filter (#119): client sessions only. Spares our own connection, replication
/// and internal threads (`""`, `system user`, `event_scheduler`), `Binlog Dump*` (a
/// replica's dump thread) and `Daemon`.
pub fn should_kill(row: &ProcessRow, own_id: u64) -> bool {
    row.id != own_id
        && !matches!(row.user.as_str(), "" | "system user" | "event_scheduler")
        && !row.command.starts_with("Binlog Dump")
        && row.command != "Daemon"
}

/// Parses `SHOW PROCESSLIST` (rows without a numeric Id are skipped).
pub fn parse_processlist(r: &QueryResult) -> Vec<ProcessRow> {
    (0..r.rows.len())
        .filter_map(|i| {
            let id = r.get(i, "Id")?.trim().parse().ok()?;
            Some(ProcessRow {
                id,
                user: r.get(i, "User").unwrap_or("").to_string(),
                command: r.get(i, "Command").unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Kills every client session once, on one connection (so `CONNECTION_ID()` names the
/// session that issues the KILLs). Returns the number killed, or that number and the
/// first hard error.
pub async fn kill_sessions(db: Mysql<'_>) -> Result<usize, (usize, SqlError)> {
    let mut conn = db.sql.connect(db.host, db.port).await.map_err(|e| (0, e))?;
    let own = conn.query(SQL_CONNECTION_ID).await.map_err(|e| (0, e))?;
    let own_id: u64 = own
        .scalar()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| (0, SqlError::new(0, "CONNECTION_ID() returned no number")))?;
    let list = conn.query(SQL_PROCESSLIST).await.map_err(|e| (0, e))?;
    let mut killed = 0;
    let mut first_error = None;
    for row in parse_processlist(&list) {
        if !should_kill(&row, own_id) {
            continue;
        }
        match conn.query(&format!("KILL {}", row.id)).await {
            Ok(_) => killed += 1,
            Err(e) if e.code == ER_NO_SUCH_THREAD => {}
            Err(e) => {
                let transport = e.is_transport();
                first_error.get_or_insert(e);
                if transport {
                    break;
                }
            }
        }
    }
    match first_error {
        None => Ok(killed),
        Some(e) => Err((killed, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64, user: &str, command: &str) -> ProcessRow {
        ProcessRow {
            id,
            user: user.into(),
            command: command.into(),
        }
    }

    #[test]
    fn kill_filter() {
        assert!(should_kill(&row(10, "app", "Query"), 7));
        assert!(should_kill(&row(11, "app", "Sleep"), 7));
        assert!(
            !should_kill(&row(7, "operator", "Query"), 7),
            "own connection"
        );
        assert!(
            !should_kill(&row(1, "system user", "Connect"), 7),
            "replication threads (#119)"
        );
        assert!(!should_kill(&row(2, "", "Connect"), 7));
        assert!(!should_kill(&row(3, "event_scheduler", "Daemon"), 7));
        assert!(!should_kill(&row(4, "repl", "Binlog Dump GTID"), 7));
        assert!(!should_kill(&row(5, "repl", "Binlog Dump"), 7));
        assert!(!should_kill(&row(6, "x", "Daemon"), 7));
    }

    #[test]
    fn read_only_values() {
        let r = |a: Option<&str>, b: Option<&str>| QueryResult {
            columns: vec![
                "@@global.read_only".into(),
                "@@global.super_read_only".into(),
            ],
            rows: vec![vec![a.map(Into::into), b.map(Into::into)]],
            ..Default::default()
        };
        assert_eq!(
            parse_read_only(&r(Some("1"), Some("0"))).unwrap(),
            (true, false)
        );
        assert_eq!(
            parse_read_only(&r(Some("0"), Some("0"))).unwrap(),
            (false, false)
        );
        assert_eq!(
            parse_read_only(&r(Some("ON"), Some("1"))).unwrap(),
            (true, true)
        );
        assert!(
            parse_read_only(&r(None, None)).is_err(),
            "unknown is not writable"
        );
        assert!(parse_read_only(&QueryResult::default()).is_err());
    }
}
