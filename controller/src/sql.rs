//! The MySQL seam: a narrow, SQL-shaped interface (run a statement, read rows).
//!
//! Production uses [`MysqlAsyncConnector`] (`mysql_async`); the simulator plugs in an
//! implementation that sends the same SQL text to the fake engine over turmoil TCP.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// Result of one statement: a (possibly empty) result set plus the OK-packet facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    #[serde(default)]
    pub affected_rows: u64,
    /// GTID of the transaction this statement committed (session_track_gtids), if any.
    #[serde(default)]
    pub gtid: Option<String>,
}

impl QueryResult {
    /// The value of `column` in row `row`, by column name (case-insensitive).
    pub fn get(&self, row: usize, column: &str) -> Option<&str> {
        let idx = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.rows.get(row)?.get(idx)?.as_deref()
    }

    /// First column of the first row.
    pub fn scalar(&self) -> Option<&str> {
        self.rows.first()?.first()?.as_deref()
    }
}

/// A MySQL error (server error code + message) or a transport failure (code 2013-like).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("ERROR {code}: {message}")]
pub struct SqlError {
    pub code: u16,
    pub message: String,
}

impl SqlError {
    /// CR_SERVER_LOST: the connection failed or timed out.
    pub const CONNECTION_LOST: u16 = 2013;
    /// CR_CONN_HOST_ERROR: could not connect.
    pub const CANNOT_CONNECT: u16 = 2003;

    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn transport(message: impl Into<String>) -> Self {
        Self::new(Self::CONNECTION_LOST, message)
    }

    pub fn is_transport(&self) -> bool {
        self.code == Self::CONNECTION_LOST || self.code == Self::CANNOT_CONNECT
    }
}

/// An open session to one mysqld.
#[async_trait]
pub trait SqlConn: Send {
    async fn query(&mut self, sql: &str) -> Result<QueryResult, SqlError>;
}

/// Opens sessions. `host` is the Service name the production code would dial.
#[async_trait]
pub trait SqlConnector: Send + Sync + 'static {
    async fn connect(&self, host: &str, port: u16) -> Result<Box<dyn SqlConn>, SqlError>;
}

pub type SharedSqlConnector = Arc<dyn SqlConnector>;

/// Runs one statement on a fresh session, bounded by `timeout` (connect + query).
/// A hung socket must never freeze a poll loop (spec §11 item 2).
pub async fn query_once(
    connector: &dyn SqlConnector,
    host: &str,
    port: u16,
    sql: &str,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let fut = async {
        let mut conn = connector.connect(host, port).await?;
        conn.query(sql).await
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(SqlError::transport(format!(
            "{host}:{port}: timed out after {timeout:?} running {sql:?}"
        ))),
    }
}

/// Production connector on `mysql_async`.
pub struct MysqlAsyncConnector {
    pub user: String,
    pub password: String,
    pub connect_timeout: Duration,
}

struct MysqlAsyncConn(mysql_async::Conn);

#[async_trait]
impl SqlConnector for MysqlAsyncConnector {
    async fn connect(&self, host: &str, port: u16) -> Result<Box<dyn SqlConn>, SqlError> {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host.to_string())
            .tcp_port(port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.clone()))
            .prefer_socket(false)
            .wait_timeout(Some(60));
        let conn = tokio::time::timeout(self.connect_timeout, mysql_async::Conn::new(opts))
            .await
            .map_err(|_| {
                SqlError::new(
                    SqlError::CANNOT_CONNECT,
                    format!("{host}:{port}: connect timed out"),
                )
            })?
            .map_err(to_sql_error)?;
        Ok(Box::new(MysqlAsyncConn(conn)))
    }
}

#[async_trait]
impl SqlConn for MysqlAsyncConn {
    async fn query(&mut self, sql: &str) -> Result<QueryResult, SqlError> {
        use mysql_async::prelude::Queryable;
        let mut result = self.0.query_iter(sql).await.map_err(to_sql_error)?;
        let columns: Vec<String> = result
            .columns_ref()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect();
        let raw: Vec<mysql_async::Row> = result.collect().await.map_err(to_sql_error)?;
        let affected_rows = result.affected_rows();
        drop(result);
        let rows = raw
            .into_iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| match row.as_ref(i) {
                        None | Some(mysql_async::Value::NULL) => None,
                        Some(mysql_async::Value::Bytes(b)) => {
                            Some(String::from_utf8_lossy(b).into_owned())
                        }
                        Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
                    })
                    .collect()
            })
            .collect();
        let gtid = self
            .0
            .last_ok_packet()
            .and_then(|ok| ok.session_state_info().ok())
            .and_then(|infos| {
                infos.iter().find_map(|info| match info.decode() {
                    Ok(mysql_async::SessionStateChange::Gtids(g)) => {
                        Some(g.as_str().trim().to_string())
                    }
                    _ => None,
                })
            });
        Ok(QueryResult {
            columns,
            rows,
            affected_rows,
            gtid,
        })
    }
}

fn to_sql_error(e: mysql_async::Error) -> SqlError {
    match e {
        mysql_async::Error::Server(s) => SqlError::new(s.code, s.message),
        other => SqlError::transport(other.to_string()),
    }
}
