//! The durable state of one fake mysqld and the executor of the supported statements.
//!
//! [`Engine`] is a cheap-clone handle. The harness keeps it outside the simulated host, so the
//! data survives host crashes; the host only runs the server and the replication threads.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use bloodraven::gtid::GtidSet;
use bloodraven::sql::{QueryResult, SqlError};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify};

use super::sql::{parse, ChangeSource, SelectExpr, Stmt, Threads, Var};
use crate::name::{Interner, Name};
use crate::trace::{EventKind, ReplicationSource, Trace};
use crate::txn_gtid::TxnGtid;

/// Users holding SUPER (they may write while `read_only=ON`, but not under `super_read_only`).
pub const SUPER_USERS: &[&str] = &["root", "bloodraven"];

/// How often `WAIT_FOR_EXECUTED_GTID_SET` polls the state.
const WAIT_POLL: Duration = Duration::from_millis(100);

/// Milliseconds on the engine clock: simulated elapsed time inside a turmoil simulation (the
/// same for every host), tokio time since the first call elsewhere (local target).
pub fn clock_ms() -> u64 {
    if let Some(d) = turmoil::sim_elapsed() {
        return d.as_millis() as u64;
    }
    static BASE: OnceLock<tokio::time::Instant> = OnceLock::new();
    BASE.get_or_init(tokio::time::Instant::now)
        .elapsed()
        .as_millis() as u64
}

/// One binlog / relay-log transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Shared with every copy of the transaction (binlogs, relay logs, trace events).
    pub uuid: Name,
    pub gno: u64,
    /// The `chaos.counter` id a client INSERT wrote; None for internal transactions.
    pub row: Option<u64>,
    /// Engine-clock time of the original commit (like `original_commit_timestamp`); drives
    /// `Seconds_Behind_Source`.
    #[serde(default)]
    pub ts_ms: u64,
}

impl Txn {
    pub fn gtid(&self) -> String {
        format!("{}:{}", self.uuid, self.gno)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaConfig {
    pub source_host: String,
    pub source_port: u16,
    pub user: String,
    pub password: String,
    pub auto_position: bool,
    pub get_public_key: bool,
}

/// A relay-log entry: the transaction plus when the IO thread received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayEntry {
    pub txn: Txn,
    pub arrived_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    Client,
    /// Replica IO (receiver) thread: user `system user`.
    IoThread,
    /// Replica SQL (applier) thread: user `system user`.
    SqlThread,
    /// A connected replica's dump thread on this source: command `Binlog Dump GTID`.
    BinlogDump,
}

/// One processlist entry.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: u64,
    pub user: String,
    pub host: String,
    pub command: String,
    /// Engine-clock time when the current command started (`Time` column).
    pub since_ms: u64,
    pub state: String,
    pub info: Option<String>,
    pub kind: SessionKind,
    /// Signalled when the session is killed (or the server shuts down): its task must end.
    pub kill: Arc<Notify>,
}

/// Everything one mysqld knows. Fields are public for the harness and tests; prefer the
/// [`Engine`] methods, which keep the trace in step.
#[derive(Debug)]
pub struct State {
    pub site: Name,
    pub hostname: String,
    pub server_uuid: Name,
    /// The source UUIDs of received transactions, stored once (a long run relays ~100k).
    pub uuids: Interner,
    pub server_id: u32,
    pub gtid_executed: GtidSet,
    /// Transactions in `gtid_executed` that are not in `binlog` (after a clone): a replica
    /// that needs one of them gets 1236 from this source.
    pub gtid_purged: GtidSet,
    /// Next transaction number for `server_uuid`.
    pub next_gno: u64,
    pub binlog: Vec<Txn>,
    /// Contents of `chaos.counter`.
    pub rows: BTreeSet<u64>,
    pub read_only: bool,
    pub super_read_only: bool,
    pub replica: Option<ReplicaConfig>,
    pub io_running: bool,
    /// The IO thread holds a live connection to the source (else it shows `Connecting`).
    pub io_connected: bool,
    /// Bumped at every IO thread start: a running receiver loop of an older generation stops.
    pub io_gen: u64,
    pub sql_running: bool,
    pub relay_log: VecDeque<RelayEntry>,
    pub retrieved: GtidSet,
    pub source_uuid: Option<String>,
    pub last_io_error: Option<(u16, String)>,
    pub last_sql_error: Option<(u16, String)>,
    pub apply_rate_per_sec: f64,
    /// The mysqld process runs.
    pub up: bool,
    /// Bumped at every boot and shutdown: tasks of an older process generation end.
    pub epoch: u64,
    pub sessions: BTreeMap<u64, Session>,
    pub next_conn_id: u64,
    /// Blackhole: accept connections and read requests, never answer.
    pub hang: bool,
    /// Statement kind (see [`Stmt::kind`], or `*`) → fail that many times with 1105, unapplied.
    pub fail_next: BTreeMap<String, u32>,
    /// Statement kind (or `*`) → apply that many times, then drop the connection unanswered.
    pub ambiguous_next: BTreeMap<String, u32>,
    /// Host name (as in `CLONE INSTANCE FROM 'u'@'host'`) → donor engine.
    pub clone_donors: BTreeMap<String, WeakEngine>,
}

/// A non-owning engine handle (donor registries must not keep engines alive in cycles).
#[derive(Clone, Debug)]
pub struct WeakEngine(Weak<Inner>);

impl WeakEngine {
    pub fn upgrade(&self) -> Option<Engine> {
        self.0.upgrade().map(|inner| Engine { inner })
    }
}

impl State {
    fn is_super(user: &str) -> bool {
        SUPER_USERS.contains(&user)
    }

    fn add_session(
        &mut self,
        user: &str,
        host: &str,
        kind: SessionKind,
        command: &str,
        state: &str,
    ) -> (u64, Arc<Notify>) {
        let id = self.next_conn_id;
        self.next_conn_id += 1;
        let kill = Arc::new(Notify::new());
        self.sessions.insert(
            id,
            Session {
                id,
                user: user.to_string(),
                host: host.to_string(),
                command: command.to_string(),
                since_ms: clock_ms(),
                state: state.to_string(),
                info: None,
                kind,
                kill: kill.clone(),
            },
        );
        (id, kill)
    }

