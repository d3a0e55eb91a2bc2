//! Serves one [`Engine`] over the real MySQL client/server protocol (opensrv-mysql) on a real
//! TCP listener, so the production `mysql_async` connector talks to the same fake as the
//! simulator's framed transport ([`super::server`]).
//!
//! Same session rules as the framed server: the accounts of [`super::accounts`], a
//! processlist entry per connection, KILL ends the connection, a hung engine never sends the
//! greeting nor answers, an ambiguous statement is applied and the connection dropped.

use std::io;

use async_trait::async_trait;
use bloodraven::sql::{QueryResult, SqlError};
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, ErrorKind, OkResponse,
    ParamParser, QueryResultWriter, StatementMetaWriter,
};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::accounts;
use super::engine::{Engine, SessionKind};
use super::err_packet_patch::{self, AuthErrorSlot, ErrPacketPatch};

/// What `SELECT VERSION()` would say; also the handshake's server version.
pub const SERVER_VERSION: &str = "8.0.36-bloodraven-fake";

/// The processlist user of a connection that has not authenticated yet (as in MySQL).
const UNAUTHENTICATED: &str = "unauthenticated user";

/// Accept loop on a real TCP listener; one task per connection. Runs until dropped.
pub async fn serve_tcp(engine: Engine, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(engine.clone(), stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "fake mysqld (wire): accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Binds 127.0.0.1 on an ephemeral port, serves `engine` there in the background and returns
/// the port.
pub async fn serve_loopback(engine: Engine) -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(serve_tcp(engine, listener));
    Ok(port)
}

async fn connection(engine: Engine, stream: TcpStream) {
    if !engine.is_up() {
        return;
    }
    let host = stream
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let (id, kill) = engine.open_session(UNAUTHENTICATED, &host, SessionKind::Client, "Connect");
    let _guard = SessionGuard {
        engine: engine.clone(),
        id,
    };
    let (mut reader, writer) = stream.into_split();
    if engine.state().hang {
        // Blackhole: the connection exists, the greeting never comes.
        let mut sink = [0u8; 512];
        tokio::select! {
            _ = async { while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {} } => {}
            _ = kill.notified() => {}
        }
        return;
    }
    let auth_error = AuthErrorSlot::default();
    let shim = Shim {
        engine: engine.clone(),
        id,
        host,
        user: String::new(),
        auth_error: auth_error.clone(),
    };
    let writer = ErrPacketPatch::new(writer, auth_error);
    tokio::select! {
        r = AsyncMysqlIntermediary::run_on(shim, reader, writer) => {
            if let Err(e) = r {
                tracing::debug!(error = %e, session = id, "fake mysqld (wire): connection ended");
            }
        }
        _ = kill.notified() => {}
    }
}

/// Removes the processlist entry when the connection task ends.
struct SessionGuard {
    engine: Engine,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.engine.close_session(self.id);
    }
}

struct Shim {
    engine: Engine,
    id: u64,
    host: String,
    /// Set by the first query (opensrv authenticates through `&self`).
    user: String,
    auth_error: AuthErrorSlot,
}

impl Shim {
    /// The authenticated user, read back from the processlist entry `authenticate` updated.
    fn session_user(&mut self) -> String {
        if self.user.is_empty() {
            if let Some(s) = self.engine.state().sessions.get(&self.id) {
                self.user = s.user.clone();
            }
        }
        self.user.clone()
    }
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = io::Error;

    fn version(&self) -> String {
        SERVER_VERSION.to_string()
    }

    fn connect_id(&self) -> u32 {
        self.id as u32
    }

    /// A fresh scramble per connection, derived from the session id (deterministic, never
    /// the same for two connections of one server).
    fn salt(&self) -> [u8; 20] {
        let mut salt = [0u8; 20];
        let mut x = self.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for b in salt.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Printable, never NUL or '$' (the handshake's terminators).
            *b = b'%' + (x % 90) as u8;
        }
        salt
    }

