//! The SQL the topology manager sends: probes and mutations, each bounded by a timeout.
//! Statement texts are fixed here so the fake engine's SQL subset can follow them.

use std::time::Duration;

use tokio::time::Instant;

use crate::gtid::GtidSet;
use crate::sql::{QueryResult, SqlConn, SqlConnector, SqlError};

pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
pub const MYSQL_PORT: u16 = 3306;

/// What one probe of a site returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub read_only: bool,
    pub super_read_only: bool,
    pub gtid_executed: GtidSet,
    pub replica: Option<ReplicaStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub io_running: bool,
    pub sql_running: bool,
    pub source_host: String,
    pub seconds_behind_source: Option<i64>,
    pub retrieved: GtidSet,
    pub executed: GtidSet,
    pub last_error: String,
}

impl ReplicaStatus {
    pub fn healthy(&self) -> bool {
        self.io_running && self.sql_running && !self.source_host.is_empty()
    }
}

/// A session to one site's mysqld, every statement bounded by `timeout`.
pub struct Session {
    conn: Box<dyn SqlConn>,
    pub host: String,
    timeout: Duration,
}

impl Session {
    pub async fn open(
        sql: &dyn SqlConnector,
        host: &str,
        timeout: Duration,
    ) -> Result<Self, SqlError> {
        let conn = tokio::time::timeout(timeout, sql.connect(host, MYSQL_PORT))
            .await
            .map_err(|_| {
                SqlError::new(
                    SqlError::CANNOT_CONNECT,
                    format!("{host}: connect timed out after {timeout:?}"),
                )
            })??;
        Ok(Self {
            conn,
            host: host.to_string(),
            timeout,
        })
    }

    pub async fn exec(&mut self, stmt: &str) -> Result<QueryResult, SqlError> {
        match tokio::time::timeout(self.timeout, self.conn.query(stmt)).await {
            Ok(r) => r,
            Err(_) => Err(SqlError::transport(format!(
                "{}: {stmt:?} timed out after {:?}",
                self.host, self.timeout
            ))),
        }
    }

    pub async fn probe(&mut self) -> Result<Probe, SqlError> {
        let r = self
            .exec("SELECT @@global.read_only, @@global.super_read_only, @@global.gtid_executed")
            .await?;
        let flag = |i: usize| {
            r.rows
                .first()
                .and_then(|row| row.get(i))
                .and_then(|v| v.as_deref())
                == Some("1")
        };
        let gtid = r
            .rows
            .first()
            .and_then(|row| row.get(2))
            .and_then(|v| v.clone())
            .unwrap_or_default();
        let gtid_executed = GtidSet::parse(&gtid).map_err(|e| SqlError::new(0, e.to_string()))?;
        let replica = self.replica_status().await?;
        Ok(Probe {
            read_only: flag(0),
            super_read_only: flag(1),
            gtid_executed,
            replica,
        })
    }

    pub async fn replica_status(&mut self) -> Result<Option<ReplicaStatus>, SqlError> {
        let r = self.exec("SHOW REPLICA STATUS").await?;
        if r.rows.is_empty() {
            return Ok(None);
        }
        let s = |c: &str| r.get(0, c).unwrap_or_default().to_string();
        let gtid = |c: &str| GtidSet::parse(r.get(0, c).unwrap_or_default()).unwrap_or_default();
        let last_error = [s("Last_IO_Error"), s("Last_SQL_Error"), s("Last_Error")]
            .into_iter()
            .find(|e| !e.is_empty())
            .unwrap_or_default();
        Ok(Some(ReplicaStatus {
            io_running: s("Replica_IO_Running") == "Yes",
            sql_running: s("Replica_SQL_Running") == "Yes",
            source_host: s("Source_Host"),
            seconds_behind_source: r
                .get(0, "Seconds_Behind_Source")
                .and_then(|v| v.parse().ok()),
            retrieved: gtid("Retrieved_Gtid_Set"),
            executed: gtid("Executed_Gtid_Set"),
            last_error,
        }))
    }

    pub async fn read_only(&mut self) -> Result<bool, SqlError> {
        let r = self.exec("SELECT @@global.read_only").await?;
        Ok(r.scalar() == Some("1"))
    }

