//! Small HTTP/1.1 helpers over the network seam: a server loop for any [`Listener`] and
//! a bounded GET client for any [`Dialer`]. Used by the controller's aux endpoints and by
//! the sidecar (its own endpoints, and its checks of the controller and peers).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::net::{Dialer, Listener};

/// A plain response: status, content type, body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: value.to_string(),
        }
    }
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Request handler: method and path-with-query in, reply out.
pub type Handler = Arc<dyn Fn(http::Method, String) -> BoxFuture<Reply> + Send + Sync>;

/// Serves HTTP/1.1 on `listener` until accept fails. Each connection runs in its own task.
pub async fn serve(mut listener: Box<dyn Listener>, handler: Handler) -> io::Result<()> {
    loop {
        let io = listener.accept().await?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let path = req
                        .uri()
                        .path_and_query()
                        .map_or("/".to_string(), |p| p.to_string());
                    let reply = handler(req.method().clone(), path).await;
                    let resp = hyper::Response::builder()
                        .status(reply.status)
                        .header("content-type", reply.content_type)
                        .body(Full::new(Bytes::from(reply.body)))
                        .expect("static response parts are valid");
                    Ok::<_, std::convert::Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

/// A response as seen by a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// `GET http://host:port{path}` on a fresh connection, bounded by `timeout` overall.
pub async fn get(
    dialer: &dyn Dialer,
    host: &str,
    port: u16,
    path: &str,
    timeout: Duration,
) -> io::Result<Response> {
    let fut = async {
        let io = dialer.dial(host, port).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get(path)
            .header("host", format!("{host}:{port}"))
            .body(Full::new(Bytes::new()))
            .map_err(io::Error::other)?;
        let resp = sender.send_request(req).await.map_err(io::Error::other)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(io::Error::other)?
            .to_bytes();
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("GET {host}:{port}{path} timed out"),
        )),
    }
}