    async fn authenticate(&self, _plugin: &str, user: &[u8], salt: &[u8], data: &[u8]) -> bool {
        let user = String::from_utf8_lossy(user).into_owned();
        if accounts::check_native(&user, salt, data) {
            if let Some(s) = self.engine.state().sessions.get_mut(&self.id) {
                s.user = user;
                s.command = "Sleep".into();
            }
            return true;
        }
        let err = accounts::access_denied(&user, &self.host, !data.is_empty());
        *self.auth_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
        false
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        let err = SqlError::new(
            1295,
            format!(
                "This command is not supported in the prepared statement protocol yet: {query}"
            ),
        );
        info.error(
            ErrorKind::ER_UNKNOWN_ERROR,
            err_packet_patch::encode(&err).as_bytes(),
        )
        .await
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        _: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        let err = SqlError::new(1243, format!("Unknown prepared statement handler ({id})"));
        write_error(results, &err).await
    }

    async fn on_close<'a>(&'a mut self, _: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_query<'a>(
        &'a mut self,
        sql: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        if let Some(r) = driver_setting(sql) {
            return write_result(results, &r).await;
        }
        let user = self.session_user();
        let (engine, id) = (self.engine.clone(), self.id);
        if engine.state().hang {
            return std::future::pending().await;
        }
        engine.set_session_command(id, "Query", "executing", Some(sql));
        let ex = engine.execute(id, &user, sql).await;
        if ex.ambiguous || !engine.session_alive(id) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "statement applied; dropping the connection unanswered",
            ));
        }
        engine.set_session_command(id, "Sleep", "", None);
        if engine.state().hang {
            return std::future::pending().await;
        }
        match ex.result {
            Ok(r) => write_result(results, &r).await,
            Err(e) => write_error(results, &e).await,
        }
    }
}

/// The session variables a client driver reads right after connecting (mysql_async reads
/// `@@max_allowed_packet`); they belong to the server, not to the engine's SQL subset.
fn driver_setting(sql: &str) -> Option<QueryResult> {
    let list = sql.trim().trim_end_matches(';').strip_prefix("SELECT ")?;
    let mut columns = Vec::new();
    let mut row = Vec::new();
    for item in list.split(',').map(str::trim) {
        let value = match item.to_ascii_lowercase().as_str() {
            "@@max_allowed_packet" => Some("67108864".to_string()),
            "@@wait_timeout" => Some("28800".to_string()),
            "@@socket" => None,
            _ => return None,
        };
        columns.push(item.to_string());
        row.push(value);
    }
    Some(QueryResult {
        columns,
        rows: vec![row],
        ..Default::default()
    })
}

/// Integer columns of the result sets the engine produces (everything else is a string).
fn column_type(name: &str) -> ColumnType {
    const INTEGERS: &[&str] = &[
        "id",
        "time",
        "source_port",
        "last_errno",
        "last_io_errno",
        "last_sql_errno",
        "seconds_behind_source",
        "auto_position",
        "@@server_id",
        "@@global.server_id",
        "@@read_only",
        "@@global.read_only",
        "@@super_read_only",
        "@@global.super_read_only",
        "@@max_allowed_packet",
        "@@wait_timeout",
        "connection_id()",
    ];
    let n = name.to_ascii_lowercase();
    if INTEGERS.contains(&n.as_str())
        || n.starts_with("gtid_subset(")
        || n.starts_with("wait_for_executed_gtid_set(")
    {
        ColumnType::MYSQL_TYPE_LONGLONG
    } else {
        ColumnType::MYSQL_TYPE_VAR_STRING
    }
}

async fn write_result<W: AsyncWrite + Send + Unpin>(
    results: QueryResultWriter<'_, W>,
    r: &QueryResult,
) -> io::Result<()> {
    if r.columns.is_empty() {
        return results
            .completed(OkResponse {
                affected_rows: r.affected_rows,
                ..Default::default()
            })
            .await;
    }
    let columns: Vec<Column> = r
        .columns
        .iter()
        .map(|name| Column {
            table: String::new(),
            column: name.clone(),
            coltype: column_type(name),
            colflags: ColumnFlags::empty(),
        })
        .collect();
    let mut rows = results.start(&columns).await?;
    for row in &r.rows {
        for value in row {
            rows.write_col(value.as_deref())?;
        }
        rows.end_row().await?;
    }
    rows.finish().await
}

async fn write_error<W: AsyncWrite + Send + Unpin>(
    results: QueryResultWriter<'_, W>,
    err: &SqlError,
) -> io::Result<()> {
    results
        .error(
            ErrorKind::ER_UNKNOWN_ERROR,
            err_packet_patch::encode(err).as_bytes(),
        )
        .await
}
