//! turmoil implementations of the network seam (`bloodraven::net`).

use std::io;

use async_trait::async_trait;
use bloodraven::net::{BoxIo, Dialer, Listener};

/// Dials hosts by name over the simulated network.
pub struct SimDialer;

#[async_trait]
impl Dialer for SimDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<BoxIo> {
        let s = turmoil::net::TcpStream::connect((host, port)).await?;
        Ok(Box::new(s))
    }
}

/// Accepts connections on a simulated port of the current host.
pub struct SimListener(pub turmoil::net::TcpListener);

impl SimListener {
    pub async fn bind(port: u16) -> io::Result<Self> {
        Ok(Self(
            turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?,
        ))
    }
}

#[async_trait]
impl Listener for SimListener {
    async fn accept(&mut self) -> io::Result<BoxIo> {
        let (s, _) = self.0.accept().await?;
        Ok(Box::new(s))
    }
}
