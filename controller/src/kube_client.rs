//! A `kube::Client` whose HTTP connections go through the network seam.
//!
//! Production uses `kube::Client::try_default()`-style construction from a kubeconfig or
//! the in-cluster config; the simulator and plain-HTTP test servers use this: the same
//! client type, the same requests, over connections opened by a [`Dialer`].

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;

use crate::http::BoxFuture;
use crate::net::Dialer;

/// tower service sending each request on a connection to `host:port` opened by the dialer.
#[derive(Clone)]
pub struct DialerService {
    dialer: Arc<dyn Dialer>,
    host: String,
    port: u16,
    timeout: Duration,
}

impl DialerService {
    /// `timeout` bounds connecting and receiving the response head (not a watch body).
    pub fn new(
        dialer: Arc<dyn Dialer>,
        host: impl Into<String>,
        port: u16,
        timeout: Duration,
    ) -> Self {
        Self {
            dialer,
            host: host.into(),
            port,
            timeout,
        }
    }
}

impl tower::Service<http::Request<kube::client::Body>> for DialerService {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = io::Error;
    type Future = BoxFuture<Result<Self::Response, io::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: http::Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let fut = async {
                let io = this.dialer.dial(&this.host, this.port).await?;
                let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                    .await
                    .map_err(io::Error::other)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let host = format!("{}:{}", this.host, this.port);
                req.headers_mut()
                    .insert(http::header::HOST, host.parse().map_err(io::Error::other)?);
                sender.send_request(req).await.map_err(io::Error::other)
            };
            match tokio::time::timeout(this.timeout, fut).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "apiserver request timed out",
                )),
            }
        })
    }
}

/// A kube client talking plain HTTP to `host:port` through `dialer`.
pub fn client_over(
    dialer: Arc<dyn Dialer>,
    host: &str,
    port: u16,
    namespace: &str,
) -> kube::Client {
    kube::Client::new(
        DialerService::new(dialer, host, port, Duration::from_secs(10)),
        namespace,
    )
}
