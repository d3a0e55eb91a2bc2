//! The network seam. The controller and the sidecar open and accept byte streams only
//! through these traits, so production (tokio TCP), the simulator (turmoil TCP) and the
//! local target (loopback TCP) run the same code.

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (a TCP connection in every target).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub type BoxIo = Box<dyn Io>;

/// Opens connections to `host:port`.
#[async_trait]
pub trait Dialer: Send + Sync + 'static {
    async fn dial(&self, host: &str, port: u16) -> io::Result<BoxIo>;
}

pub type SharedDialer = Arc<dyn Dialer>;

/// Accepts connections on a bound port.
#[async_trait]
pub trait Listener: Send + 'static {
    async fn accept(&mut self) -> io::Result<BoxIo>;
}

/// Production dialer: plain tokio TCP with Nagle off.
pub struct TokioDialer;

#[async_trait]
impl Dialer for TokioDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<BoxIo> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
}

/// Production listener over tokio TCP.
pub struct TokioListener(pub tokio::net::TcpListener);

impl TokioListener {
    pub async fn bind(addr: &str) -> io::Result<Self> {
        Ok(Self(tokio::net::TcpListener::bind(addr).await?))
    }
}

#[async_trait]
impl Listener for TokioListener {
    async fn accept(&mut self) -> io::Result<BoxIo> {
        let (stream, _) = self.0.accept().await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }
}

/// Splits `host:port` (port required).
pub fn split_host_port(addr: &str) -> io::Result<(String, u16)> {
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr:?}: expected host:port"),
        )
    })?;
    let port = port.parse::<u16>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("address {addr:?}: port {port:?} is not a number"),
        )
    })?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_string(), port))
}