    pub async fn gtid_executed(&mut self) -> Result<GtidSet, SqlError> {
        let r = self.exec("SELECT @@global.gtid_executed").await?;
        GtidSet::parse(r.scalar().unwrap_or_default()).map_err(|e| SqlError::new(0, e.to_string()))
    }

    pub async fn fence(&mut self) -> Result<(), SqlError> {
        self.exec("SET GLOBAL super_read_only = ON").await.map(drop)
    }

    /// The two-statement unfence: super_read_only first, then read_only.
    pub async fn unfence(&mut self) -> Result<(), SqlError> {
        self.exec("SET GLOBAL super_read_only = OFF").await?;
        self.exec("SET GLOBAL read_only = OFF").await.map(drop)
    }

    /// Kills every application session: not our own, not replication or system threads.
    /// Returns how many were killed.
    pub async fn kill_app_connections(&mut self) -> Result<usize, SqlError> {
        let own = self.exec("SELECT CONNECTION_ID()").await?;
        let own = own.scalar().unwrap_or_default().to_string();
        let list = self.exec("SHOW PROCESSLIST").await?;
        let mut killed = 0;
        for i in 0..list.rows.len() {
            let id = list.get(i, "Id").unwrap_or_default();
            let user = list.get(i, "User").unwrap_or_default();
            let command = list.get(i, "Command").unwrap_or_default();
            let spared = id == own
                || matches!(user, "" | "system user" | "event_scheduler")
                || command.starts_with("Binlog Dump")
                || command == "Daemon";
            if spared {
                continue;
            }
            match self.exec(&format!("KILL {id}")).await {
                Ok(_) => killed += 1,
                Err(e) if e.code == 1094 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(killed)
    }

    /// Waits until the relay log is applied (retrieved ⊆ executed), up to `budget`.
    /// Backs off from 500ms to 4s; restarts a stopped SQL thread once. Returns whether the
    /// drain completed.
    pub async fn wait_for_relay_log_drain(&mut self, budget: Duration) -> Result<bool, SqlError> {
        let deadline = Instant::now() + budget;
        let mut delay = Duration::from_millis(500);
        let mut restarted_sql = false;
        loop {
            let Some(st) = self.replica_status().await? else {
                return Ok(true);
            };
            if st.retrieved.is_subset_of(&st.executed) {
                return Ok(true);
            }
            if !st.sql_running && !restarted_sql {
                restarted_sql = true;
                self.exec("START REPLICA SQL_THREAD").await?;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(Duration::from_secs(4));
        }
    }

    pub async fn stop_replica(&mut self) -> Result<(), SqlError> {
        self.exec("STOP REPLICA").await.map(drop)
    }

    pub async fn reset_replica_all(&mut self) -> Result<(), SqlError> {
        self.exec("RESET REPLICA ALL").await.map(drop)
    }

    pub async fn change_source(
        &mut self,
        source_host: &str,
        user: &str,
        password: &str,
    ) -> Result<(), SqlError> {
        self.exec(&format!(
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT={MYSQL_PORT}, SOURCE_USER='{}', SOURCE_PASSWORD='{}', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1",
            escape(source_host),
            escape(user),
            escape(password)
        ))
        .await
        .map(drop)
    }

    pub async fn start_replica(&mut self) -> Result<(), SqlError> {
        self.exec("START REPLICA").await.map(drop)
    }

    /// `CLONE INSTANCE` from the donor's internal Service (spec §1 Clone). MySQL refuses
    /// a donor missing from `clone_valid_donor_list` (error 3869), so the list is set to
    /// this donor first. A real mysqld restarts when the clone completes, dropping this
    /// connection.
    pub async fn clone_from(
        &mut self,
        donor_host: &str,
        user: &str,
        password: &str,
    ) -> Result<(), SqlError> {
        self.exec(&format!(
            "SET GLOBAL clone_valid_donor_list = '{}:{MYSQL_PORT}'",
            escape(donor_host)
        ))
        .await?;
        self.exec(&format!(
            "CLONE INSTANCE FROM '{}'@'{}':{MYSQL_PORT} IDENTIFIED BY '{}'",
            escape(user),
            escape(donor_host),
            escape(password)
        ))
        .await
        .map(drop)
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}
