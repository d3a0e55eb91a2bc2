//! The simulator's framed protocol: every frame is a 4-byte big-endian length plus JSON.
//!
//! - client → server, first: `{"user": "...", "password": "..."}` (optionally `"host"`);
//!   server → client: a [`Greeting`] `{"server_uuid": "...", "connection_id": n}` or `{"err": SqlError}`.
//! - then `{"sql": "..."}` → `{"ok": QueryResult}` | `{"err": SqlError}`;
//! - or `{"binlog_dump": {"have": "<gtid set>"}}` → a stream of `{"txn": Txn}` and
//!   `{"heartbeat": {}}` frames, or `{"err": {"code": 1236, ...}}` and close.

use std::io;
use std::time::Duration;

use async_trait::async_trait;
use bloodraven::net::SharedDialer;
use bloodraven::sql::{QueryResult, SqlConn, SqlConnector, SqlError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::engine::Txn;

/// Largest accepted frame.
pub const MAX_FRAME: usize = 16 << 20;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    pub user: String,
    pub password: String,
    /// The client's host name, shown in the processlist (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    pub server_uuid: String,
    pub connection_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    Sql(String),
    BinlogDump { have: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok(QueryResult),
    Err(SqlError),
    Txn(Txn),
    Heartbeat {},
}

/// A greeting or a handshake error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HandshakeReply {
    Greeting(Greeting),
    Err { err: SqlError },
}

pub async fn write_frame<W: AsyncWrite + Unpin + ?Sized, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> io::Result<()> {
    let body =
        serde_json::to_vec(msg).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "frame too large"))?;
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame; a clean EOF is `UnexpectedEof`. Not cancel-safe.
pub async fn read_frame<R: AsyncRead + Unpin + ?Sized, T: DeserializeOwned>(
    r: &mut R,
) -> io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The `SqlConnector` of the simulator: the same SQL text as production, over framed turmoil TCP.
pub struct FramedSqlConnector {
    pub dialer: SharedDialer,
    pub user: String,
    pub password: String,
    /// Bounds dial + greeting (the Go operator's dial timeout is 5s).
    pub connect_timeout: Duration,
    /// Shown as `Host` in the server's processlist.
    pub client_host: Option<String>,
}

impl FramedSqlConnector {
    pub fn new(dialer: SharedDialer, user: &str, password: &str) -> Self {
        Self {
            dialer,
            user: user.to_string(),
            password: password.to_string(),
            connect_timeout: Duration::from_secs(5),
            client_host: None,
        }
    }

    pub fn with_client_host(mut self, host: &str) -> Self {
        self.client_host = Some(host.to_string());
        self
    }
}

/// One open framed session.
pub struct FramedConn {
    io: Option<bloodraven::net::BoxIo>,
    pub server_uuid: String,
    pub connection_id: u64,
    peer: String,
}

impl FramedConn {
    /// Dials and handshakes (no timeout; wrap it).
    pub async fn open(
        dialer: &SharedDialer,
        host: &str,
        port: u16,
        hs: &Handshake,
    ) -> Result<FramedConn, SqlError> {
        let peer = format!("{host}:{port}");
        let mut io = dialer.dial(host, port).await.map_err(|e| {
            SqlError::new(
                SqlError::CANNOT_CONNECT,
                format!("Can't connect to MySQL server on '{peer}' ({e})"),
            )
        })?;
        let lost = |e: io::Error| {
            SqlError::transport(format!("Lost connection to MySQL server at '{peer}', reading initial communication packet ({e})"))
        };
        write_frame(&mut io, hs).await.map_err(lost)?;
        match read_frame::<_, HandshakeReply>(&mut io)
            .await
            .map_err(lost)?
        {
            HandshakeReply::Greeting(g) => Ok(FramedConn {
                io: Some(io),
                server_uuid: g.server_uuid,
                connection_id: g.connection_id,
                peer,
            }),
            HandshakeReply::Err { err } => Err(err),
        }
    }

