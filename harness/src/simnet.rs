//! turmoil implementations of the network seam (`bloodraven::net`).

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use bloodraven::net::{BoxIo, Dialer, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// The host pairs a `refuse`-mode partition cuts, shared by the run's driver (which cuts
/// and heals) and its [`RefusingDialer`]. One per simulated run, never process-global.
#[derive(Clone, Default)]
pub struct Refusals(Arc<Mutex<RefusalState>>);

#[derive(Default)]
struct RefusalState {
    cut: BTreeMap<(IpAddr, IpAddr), u32>,
    /// Readers parked on a stream of the pair, woken by a cut so it resets at once.
    parked: BTreeMap<(IpAddr, IpAddr), BTreeMap<u64, Waker>>,
    next_stream: u64,
}

impl Refusals {
    fn key(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
        if a < b {
            (a, b)
        } else {
            (b, a)
        }
    }

    /// Refuses `a` <-> `b` (counted: overlapping cuts heal when the last one does).
    pub fn cut(&self, a: IpAddr, b: IpAddr) {
        let key = Self::key(a, b);
        let mut st = self.0.lock().unwrap();
        *st.cut.entry(key).or_insert(0) += 1;
        for (_, w) in st.parked.remove(&key).unwrap_or_default() {
            w.wake();
        }
    }

    pub fn heal(&self, a: IpAddr, b: IpAddr) {
        let mut st = self.0.lock().unwrap();
        let key = Self::key(a, b);
        if let Some(n) = st.cut.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                st.cut.remove(&key);
            }
        }
    }

    pub fn refused(&self, a: IpAddr, b: IpAddr) -> bool {
        self.0.lock().unwrap().cut.contains_key(&Self::key(a, b))
    }

    fn new_stream(&self) -> u64 {
        let mut st = self.0.lock().unwrap();
        st.next_stream += 1;
        st.next_stream
    }

    fn park(&self, pair: (IpAddr, IpAddr), id: u64, waker: &Waker) {
        let mut st = self.0.lock().unwrap();
        st.parked
            .entry(Self::key(pair.0, pair.1))
            .or_default()
            .insert(id, waker.clone());
    }

    fn unpark(&self, pair: (IpAddr, IpAddr), id: u64) {
        let mut st = self.0.lock().unwrap();
        let key = Self::key(pair.0, pair.1);
        if let Some(m) = st.parked.get_mut(&key) {
            m.remove(&id);
            if m.is_empty() {
                st.parked.remove(&key);
            }
        }
    }
}

/// A [`SimDialer`] that models a rejecting network (NetworkPolicy reject, a proxy in
/// `reset` mode): while [`Refusals`] cuts a pair, a connect fails at once with
/// `ConnectionRefused` and every established stream between them fails its next read or
/// write with `ConnectionReset`, instead of hanging as a dropped-packet partition does.
/// Dropping the failed stream closes the other end too.
pub struct RefusingDialer {
    pub refusals: Refusals,
}

#[async_trait]
impl Dialer for RefusingDialer {
    async fn dial(&self, host: &str, port: u16) -> io::Result<BoxIo> {
        let s = turmoil::net::TcpStream::connect((host, port)).await?;
        let pair = (s.local_addr()?.ip(), s.peer_addr()?.ip());
        if self.refusals.refused(pair.0, pair.1) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{host}:{port}: connection refused"),
            ));
        }
        Ok(Box::new(RefusableStream {
            inner: s,
            pair,
            id: self.refusals.new_stream(),
            refusals: self.refusals.clone(),
        }))
    }
}

struct RefusableStream {
    inner: turmoil::net::TcpStream,
    pair: (IpAddr, IpAddr),
    id: u64,
    refusals: Refusals,
}

impl Drop for RefusableStream {
    fn drop(&mut self) {
        self.refusals.unpark(self.pair, self.id);
    }
}

impl RefusableStream {
    fn reset(&self) -> Option<io::Error> {
        self.refusals
            .refused(self.pair.0, self.pair.1)
            .then(|| io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer"))
    }
}

impl AsyncRead for RefusableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.reset() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if r.is_pending() {
            self.refusals.park(self.pair, self.id, cx.waker());
        }
        r
    }
}

impl AsyncWrite for RefusableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