    fn remove_kind(&mut self, kind: SessionKind) {
        let ids: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| s.kind == kind)
            .map(|s| s.id)
            .collect();
        for id in ids {
            if let Some(s) = self.sessions.remove(&id) {
                s.kill.notify_one();
            }
        }
    }

    fn start_io(&mut self) {
        if !self.io_running {
            self.io_running = true;
            self.io_connected = false;
            self.io_gen += 1;
            self.last_io_error = None;
            self.add_session(
                "system user",
                "",
                SessionKind::IoThread,
                "Connect",
                "Connecting to source",
            );
        }
    }

    fn stop_io(&mut self) {
        self.io_running = false;
        self.io_connected = false;
        self.remove_kind(SessionKind::IoThread);
    }

    fn start_sql(&mut self) {
        if !self.sql_running {
            self.sql_running = true;
            self.last_sql_error = None;
            self.add_session(
                "system user",
                "",
                SessionKind::SqlThread,
                "Connect",
                "Replica has read all relay log; waiting for more updates",
            );
        }
    }

    fn stop_sql(&mut self) {
        self.sql_running = false;
        self.remove_kind(SessionKind::SqlThread);
    }

    fn set_flags(&mut self, trace: &Trace, read_only: bool, super_read_only: bool) {
        if (read_only, super_read_only) != (self.read_only, self.super_read_only) {
            self.read_only = read_only;
            self.super_read_only = super_read_only;
            trace.record(EventKind::MysqlState {
                site: self.site.to_string(),
                up: self.up,
                read_only,
                super_read_only,
            });
        }
    }

    /// Commits `txn` (binlog, gtid_executed, rows) and records it.
    fn commit(&mut self, trace: &Trace, txn: Txn, replicated: bool) {
        self.gtid_executed.add(&txn.uuid, txn.gno);
        if let Some(r) = txn.row {
            self.rows.insert(r);
        }
        self.next_gno = self.gtid_executed.last(&self.server_uuid) + 1;
        trace.record(EventKind::Commit {
            site: self.site.clone(),
            gtid: TxnGtid::new(txn.uuid.clone(), txn.gno),
            row: txn.row,
            replicated,
        });
        self.binlog.push(txn);
    }

    fn local_txn(&mut self, row: Option<u64>) -> Txn {
        let gno = self
            .next_gno
            .max(self.gtid_executed.last(&self.server_uuid) + 1);
        Txn {
            uuid: self.server_uuid.clone(),
            gno,
            row,
            ts_ms: clock_ms(),
        }
    }

    fn take_knob(map: &mut BTreeMap<String, u32>, kind: &str) -> bool {
        for key in [kind, "*"] {
            if let Some(n) = map.get_mut(key) {
                if *n > 0 {
                    *n -= 1;
                    if *n == 0 {
                        map.remove(key);
                    }
                    return true;
                }
            }
        }
        false
    }

    fn io_running_text(&self) -> &'static str {
        match (self.io_running, self.io_connected) {
            (false, _) => "No",
            (true, false) => "Connecting",
            (true, true) => "Yes",
        }
    }

    /// `Seconds_Behind_Source`: NULL when the SQL or IO thread is stopped; else the age of the
    /// oldest unapplied relay transaction (by its original commit time), 0 when the relay log
    /// is empty (possibly stale: the IO thread may be behind or disconnected).
    pub fn seconds_behind_source(&self) -> Option<u64> {
        if !self.sql_running || !self.io_running {
            return None;
        }
        Some(
            self.relay_log
                .front()
                .map_or(0, |e| clock_ms().saturating_sub(e.txn.ts_ms) / 1000),
        )
    }
}

#[derive(Debug)]
pub struct Inner {
    state: Mutex<State>,
    commits: watch::Sender<u64>,
    trace: Trace,
}

/// Cheap-clone handle to the durable state of one mysqld.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Read-only view for oracles and reports.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineSnapshot {
    pub site: String,
    pub server_uuid: String,
    pub gtid_executed: String,
    /// `chaos.counter` ids, ascending.
    pub rows: Vec<u64>,
    pub read_only: bool,
    pub super_read_only: bool,
    pub source_host: Option<String>,
    pub io_running: bool,
    pub io_connected: bool,
    pub sql_running: bool,
    pub relay_len: usize,
    pub retrieved: String,
    pub last_io_error: Option<(u16, String)>,
    pub last_sql_error: Option<(u16, String)>,
    pub up: bool,
}

/// Outcome of one statement on a session.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    pub result: Result<QueryResult, SqlError>,
    /// The statement was applied, but the server must drop the connection without answering.
    pub ambiguous: bool,
}

fn yes_no(b: bool) -> String {
    if b { "Yes" } else { "No" }.to_string()
}