    pub async fn send(&mut self, req: &Request) -> Result<(), SqlError> {
        let Some(io) = self.io.as_mut() else {
            return Err(SqlError::transport(format!(
                "connection to '{}' is closed",
                self.peer
            )));
        };
        if let Err(e) = write_frame(io, req).await {
            self.io = None;
            return Err(SqlError::transport(format!(
                "Lost connection to MySQL server at '{}' ({e})",
                self.peer
            )));
        }
        Ok(())
    }

    pub async fn recv(&mut self) -> Result<Response, SqlError> {
        let Some(io) = self.io.as_mut() else {
            return Err(SqlError::transport(format!(
                "connection to '{}' is closed",
                self.peer
            )));
        };
        match read_frame(io).await {
            Ok(r) => Ok(r),
            Err(e) => {
                self.io = None;
                Err(SqlError::transport(format!(
                    "Lost connection to MySQL server at '{}' during query ({e})",
                    self.peer
                )))
            }
        }
    }

    /// Gives the stream away (the replica IO thread splits it).
    pub fn into_io(self) -> Option<bloodraven::net::BoxIo> {
        self.io
    }
}

#[async_trait]
impl SqlConn for FramedConn {
    async fn query(&mut self, sql: &str) -> Result<QueryResult, SqlError> {
        self.send(&Request::Sql(sql.to_string())).await?;
        match self.recv().await? {
            Response::Ok(r) => Ok(r),
            Response::Err(e) => Err(e),
            other => {
                self.io = None;
                Err(SqlError::transport(format!(
                    "unexpected frame from '{}': {other:?}",
                    self.peer
                )))
            }
        }
    }
}

#[async_trait]
impl SqlConnector for FramedSqlConnector {
    async fn connect(&self, host: &str, port: u16) -> Result<Box<dyn SqlConn>, SqlError> {
        let hs = Handshake {
            user: self.user.clone(),
            password: self.password.clone(),
            host: self.client_host.clone(),
        };
        match tokio::time::timeout(
            self.connect_timeout,
            FramedConn::open(&self.dialer, host, port, &hs),
        )
        .await
        {
            Ok(Ok(c)) => Ok(Box::new(c)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SqlError::new(
                SqlError::CANNOT_CONNECT,
                format!(
                    "{host}:{port}: connect timed out after {:?}",
                    self.connect_timeout
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_documented_json_shapes() {
        assert_eq!(
            serde_json::to_string(&Request::Sql("SELECT 1".into())).unwrap(),
            r#"{"sql":"SELECT 1"}"#
        );
        assert_eq!(
            serde_json::to_string(&Request::BinlogDump { have: "".into() }).unwrap(),
            r#"{"binlog_dump":{"have":""}}"#
        );
        assert_eq!(
            serde_json::to_string(&Response::Heartbeat {}).unwrap(),
            r#"{"heartbeat":{}}"#
        );
        let err: Response = serde_json::from_str(r#"{"err":{"code":1236,"message":"x"}}"#).unwrap();
        assert_eq!(err, Response::Err(SqlError::new(1236, "x")));
        let g: HandshakeReply =
            serde_json::from_str(r#"{"server_uuid":"u","connection_id":3}"#).unwrap();
        assert_eq!(
            g,
            HandshakeReply::Greeting(Greeting {
                server_uuid: "u".into(),
                connection_id: 3
            })
        );
        let e: HandshakeReply =
            serde_json::from_str(r#"{"err":{"code":1045,"message":"denied"}}"#).unwrap();
        assert_eq!(
            e,
            HandshakeReply::Err {
                err: SqlError::new(1045, "denied")
            }
        );
        let hs: Handshake = serde_json::from_str(r#"{"user":"root","password":"p"}"#).unwrap();
        assert_eq!(hs.host, None);
    }

    #[tokio::test]
    async fn frame_round_trip_and_eof() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_frame(&mut a, &Request::Sql("KILL 1".into()))
            .await
            .unwrap();
        let r: Request = read_frame(&mut b).await.unwrap();
        assert_eq!(r, Request::Sql("KILL 1".into()));
        drop(a);
        let e = read_frame::<_, Request>(&mut b).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
