//! An in-process TCP fault proxy: one per link a scenario may cut. No maintained Rust crate
//! offers a programmable in-process proxy (toxiproxy is a Go server), so this is a small
//! tokio one. A link can refuse new connections, hold bytes in either direction (a
//! blackhole, or a one-way cut), add latency, and reset the connections it holds.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What a link does to its traffic right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// New connections are accepted and closed at once: the dialer sees a refusal.
    pub refuse: bool,
    /// Bytes from the dialing side are held (never delivered while set).
    pub hold_up: bool,
    /// Bytes back to the dialing side are held.
    pub hold_down: bool,
    /// Delay before each forwarded chunk.
    pub latency: Duration,
    /// Connections opened under an older generation are closed (a reset).
    pub generation: u64,
}

impl LinkState {
    pub fn blocked(&self) -> bool {
        self.refuse || self.hold_up || self.hold_down
    }
}

/// A listening proxy on 127.0.0.1 forwarding to `127.0.0.1:upstream`.
pub struct Proxy {
    pub port: u16,
    state: watch::Sender<LinkState>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: u16) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (state, rx) = watch::channel(LinkState::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, rx));
        Ok(Self {
            port,
            state,
            accept,
        })
    }

    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    pub fn set(&self, new: LinkState) {
        self.state.send_if_modified(|cur| {
            let changed = *cur != new;
            *cur = new;
            changed
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Connection tasks end too: their state channel closes with `self.state`.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: u16, rx: watch::Receiver<LinkState>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        if rx.borrow().refuse {
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, upstream, rx.clone()));
    }
}

async fn connection(client: TcpStream, upstream: u16, rx: watch::Receiver<LinkState>) {
    let generation = rx.borrow().generation;
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // No half-close: when either direction ends, the whole connection ends (neither MySQL
    // nor HTTP/1.1 clients rely on it).
    tokio::select! {
        _ = pump(cr, sw, rx.clone(), generation, |s| s.hold_up) => {}
        _ = pump(sr, cw, rx, generation, |s| s.hold_down) => {}
    }
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut rx: watch::Receiver<LinkState>,
    generation: u64,
    held: fn(&LinkState) -> bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            changed = rx.changed() => {
                if changed.is_err() || rx.borrow().generation != generation {
                    return;
                }
                continue;
            }
        };
        loop {
            let s = *rx.borrow_and_update();
            if s.generation != generation {
                return;
            }
            if !held(&s) {
                if !s.latency.is_zero() {
                    tokio::time::sleep(s.latency).await;
                }
                break;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    async fn roundtrip(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
        s.write_all(b"ping").await.ok()?;
        let mut b = [0u8; 4];
        match tokio::time::timeout(wait, s.read_exact(&mut b)).await {
            Ok(Ok(_)) => Some(b.to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn forwards_holds_refuses_and_resets() {
        let p = Proxy::start(echo_server().await).await.unwrap();
        let mut c = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
        let long = Duration::from_secs(5);
        assert_eq!(roundtrip(&mut c, long).await.as_deref(), Some(&b"ping"[..]));

        // One way held: the request never arrives, the connection stays open.
        p.set(LinkState {
            hold_up: true,
            ..p.state()
        });
        assert_eq!(roundtrip(&mut c, Duration::from_millis(200)).await, None);
        // Released: the held bytes are delivered.
        p.set(LinkState {
            hold_up: false,
            ..p.state()
        });
        let mut b = [0u8; 4];
        tokio::time::timeout(long, c.read_exact(&mut b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&b, b"ping");

        // Refused: a new connection is closed before any byte; reset: the old one ends.
        p.set(LinkState {
            refuse: true,
            generation: 1,
            ..LinkState::default()
        });
        let mut d = TcpStream::connect(("127.0.0.1", p.port)).await.unwrap();
        let mut one = [0u8; 1];
        let r = tokio::time::timeout(long, d.read(&mut one)).await.unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let r = tokio::time::timeout(long, c.read(&mut one)).await.unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    }
}