fn one_zero(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

fn malformed(set: &str) -> SqlError {
    SqlError::new(1772, format!("Malformed GTID set specification '{set}'."))
}

/// Column names of `SHOW REPLICA STATUS`.
pub const REPLICA_STATUS_COLUMNS: &[&str] = &[
    "Replica_IO_State",
    "Source_Host",
    "Source_User",
    "Source_Port",
    "Replica_IO_Running",
    "Replica_SQL_Running",
    "Last_Errno",
    "Last_Error",
    "Last_IO_Errno",
    "Last_IO_Error",
    "Last_SQL_Errno",
    "Last_SQL_Error",
    "Seconds_Behind_Source",
    "Source_UUID",
    "Retrieved_Gtid_Set",
    "Executed_Gtid_Set",
    "Auto_Position",
];

/// Column names of `SHOW PROCESSLIST`.
pub const PROCESSLIST_COLUMNS: &[&str] = &[
    "Id", "User", "Host", "db", "Command", "Time", "State", "Info",
];

impl Engine {
    /// A stopped mysqld with an empty datadir (call [`Engine::boot`] to start it).
    pub fn new(site: &str, server_uuid: &str, server_id: u32, trace: Trace) -> Self {
        let state = State {
            site: site.into(),
            hostname: site.to_string(),
            server_uuid: server_uuid.to_ascii_lowercase().into(),
            uuids: Interner::default(),
            server_id,
            gtid_executed: GtidSet::new(),
            gtid_purged: GtidSet::new(),
            next_gno: 1,
            binlog: Vec::new(),
            rows: BTreeSet::new(),
            read_only: false,
            super_read_only: false,
            replica: None,
            io_running: false,
            io_connected: false,
            io_gen: 0,
            sql_running: false,
            relay_log: VecDeque::new(),
            retrieved: GtidSet::new(),
            source_uuid: None,
            last_io_error: None,
            last_sql_error: None,
            apply_rate_per_sec: 1000.0,
            up: false,
            epoch: 0,
            sessions: BTreeMap::new(),
            next_conn_id: 1,
            hang: false,
            fail_next: BTreeMap::new(),
            ambiguous_next: BTreeMap::new(),
            clone_donors: BTreeMap::new(),
        };
        let (commits, _) = watch::channel(0);
        Engine {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                commits,
                trace,
            }),
        }
    }

    /// Direct access to the state (tests, fault injection). Never hold it across an await.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn trace(&self) -> &Trace {
        &self.inner.trace
    }

    fn notify_commits(&self) {
        self.inner.commits.send_modify(|n| *n += 1);
    }

    /// Wakes whenever a transaction commits.
    pub fn subscribe_commits(&self) -> watch::Receiver<u64> {
        self.inner.commits.subscribe()
    }

    pub fn site(&self) -> String {
        self.state().site.to_string()
    }

    pub fn server_uuid(&self) -> String {
        self.state().server_uuid.to_string()
    }

    pub fn is_up(&self) -> bool {
        self.state().up
    }

    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// The process starts: `read_only`/`super_read_only` = `fenced`; replication threads stay
    /// stopped (`skip_replica_start`); no sessions.
    pub fn boot(&self, fenced: bool) {
        let trace = &self.inner.trace;
        let mut s = self.state();
        s.epoch += 1;
        s.up = true;
        s.sessions.clear();
        s.io_running = false;
        s.io_connected = false;
        s.sql_running = false;
        s.read_only = fenced;
        s.super_read_only = fenced;
        trace.record(EventKind::MysqlState {
            site: s.site.to_string(),
            up: true,
            read_only: fenced,
            super_read_only: fenced,
        });
    }

    /// The process dies: sessions end, threads stop (their configuration is durable).
    pub fn shutdown(&self) {
        let trace = &self.inner.trace;
        let mut s = self.state();
        s.epoch += 1;
        s.up = false;
        for (_, sess) in std::mem::take(&mut s.sessions) {
            sess.kill.notify_one();
        }
        s.io_running = false;
        s.io_connected = false;
        s.sql_running = false;
        trace.record(EventKind::MysqlState {
            site: s.site.to_string(),
            up: false,
            read_only: s.read_only,
            super_read_only: s.super_read_only,
        });
    }

    /// Replaces the datadir by an empty one under `new_uuid` (no GTIDs, binlog, rows or
    /// replication configuration). Use [`Engine::errant_write`] for local GTIDs afterwards.
    pub fn wipe_datadir(&self, new_uuid: &str) {
        let mut s = self.state();
        s.server_uuid = new_uuid.to_ascii_lowercase().into();
        s.gtid_executed = GtidSet::new();
        s.gtid_purged = GtidSet::new();
        s.next_gno = 1;
        s.binlog.clear();
        s.rows.clear();
        s.replica = None;
        s.io_running = false;
        s.io_connected = false;
        s.sql_running = false;
        s.relay_log.clear();
        s.retrieved = GtidSet::new();
        s.source_uuid = None;
        s.last_io_error = None;
        s.last_sql_error = None;
        s.remove_kind(SessionKind::IoThread);
        s.remove_kind(SessionKind::SqlThread);
    }

    /// Commits `n` local (internal, row-less) transactions regardless of `read_only`, like a
    /// human with SUPER or a returning primary. Returns their GTIDs.
    pub fn errant_write(&self, n: u64) -> Vec<String> {
        let mut out = Vec::new();
        {
            let mut s = self.state();
            for _ in 0..n {
                let txn = s.local_txn(None);
                out.push(txn.gtid());
                s.commit(&self.inner.trace, txn, false);
            }
        }
        self.notify_commits();
        out
    }

    pub fn set_hang(&self, hang: bool) {
        self.state().hang = hang;
    }

    /// The next `n` statements of `kind` (see [`Stmt::kind`], `*` = any) fail with 1105.
    pub fn fail_next(&self, kind: &str, n: u32) {
        self.state().fail_next.insert(kind.to_string(), n);
    }

    /// The next `n` statements of `kind` apply, then the connection drops unanswered.
    pub fn ambiguous_next(&self, kind: &str, n: u32) {
        self.state().ambiguous_next.insert(kind.to_string(), n);
    }

    pub fn downgrade(&self) -> WeakEngine {
        WeakEngine(Arc::downgrade(&self.inner))
    }

    /// Registers the engines `CLONE INSTANCE FROM 'u'@'<host>':port` may copy from, by the
    /// host name the controller uses.
    pub fn set_clone_donors<'a>(&self, donors: impl IntoIterator<Item = (&'a str, &'a Engine)>) {
        self.state().clone_donors = donors
            .into_iter()
            .map(|(h, e)| (h.to_string(), e.downgrade()))
            .collect();
    }

    pub fn set_apply_rate(&self, per_sec: f64) {
        self.state().apply_rate_per_sec = per_sec;
    }

    pub fn snapshot(&self) -> EngineSnapshot {
        let s = self.state();
        EngineSnapshot {
            site: s.site.to_string(),
            server_uuid: s.server_uuid.to_string(),
            gtid_executed: s.gtid_executed.to_string(),
            rows: s.rows.iter().copied().collect(),
            read_only: s.read_only,
            super_read_only: s.super_read_only,
            source_host: s.replica.as_ref().map(|r| r.source_host.clone()),
            io_running: s.io_running,
            io_connected: s.io_connected,
            sql_running: s.sql_running,
            relay_len: s.relay_log.len(),
            retrieved: s.retrieved.to_string(),
            last_io_error: s.last_io_error.clone(),
            last_sql_error: s.last_sql_error.clone(),
            up: s.up,
        }
    }

    // ---- sessions -------------------------------------------------------------------

    /// Registers a session in the processlist; returns its id and kill signal.
    pub fn open_session(
        &self,
        user: &str,
        host: &str,
        kind: SessionKind,
        command: &str,
    ) -> (u64, Arc<Notify>) {
        self.state().add_session(user, host, kind, command, "")
    }

    pub fn close_session(&self, id: u64) {
        self.state().sessions.remove(&id);
    }

    pub fn session_alive(&self, id: u64) -> bool {
        self.state().sessions.contains_key(&id)
    }

    /// Updates a session's processlist columns (`Time` restarts).
    pub fn set_session_command(&self, id: u64, command: &str, state: &str, info: Option<&str>) {
        if let Some(sess) = self.state().sessions.get_mut(&id) {
            sess.command = command.to_string();
            sess.state = state.to_string();
            sess.info = info.map(str::to_string);
            sess.since_ms = clock_ms();
        }
    }

    // ---- statements -----------------------------------------------------------------

    /// Runs one statement as `user` outside any session (tests, harness checks).
    pub async fn query(&self, user: &str, sql: &str) -> Result<QueryResult, SqlError> {
        self.execute(0, user, sql).await.result
    }

    /// Runs one statement for session `session` (0 = none).
    pub async fn execute(&self, session: u64, user: &str, sql: &str) -> Execution {
        let stmt = match parse(sql) {
            Ok(stmt) => stmt,
            Err(e) => {
                return Execution {
                    result: Err(e),
                    ambiguous: false,
                }
            }
        };
        let kind = stmt.kind();
        let (fail, ambiguous) = {
            let mut s = self.state();
            let fail = State::take_knob(&mut s.fail_next, kind);
            let ambiguous = !fail && State::take_knob(&mut s.ambiguous_next, kind);
            (fail, ambiguous)
        };
        let result = if fail {
            Err(SqlError::new(
                1105,
                format!("Unknown error (injected fault on {kind})"),
            ))
        } else {
            self.run(session, user, &stmt, !ambiguous).await
        };
        // A committed INSERT is already in the trace as its Commit (and the client's Ack), so
        // only refused ones are recorded here: that keeps long runs' traces a fifth smaller.
        let committed_insert = matches!(stmt, Stmt::Insert(_)) && result.is_ok();
        if stmt.is_mutation() && !committed_insert {
            let site = self.site();
            self.inner.trace.record(EventKind::Mutation {
                site,
                user: user.to_string(),
                sql: sql.trim().to_string(),
                ok: result.is_ok(),
            });
        }
        Execution { result, ambiguous }
    }

    async fn run(
        &self,
        session: u64,
        user: &str,
        stmt: &Stmt,
        answered: bool,
    ) -> Result<QueryResult, SqlError> {
        match stmt {
            Stmt::Select(items) => {
                let mut row = Vec::new();
                let mut probes = Vec::new();
                for item in items {
                    let v = match &item.expr {
                        SelectExpr::Var(var) => {
                            let s = self.state();
                            match var {
                                Var::ReadOnly => {
                                    probes.push(s.read_only);
                                    one_zero(s.read_only)
                                }
                                Var::SuperReadOnly => one_zero(s.super_read_only),
                                Var::GtidExecuted => s.gtid_executed.to_string(),
                                Var::ServerUuid => s.server_uuid.to_string(),
                                Var::ServerId => s.server_id.to_string(),
                                Var::Hostname => s.hostname.clone(),
                            }
                        }
                        SelectExpr::ConnectionId => session.to_string(),
                        SelectExpr::GtidSubset(a, b) => {
                            let a = GtidSet::parse(a).map_err(|_| malformed(a))?;
                            let b = GtidSet::parse(b).map_err(|_| malformed(b))?;
                            one_zero(a.is_subset_of(&b))
                        }
                        SelectExpr::WaitForExecutedGtidSet(set, timeout) => {
                            let want = GtidSet::parse(set).map_err(|_| malformed(set))?;
                            let deadline = (*timeout > 0.0).then(|| {
                                tokio::time::Instant::now() + Duration::from_secs_f64(*timeout)
                            });
                            loop {
                                if want.is_subset_of(&self.state().gtid_executed) {
                                    break "0".to_string();
                                }
                                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                                    break "1".to_string();
                                }
                                tokio::time::sleep(WAIT_POLL).await;
                            }
                        }
                    };
                    row.push(Some(v));
                }
                if answered {
                    let s = self.state();
                    for read_only in probes {
                        self.inner.trace.record(EventKind::ReadOnlyProbe {
                            site: s.site.to_string(),
                            user: user.to_string(),
                            read_only,
                        });
                    }
                }
                Ok(QueryResult {
                    columns: items.iter().map(|i| i.column.clone()).collect(),
                    rows: vec![row],
                    ..Default::default()
                })
            }
            Stmt::Insert(id) => {
                let gtid = {
                    let mut s = self.state();
                    if s.super_read_only {
                        return Err(SqlError::new(
                            1290,
                            "The MySQL server is running with the --super-read-only option so it cannot execute this statement",
                        ));
                    }
                    if s.read_only && !State::is_super(user) {
                        return Err(SqlError::new(
                            1290,
                            "The MySQL server is running with the --read-only option so it cannot execute this statement",
                        ));
                    }
                    if s.rows.contains(id) {
                        return Err(SqlError::new(
                            1062,
                            format!("Duplicate entry '{id}' for key 'counter.PRIMARY'"),
                        ));
                    }
                    let txn = s.local_txn(Some(*id));
                    let gtid = txn.gtid();
                    s.commit(&self.inner.trace, txn, false);
                    gtid
                };
                self.notify_commits();
                Ok(QueryResult {
                    affected_rows: 1,
                    gtid: Some(gtid),
                    ..Default::default()
                })
            }
            Stmt::SelectCount => {
                let n = self.state().rows.len();
                Ok(QueryResult {
                    columns: vec!["COUNT(*)".into()],
                    rows: vec![vec![Some(n.to_string())]],
                    ..Default::default()
                })
            }
            Stmt::SelectIds => {
                let rows = self
                    .state()
                    .rows
                    .iter()
                    .map(|r| vec![Some(r.to_string())])
                    .collect();
                Ok(QueryResult {
                    columns: vec!["id".into()],
                    rows,
                    ..Default::default()
                })
            }
            other => self.run_sync(session, user, other),
        }
    }

    fn run_sync(&self, session: u64, user: &str, stmt: &Stmt) -> Result<QueryResult, SqlError> {
        let trace = &self.inner.trace;
        let mut s = self.state();
        let needs_super = !matches!(stmt, Stmt::ShowProcesslist | Stmt::Kill(_));
        if needs_super && !State::is_super(user) {
            return Err(SqlError::new(
                1227,
                "Access denied; you need (at least one of) the SUPER or REPLICATION_SLAVE_ADMIN privilege(s) for this operation",
            ));
        }
        let ok = Ok(QueryResult::default());
        match stmt {
            Stmt::SetGlobal { var, on } => {
                let (ro, sro) = match (var, on) {
                    (Var::SuperReadOnly, true) => (true, true),
                    (Var::SuperReadOnly, false) => (s.read_only, false),
                    (_, true) => (true, s.super_read_only),
                    (_, false) => (false, false),
                };
                s.set_flags(trace, ro, sro);
                ok
            }
            Stmt::ShowReplicaStatus => {
                let columns = REPLICA_STATUS_COLUMNS
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                let Some(cfg) = s.replica.clone() else {
                    return Ok(QueryResult {
                        columns,
                        ..Default::default()
                    });
                };
                let io_state = match (s.io_running, s.io_connected) {
                    (false, _) => "",
                    (true, false) => "Connecting to source",
                    (true, true) => "Waiting for source to send event",
                };
                let (io_no, io_msg) = s.last_io_error.clone().unwrap_or((0, String::new()));
                let (sql_no, sql_msg) = s.last_sql_error.clone().unwrap_or((0, String::new()));
                let row = vec![
                    Some(io_state.to_string()),
                    Some(cfg.source_host.clone()),
                    Some(cfg.user.clone()),
                    Some(cfg.source_port.to_string()),
                    Some(s.io_running_text().to_string()),
                    Some(yes_no(s.sql_running)),
                    Some(sql_no.to_string()),
                    Some(sql_msg.clone()),
                    Some(io_no.to_string()),
                    Some(io_msg),
                    Some(sql_no.to_string()),
                    Some(sql_msg),
                    s.seconds_behind_source().map(|n| n.to_string()),
                    Some(s.source_uuid.clone().unwrap_or_default()),
                    Some(s.retrieved.to_string()),
                    Some(s.gtid_executed.to_string()),
                    Some(one_zero(cfg.auto_position)),
                ];
                Ok(QueryResult {
                    columns,
                    rows: vec![row],
                    ..Default::default()
                })
            }
            Stmt::ShowProcesslist => {
                let now = clock_ms();
                let rows = s
                    .sessions
                    .values()
                    .map(|p| {
                        vec![
                            Some(p.id.to_string()),
                            Some(p.user.clone()),
                            Some(p.host.clone()),
                            None,
                            Some(p.command.clone()),
                            Some((now.saturating_sub(p.since_ms) / 1000).to_string()),
                            Some(p.state.clone()),
                            p.info.clone(),
                        ]
                    })
                    .collect();
                Ok(QueryResult {
                    columns: PROCESSLIST_COLUMNS.iter().map(|c| c.to_string()).collect(),
                    rows,
                    ..Default::default()
                })
            }
            Stmt::StartReplica(threads) => {
                if s.replica.is_none() {
                    return Err(SqlError::new(
                        1200,
                        "The server is not configured as replica; fix in config file or with CHANGE REPLICATION SOURCE TO",
                    ));
                }
                if matches!(threads, Threads::Both | Threads::Io) {
                    s.start_io();
                }
                if matches!(threads, Threads::Both | Threads::Sql) {
                    s.start_sql();
                }
                ok
            }
            Stmt::StopReplica(threads) => {
                if matches!(threads, Threads::Both | Threads::Io) {
                    s.stop_io();
                }
                if matches!(threads, Threads::Both | Threads::Sql) {
                    s.stop_sql();
                }
                ok
            }
            Stmt::ResetReplicaAll => {
                if s.io_running || s.sql_running {
                    return Err(threads_running());
                }
                s.replica = None;
                s.relay_log.clear();
                s.retrieved = GtidSet::new();
                s.source_uuid = None;
                s.last_io_error = None;
                s.last_sql_error = None;
                trace.record(EventKind::ReplicationSource(Box::new(ReplicationSource {
                    site: s.site.to_string(),
                    source: String::new(),
                    executed: s.gtid_executed.to_string(),
                    source_executed: String::new(),
                })));
                ok
            }
            Stmt::ChangeSource(cs) => {
                if s.io_running || s.sql_running {
                    return Err(threads_running());
                }
                let ChangeSource {
                    host,
                    port,
                    user,
                    password,
                    auto_position,
                    get_public_key,
                } = cs.clone();
                let mut cfg = s.replica.clone().unwrap_or(ReplicaConfig {
                    source_port: 3306,
                    ..Default::default()
                });
                let moved = host.as_ref().is_some_and(|h| *h != cfg.source_host)
                    || port.is_some_and(|p| p != cfg.source_port);
                if let Some(v) = host {
                    cfg.source_host = v;
                }
                if let Some(v) = port {
                    cfg.source_port = v;
                }
                if let Some(v) = user {
                    cfg.user = v;
                }
                if let Some(v) = password {
                    cfg.password = v;
                }
                if let Some(v) = auto_position {
                    cfg.auto_position = v;
                }
                if let Some(v) = get_public_key {
                    cfg.get_public_key = v;
                }
                // Changing the receiver's source purges the relay log (unapplied backlog lost).
                if moved {
                    s.relay_log.clear();
                    s.retrieved = GtidSet::new();
                    s.source_uuid = None;
                }
                s.last_io_error = None;
                trace.record(EventKind::ReplicationSource(Box::new(ReplicationSource {
                    site: s.site.to_string(),
                    source: cfg.source_host.clone(),
                    executed: s.gtid_executed.to_string(),
                    source_executed: String::new(),
                })));
                s.replica = Some(cfg);
                ok
            }
            Stmt::Kill(id) => {
                let Some(target) = s.sessions.get(id) else {
                    return Err(SqlError::new(1094, format!("Unknown thread id: {id}")));
                };
                if target.user != user && !State::is_super(user) && *id != session {
                    return Err(SqlError::new(
                        1095,
                        format!("You are not owner of thread {id}"),
                    ));
                }
                match target.kind {
                    SessionKind::IoThread => s.stop_io(),
                    SessionKind::SqlThread => s.stop_sql(),
                    SessionKind::Client | SessionKind::BinlogDump => {
                        if let Some(t) = s.sessions.remove(id) {
                            t.kill.notify_one();
                        }
                    }
                }
                ok
            }
            Stmt::Clone {
                user,
                host,
                port,
                password,
            } => {
                let donor_err = || {
                    SqlError::new(
                        3862,
                        format!("Clone Donor Error: Connect failed: 2003 : Can't connect to MySQL server on '{host}:{port}'."),
                    )
                };
                let donor = s
                    .clone_donors
                    .get(host)
                    .and_then(WeakEngine::upgrade)
                    .ok_or_else(donor_err)?;
                if Arc::ptr_eq(&donor.inner, &self.inner) {
                    return Err(SqlError::new(
                        3869,
                        "Clone system configuration: cannot clone an instance from itself",
                    ));
                }
                let (executed, rows) = {
                    let d = donor.state();
                    if !d.up {
                        return Err(donor_err());
                    }
                    (d.gtid_executed.clone(), d.rows.clone())
                };
                // The donor authenticates the recipient like any client (same accounts).
                if let Err(e) = super::accounts::check_plain(user, &s.site, password) {
                    return Err(SqlError::new(
                        3862,
                        format!("Clone Donor Error: {} : {}.", e.code, e.message),
                    ));
                }
                // The recipient's data is replaced (server_uuid is kept: auto.cnf is not
                // cloned); the donor's binlog is not copied, so its GTIDs become purged. The
                // automatic restart is not modelled: every other session is dropped and the
                // replication threads and configuration are cleared.
                s.gtid_purged = executed.clone();
                s.gtid_executed = executed;
                s.rows = rows;
                s.binlog.clear();
                s.next_gno = s.gtid_executed.last(&s.server_uuid) + 1;
                s.stop_io();
                s.stop_sql();
                s.replica = None;
                s.relay_log.clear();
                s.retrieved = GtidSet::new();
                s.source_uuid = None;
                s.last_io_error = None;
                s.last_sql_error = None;
                let others: Vec<u64> = s
                    .sessions
                    .keys()
                    .copied()
                    .filter(|id| *id != session)
                    .collect();
                for id in others {
                    if let Some(x) = s.sessions.remove(&id) {
                        x.kill.notify_one();
                    }
                }
                trace.record(EventKind::ReplicationSource(Box::new(ReplicationSource {
                    site: s.site.to_string(),
                    source: String::new(),
                    executed: s.gtid_executed.to_string(),
                    source_executed: String::new(),
                })));
                ok
            }
            Stmt::Select(_) | Stmt::Insert(_) | Stmt::SelectCount | Stmt::SelectIds => {
                unreachable!("handled in run")
            }
        }
    }

    // ---- replication support (used by the IO/SQL threads and the dump thread) -------

    /// The IO thread should run: its generation and the source configuration.
    pub fn io_wanted(&self, epoch: u64) -> Option<(u64, ReplicaConfig)> {
        let s = self.state();
        (s.up && s.epoch == epoch && s.io_running)
            .then(|| s.replica.clone().map(|c| (s.io_gen, c)))?
    }

    /// The IO thread of generation `gen` is still wanted.
    pub fn io_current(&self, epoch: u64, gen: u64) -> bool {
        let s = self.state();
        s.up && s.epoch == epoch && s.io_running && s.io_gen == gen
    }

    /// What the IO thread asks the source for: executed ∪ retrieved.
    pub fn have_set(&self) -> GtidSet {
        let s = self.state();
        s.gtid_executed.union(&s.retrieved)
    }

    /// The IO thread connected to a source with `source_uuid`.
    pub fn io_connected(&self, gen: u64, source_uuid: &str) {
        let mut s = self.state();
        if s.io_running && s.io_gen == gen {
            s.io_connected = true;
            s.source_uuid = Some(source_uuid.to_string());
            s.last_io_error = None;
            let id = s
                .sessions
                .values()
                .find(|x| x.kind == SessionKind::IoThread)
                .map(|x| x.id);
            if let Some(sess) = id.and_then(|id| s.sessions.get_mut(&id)) {
                sess.state = "Waiting for source to send event".into();
            }
        }
    }

    /// The IO thread lost (or could not get) its connection. `fatal` stops the thread.
    pub fn io_error(&self, gen: u64, code: u16, message: String, fatal: bool) {
        let mut s = self.state();
        if s.io_running && s.io_gen == gen {
            s.io_connected = false;
            s.last_io_error = Some((code, message));
            if fatal {
                s.stop_io();
            } else {
                let id = s
                    .sessions
                    .values()
                    .find(|x| x.kind == SessionKind::IoThread)
                    .map(|x| x.id);
                if let Some(sess) = id.and_then(|id| s.sessions.get_mut(&id)) {
                    sess.state = "Connecting to source".into();
                }
            }
        }
    }

    /// The IO thread received `txn`: queue it unless already executed or retrieved.
    pub fn relay_push(&self, gen: u64, txn: Txn) {
        let mut s = self.state();
        if !(s.io_running && s.io_gen == gen) {
            return;
        }
        if s.gtid_executed.contains(&txn.uuid, txn.gno) || s.retrieved.contains(&txn.uuid, txn.gno)
        {
            return;
        }
        s.retrieved.add(&txn.uuid, txn.gno);
        let txn = Txn {
            uuid: s.uuids.intern(&txn.uuid),
            ..txn
        };
        s.relay_log.push_back(RelayEntry {
            txn,
            arrived_ms: clock_ms(),
        });
    }

    /// The SQL thread should run in process generation `epoch`.
    pub fn sql_wanted(&self, epoch: u64) -> bool {
        let s = self.state();
        s.up && s.epoch == epoch && s.sql_running
    }

    pub fn alive(&self, epoch: u64) -> bool {
        let s = self.state();
        s.up && s.epoch == epoch
    }

    /// Applies up to `max` relay transactions (original GTIDs, joining this binlog). A row
    /// that already exists stops the SQL thread with 1062. Returns how many were consumed.
    pub fn apply_relay(&self, max: usize) -> usize {
        let mut n = 0;
        {
            let trace = &self.inner.trace;
            let mut s = self.state();
            while n < max && s.sql_running {
                let Some(entry) = s.relay_log.pop_front() else {
                    break;
                };
                let txn = entry.txn.clone();
                if s.gtid_executed.contains(&txn.uuid, txn.gno) {
                    n += 1;
                    continue;
                }
                if let Some(r) = txn.row.filter(|r| s.rows.contains(r)) {
                    s.relay_log.push_front(entry);
                    s.last_sql_error = Some((
                        1062,
                        format!(
                            "Could not execute Write_rows event on table chaos.counter; Duplicate entry '{r}' for key \
                             'counter.PRIMARY', Error_code: 1062; handler error HA_ERR_FOUND_DUPP_KEY (transaction '{}')",
                            txn.gtid()
                        ),
                    ));
                    s.stop_sql();
                    break;
                }
                s.commit(trace, txn, true);
                n += 1;
            }
        }
        if n > 0 {
            self.notify_commits();
        }
        n
    }

    /// Checks a dump request: the replica must not have transactions this source lacks.
    pub fn dump_check(&self, have: &str) -> Result<GtidSet, SqlError> {
        let have = GtidSet::parse(have).map_err(|_| malformed(have))?;
        let s = self.state();
        let extra = have.subtract(&s.gtid_executed);
        let missing_purged = s
            .gtid_executed
            .subtract(&have)
            .subtract(&s.gtid_executed.subtract(&s.gtid_purged));
        if !missing_purged.is_empty() {
            return Err(SqlError::new(
                1236,
                format!(
                    "Cannot replicate because the source purged required binary logs. Replicate the missing \
                     transactions from elsewhere, or provision a new replica from backup. The missing transactions \
                     are '{missing_purged}'"
                ),
            ));
        }
        if !extra.is_empty() {
            return Err(SqlError::new(
                1236,
                format!(
                    "Cannot replicate because the source purged required binary logs or the replica has more GTIDs \
                     than the source (source '{}'; replica-only transactions: '{extra}')",
                    s.server_uuid
                ),
            ));
        }
        Ok(have)
    }

    /// Binlog transactions from index `from`, with the new end index; None when the binlog
    /// shrank (wiped datadir) or the process generation changed.
    pub fn binlog_since(&self, epoch: u64, from: usize) -> Option<(Vec<Txn>, usize)> {
        let s = self.state();
        if !s.up || s.epoch != epoch || s.binlog.len() < from {
            return None;
        }
        Some((s.binlog[from..].to_vec(), s.binlog.len()))
    }
}

