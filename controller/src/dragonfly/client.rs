//! A connection to one Dragonfly, over the network seam, every exchange bounded by a
//! timeout (a blackholed node must not freeze a manager tick).

use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};

use super::info::{self, ReplInfo};
use super::resp::{self, Reply};
use crate::net::{BoxIo, Dialer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DfError {
    #[error("{0}: unreachable: {1}")]
    Unreachable(String, String),
    #[error("{0}: {1} timed out after {2:?}")]
    Timeout(String, String, Duration),
    #[error("{0}: {1} refused: {2}")]
    Refused(String, String, String),
    #[error("{0}: {1}: protocol error: {2}")]
    Protocol(String, String, String),
}

pub struct DfConn {
    host: String,
    io: BufReader<BoxIo>,
}

impl DfConn {
    pub async fn open(
        dialer: &dyn Dialer,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Self, DfError> {
        match tokio::time::timeout(timeout, dialer.dial(host, port)).await {
            Ok(Ok(io)) => Ok(Self {
                host: host.into(),
                io: BufReader::new(io),
            }),
            Ok(Err(e)) => Err(DfError::Unreachable(host.into(), e.to_string())),
            Err(_) => Err(DfError::Timeout(host.into(), "connect".into(), timeout)),
        }
    }

    /// `AUTH <password>` (the default user): Dragonfly refuses every other command on a
    /// connection that has not authenticated when it runs with `requirepass`.
    pub async fn auth(&mut self, password: &str, timeout: Duration) -> Result<(), DfError> {
        let what = "AUTH".to_string();
        let exchange = async {
            self.io
                .get_mut()
                .write_all(&resp::encode_command(&["AUTH", password]))
                .await?;
            self.io.get_mut().flush().await?;
            resp::read(&mut self.io).await
        };
        // The command text would carry the password into logs and status: name it only.
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(Reply::Error(e))) => Err(DfError::Refused(self.host.clone(), what, e)),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(DfError::Protocol(self.host.clone(), what, e.to_string())),
            Err(_) => Err(DfError::Timeout(self.host.clone(), what, timeout)),
        }
    }

    /// Sends one command and reads its reply; a server error reply is `Refused`.
    pub async fn call(&mut self, args: &[&str], timeout: Duration) -> Result<Reply, DfError> {
        let what = args.join(" ");
        let exchange = async {
            self.io
                .get_mut()
                .write_all(&resp::encode_command(args))
                .await?;
            self.io.get_mut().flush().await?;
            resp::read(&mut self.io).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(Reply::Error(e))) => Err(DfError::Refused(self.host.clone(), what, e)),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(DfError::Protocol(self.host.clone(), what, e.to_string())),
            Err(_) => Err(DfError::Timeout(self.host.clone(), what, timeout)),
        }
    }

    pub async fn info_replication(&mut self, timeout: Duration) -> Result<ReplInfo, DfError> {
        let r = self.call(&["INFO", "replication"], timeout).await?;
        let text = r.text().ok_or_else(|| {
            DfError::Protocol(
                self.host.clone(),
                "INFO replication".into(),
                format!("unexpected reply {r:?}"),
            )
        })?;
        info::parse(&text)
            .map_err(|e| DfError::Protocol(self.host.clone(), "INFO replication".into(), e))
    }

    pub async fn replicaof(
        &mut self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<(), DfError> {
        self.call(&["REPLICAOF", host, &port.to_string()], timeout)
            .await
            .map(drop)
    }

    pub async fn replicaof_no_one(&mut self, timeout: Duration) -> Result<(), DfError> {
        self.call(&["REPLICAOF", "NO", "ONE"], timeout)
            .await
            .map(drop)
    }

    /// `REPLTAKEOVER <secs>`: the replica makes its master stop writes, catches up, and
    /// takes over as master (sessions kept). `timeout` bounds the exchange on top.
    pub async fn repltakeover(&mut self, secs: u64, timeout: Duration) -> Result<(), DfError> {
        self.call(&["REPLTAKEOVER", &secs.max(1).to_string()], timeout)
            .await
            .map(drop)
    }

    /// `CLIENT KILL TYPE NORMAL`: drops application connections (replication links stay).
    pub async fn kill_normal_clients(&mut self, timeout: Duration) -> Result<(), DfError> {
        self.call(&["CLIENT", "KILL", "TYPE", "NORMAL"], timeout)
            .await
            .map(drop)
    }
}