fn threads_running() -> SqlError {
    SqlError::new(
        3081,
        "This operation cannot be performed with running replication threads; run STOP REPLICA FOR CHANNEL '' first",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    fn engine() -> Engine {
        let e = Engine::new("a", A, 1, Trace::new());
        e.boot(false);
        e
    }

    async fn q(e: &Engine, sql: &str) -> QueryResult {
        e.query("root", sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    async fn flags(e: &Engine) -> (String, String) {
        let r = q(e, "SELECT @@global.read_only, @@global.super_read_only").await;
        (r.rows[0][0].clone().unwrap(), r.rows[0][1].clone().unwrap())
    }

    #[tokio::test]
    async fn read_only_coupling_and_the_two_statement_unfence_gap() {
        let e = engine();
        assert_eq!(flags(&e).await, ("0".into(), "0".into()));
        q(&e, "SET GLOBAL super_read_only = ON").await;
        assert_eq!(
            flags(&e).await,
            ("1".into(), "1".into()),
            "super_read_only=ON forces read_only=ON"
        );
        q(&e, "SET GLOBAL super_read_only = OFF").await;
        assert_eq!(
            flags(&e).await,
            ("1".into(), "0".into()),
            "gap: still read-only after the first unfence step"
        );
        q(&e, "SET GLOBAL read_only = OFF").await;
        assert_eq!(flags(&e).await, ("0".into(), "0".into()));
        q(&e, "SET GLOBAL super_read_only = 1").await;
        q(&e, "SET @@global.read_only = 0").await;
        assert_eq!(
            flags(&e).await,
            ("0".into(), "0".into()),
            "read_only=OFF clears super_read_only"
        );
        // Trace: MysqlState on each change, probes for each read of @@read_only.
        let ev = e.trace().events();
        let states = ev
            .iter()
            .filter(|x| matches!(x.kind, EventKind::MysqlState { .. }))
            .count();
        assert_eq!(states, 1 + 5, "boot + 5 changes");
        let probes = ev
            .iter()
            .filter(|x| matches!(x.kind, EventKind::ReadOnlyProbe { .. }))
            .count();
        assert_eq!(probes, 5);
        assert_eq!(
            e.query("app", "SET GLOBAL read_only = ON")
                .await
                .unwrap_err()
                .code,
            1227
        );
    }

    #[tokio::test]
    async fn insert_commits_a_gtid_and_is_refused_when_read_only() {
        let e = engine();
        let r = q(&e, "INSERT INTO chaos.counter (id) VALUES (1)").await;
        assert_eq!(r.affected_rows, 1);
        assert_eq!(r.gtid.as_deref(), Some(format!("{A}:1").as_str()));
        assert_eq!(
            e.query("app", "INSERT INTO chaos.counter (id) VALUES (1)")
                .await
                .unwrap_err()
                .code,
            1062
        );
        q(&e, "SET GLOBAL read_only = ON").await;
        let err = e
            .query("app", "INSERT INTO chaos.counter (id) VALUES (2)")
            .await
            .unwrap_err();
        assert_eq!(err.code, 1290);
        assert!(err.message.contains("--read-only"));
        // SUPER may still write under read_only, not under super_read_only.
        q(&e, "INSERT INTO chaos.counter (id) VALUES (3)").await;
        q(&e, "SET GLOBAL super_read_only = ON").await;
        let err = e
            .query("root", "INSERT INTO chaos.counter (id) VALUES (4)")
            .await
            .unwrap_err();
        assert_eq!(err.code, 1290);
        assert!(err.message.contains("--super-read-only"));
        let s = e.snapshot();
        assert_eq!(s.rows, vec![1, 3]);
        assert_eq!(s.gtid_executed, format!("{A}:1-2"));
        assert_eq!(
            q(&e, "SELECT COUNT(*) FROM chaos.counter").await.scalar(),
            Some("2")
        );
        // Errant writes ignore read_only.
        assert_eq!(e.errant_write(2), vec![format!("{A}:3"), format!("{A}:4")]);
        assert_eq!(e.snapshot().gtid_executed, format!("{A}:1-4"));
        let muts: Vec<bool> = e
            .trace()
            .events()
            .iter()
            .filter_map(|x| match &x.kind {
                EventKind::Mutation { sql, ok, .. } if sql.starts_with("INSERT") => Some(*ok),
                _ => None,
            })
            .collect();
        // Committed INSERTs are recorded as Commits, refused ones as failed Mutations.
        assert_eq!(muts, vec![false, false, false]);
    }

    #[tokio::test]
    async fn reset_and_change_need_stopped_threads() {
        let e = engine();
        assert_eq!(
            e.query("root", "START REPLICA").await.unwrap_err().code,
            1200
        );
        q(&e, "CHANGE REPLICATION SOURCE TO SOURCE_HOST='b', SOURCE_USER='repl', SOURCE_PASSWORD='x', SOURCE_AUTO_POSITION=1").await;
        q(&e, "START REPLICA").await;
        let err = e.query("root", "RESET REPLICA ALL").await.unwrap_err();
        assert_eq!(err.code, 3081);
        assert_eq!(err.message, "This operation cannot be performed with running replication threads; run STOP REPLICA FOR CHANNEL '' first");
        assert_eq!(
            e.query("root", "CHANGE REPLICATION SOURCE TO SOURCE_HOST='c'")
                .await
                .unwrap_err()
                .code,
            3081
        );
        q(&e, "STOP REPLICA SQL_THREAD").await;
        assert_eq!(
            e.query("root", "RESET REPLICA ALL").await.unwrap_err().code,
            3081,
            "IO thread still runs"
        );
        q(&e, "STOP REPLICA").await;
        let st = q(&e, "SHOW REPLICA STATUS").await;
        assert_eq!(st.get(0, "Source_Host"), Some("b"));
        assert_eq!(st.get(0, "Source_Port"), Some("3306"));
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("No"));
        assert_eq!(st.get(0, "Auto_Position"), Some("1"));
        assert_eq!(st.get(0, "Seconds_Behind_Source"), None);
        q(&e, "RESET REPLICA ALL").await;
        let st = q(&e, "SHOW REPLICA STATUS").await;
        assert!(st.rows.is_empty());
        assert_eq!(st.columns.len(), REPLICA_STATUS_COLUMNS.len());
    }

    #[tokio::test]
    async fn kill_rules() {
        let e = engine();
        q(
            &e,
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='b', SOURCE_USER='repl'",
        )
        .await;
        q(&e, "START REPLICA").await;
        let (app, app_kill) = e.open_session("app", "client", SessionKind::Client, "Sleep");
        let pl = q(&e, "SHOW PROCESSLIST").await;
        assert_eq!(pl.columns, PROCESSLIST_COLUMNS);
        assert_eq!(pl.rows.len(), 3);
        let sys: Vec<String> = (0..pl.rows.len())
            .filter(|&i| pl.get(i, "User") == Some("system user"))
            .map(|i| pl.get(i, "Id").unwrap().to_string())
            .collect();
        assert_eq!(sys.len(), 2);
        // Killing the first system user thread (IO) stops the IO thread only.
        q(&e, &format!("KILL {}", sys[0])).await;
        let st = q(&e, "SHOW REPLICA STATUS").await;
        assert_eq!(st.get(0, "Replica_IO_Running"), Some("No"));
        assert_eq!(st.get(0, "Replica_SQL_Running"), Some("Yes"));
        q(&e, &format!("KILL CONNECTION {}", sys[1])).await;
        assert!(!e.snapshot().sql_running);
        // A client session: removed and signalled.
        let killed = tokio::spawn(async move { app_kill.notified().await });
        assert_eq!(e.query("app", "KILL 999").await.unwrap_err().code, 1094);
        q(&e, &format!("KILL {app}")).await;
        killed.await.unwrap();
        assert!(!e.session_alive(app));
        assert_eq!(
            e.query("root", &format!("KILL {app}"))
                .await
                .unwrap_err()
                .code,
            1094
        );
        let (other, _) = e.open_session("root", "x", SessionKind::Client, "Sleep");
        assert_eq!(
            e.query("app", &format!("KILL {other}"))
                .await
                .unwrap_err()
                .code,
            1095
        );
    }

    #[tokio::test]
    async fn relay_apply_and_lag() {
        let e = engine();
        q(
            &e,
            "CHANGE REPLICATION SOURCE TO SOURCE_HOST='b', SOURCE_USER='repl'",
        )
        .await;
        q(&e, "START REPLICA").await;
        let gen = e.state().io_gen;
        const B: &str = "4f22fb58-82db-22f2-af44-d91bba530673";
        for gno in 1..=3 {
            e.relay_push(
                gen,
                Txn {
                    uuid: B.into(),
                    gno,
                    row: Some(gno),
                    ts_ms: 0,
                },
            );
        }
        e.relay_push(
            gen,
            Txn {
                uuid: B.into(),
                gno: 2,
                row: Some(2),
                ts_ms: 0,
            },
        );
        assert_eq!(e.snapshot().relay_len, 3);
        assert_eq!(e.snapshot().retrieved, format!("{B}:1-3"));
        assert_eq!(e.apply_relay(2), 2);
        assert_eq!(e.snapshot().gtid_executed, format!("{B}:1-2"));
        // A duplicate row stops the SQL thread with 1062 and keeps the txn queued.
        e.state().rows.insert(3);
        assert_eq!(e.apply_relay(5), 0);
        let s = e.snapshot();
        assert!(!s.sql_running);
        assert_eq!(s.last_sql_error.unwrap().0, 1062);
        assert_eq!(s.relay_len, 1);
        let commits = e
            .trace()
            .events()
            .iter()
            .filter(|x| {
                matches!(
                    x.kind,
                    EventKind::Commit {
                        replicated: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(commits, 2);
    }

    #[tokio::test]
    async fn fault_knobs() {
        let e = engine();
        e.fail_next("insert", 1);
        assert_eq!(
            e.query("root", "INSERT INTO chaos.counter (id) VALUES (1)")
                .await
                .unwrap_err()
                .code,
            1105
        );
        assert!(
            e.snapshot().rows.is_empty(),
            "a failed statement is not applied"
        );
        e.ambiguous_next("*", 1);
        let ex = e
            .execute(0, "root", "INSERT INTO chaos.counter (id) VALUES (1)")
            .await;
        assert!(ex.ambiguous);
        assert_eq!(
            e.snapshot().rows,
            vec![1],
            "an ambiguous statement is applied"
        );
        assert!(
            !e.execute(0, "root", "INSERT INTO chaos.counter (id) VALUES (2)")
                .await
                .ambiguous
        );
    }

    #[tokio::test]
    async fn boot_shutdown_wipe() {
        let e = engine();
        q(&e, "INSERT INTO chaos.counter (id) VALUES (1)").await;
        q(&e, "CHANGE REPLICATION SOURCE TO SOURCE_HOST='b'").await;
        q(&e, "START REPLICA").await;
        e.shutdown();
        e.boot(true);
        let s = e.snapshot();
        assert!(s.up && s.read_only && s.super_read_only);
        assert!(!s.io_running && !s.sql_running, "skip_replica_start");
        assert_eq!(s.rows, vec![1], "durable data");
        assert_eq!(
            s.source_host.as_deref(),
            Some("b"),
            "durable replication config"
        );
        const N: &str = "00000000-0000-4000-8000-000000000001";
        e.wipe_datadir(N);
        e.errant_write(1);
        let s = e.snapshot();
        assert_eq!(s.gtid_executed, format!("{N}:1"));
        assert!(s.rows.is_empty() && s.source_host.is_none());
        assert_eq!(q(&e, "SELECT @@server_uuid").await.scalar(), Some(N));
    }

    #[tokio::test]
    async fn clone_copies_the_donor_and_purges_its_history() {
        const B: &str = "4f22fb58-82db-22f2-af44-d91bba530673";
        let donor = Engine::new("b", B, 2, Trace::new());
        donor.boot(false);
        for id in 1..=3 {
            q(
                &donor,
                &format!("INSERT INTO chaos.counter (id) VALUES ({id})"),
            )
            .await;
        }
        let e = engine();
        e.errant_write(1);
        let sql = "CLONE INSTANCE FROM 'root'@'mysql-b':3306 IDENTIFIED BY 'secret' REQUIRE SSL";
        assert_eq!(
            e.query("root", sql).await.unwrap_err().code,
            3862,
            "no donor registered"
        );
        e.set_clone_donors([("mysql-b", &donor)]);
        let bad = sql.replace("'secret'", "'wrong'");
        let refused = e.query("root", &bad).await.unwrap_err();
        assert_eq!(
            (refused.code, refused.message.as_str()),
            (3862, "Clone Donor Error: 1045 : Access denied for user 'root'@'a' (using password: YES).")
        );
        let (other, killed) = e.open_session("app", "x", SessionKind::Client, "Sleep");
        q(&e, sql).await;
        killed.notified().await;
        assert!(!e.session_alive(other), "clone drops the other sessions");
        let s = e.snapshot();
        assert_eq!(
            s.gtid_executed,
            format!("{B}:1-3"),
            "local GTIDs are replaced by the donor's"
        );
        assert_eq!(s.rows, vec![1, 2, 3]);
        assert_eq!(s.server_uuid, A, "server_uuid is not cloned");
        // New local commits continue from the recipient's own (empty) history.
        assert_eq!(
            q(&e, "INSERT INTO chaos.counter (id) VALUES (4)")
                .await
                .gtid,
            Some(format!("{A}:1"))
        );
        // A replica needing a purged transaction from the clone gets 1236.
        assert_eq!(e.dump_check(&format!("{B}:1")).unwrap_err().code, 1236);
        assert!(e.dump_check(&format!("{B}:1-3")).is_ok());
        donor.shutdown();
        assert_eq!(
            e.query("root", sql).await.unwrap_err().code,
            3862,
            "donor down"
        );
    }

    #[tokio::test]
    async fn gtid_functions() {
        let e = engine();
        e.errant_write(2);
        assert_eq!(
            q(
                &e,
                &format!("SELECT GTID_SUBSET('{A}:1', @@x)").replace(", @@x", ", ''")
            )
            .await
            .scalar(),
            Some("0")
        );
        assert_eq!(
            q(&e, &format!("SELECT GTID_SUBSET('{A}:1', '{A}:1-2')"))
                .await
                .scalar(),
            Some("1")
        );
        assert_eq!(
            q(
                &e,
                &format!("SELECT WAIT_FOR_EXECUTED_GTID_SET('{A}:1-2', 1)")
            )
            .await
            .scalar(),
            Some("0")
        );
        assert_eq!(
            e.query("root", "SELECT GTID_SUBSET('nope', '')")
                .await
                .unwrap_err()
                .code,
            1772
        );
    }
}
