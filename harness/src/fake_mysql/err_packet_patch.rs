//! Gives ERR packets the real MySQL error code and SQLSTATE.
//!
//! opensrv-mysql writes errors only through its `ErrorKind` enum, which stops at code 1885 (and
//! panics on a code it does not know), so 3081 and the clone errors cannot be expressed, and its
//! own authentication failure is 1698 with a message no MySQL prints. The server therefore
//! writes every error as ER_UNKNOWN_ERROR with the real code in a marker before the message;
//! this writer sits between opensrv and the socket and rewrites each such packet into what a
//! real server sends: `0xFF, code, '#', sqlstate, message`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bloodraven::sql::SqlError;
use tokio::io::AsyncWrite;

/// Starts the message of an error whose real code follows (`\u{1}3081\u{1}message`).
const MARKER: u8 = 0x01;
/// opensrv's code for a failed authentication.
const OPENSRV_AUTH_FAILED: u16 = 1698;

/// The message opensrv must write for `err` (with `ER_UNKNOWN_ERROR`).
pub fn encode(err: &SqlError) -> String {
    format!("\u{1}{}\u{1}{}", err.code, err.message)
}

/// The SQLSTATE MySQL sends with `code` (the codes the fake engine and accounts produce).
pub fn sqlstate(code: u16) -> &'static str {
    match code {
        1045 => "28000",
        1062 => "23000",
        1064 | 1227 | 1231 => "42000",
        _ => "HY000",
    }
}

/// Where the server leaves the 1045 error for a failed handshake, in place of opensrv's 1698.
pub type AuthErrorSlot = Arc<Mutex<Option<SqlError>>>;

/// An `AsyncWrite` that parses the packet stream and rewrites ERR packets.
pub struct ErrPacketPatch<W> {
    inner: W,
    /// Bytes received from opensrv that do not yet form a whole packet.
    partial: Vec<u8>,
    /// Rewritten bytes not yet accepted by `inner`.
    out: Vec<u8>,
    auth_error: AuthErrorSlot,
}

impl<W: AsyncWrite + Unpin> ErrPacketPatch<W> {
    pub fn new(inner: W, auth_error: AuthErrorSlot) -> Self {
        Self {
            inner,
            partial: Vec::new(),
            out: Vec::new(),
            auth_error,
        }
    }

    /// Moves every complete packet from `partial` to `out`, rewritten.
    fn take_packets(&mut self) {
        loop {
            if self.partial.len() < 4 {
                return;
            }
            let len =
                u32::from_le_bytes([self.partial[0], self.partial[1], self.partial[2], 0]) as usize;
            if self.partial.len() < 4 + len {
                return;
            }
            let seq = self.partial[3];
            let payload: Vec<u8> = self.partial.drain(..4 + len).skip(4).collect();
            let payload = self.rewrite(payload);
            let n = payload.len() as u32;
            self.out.extend_from_slice(&n.to_le_bytes()[..3]);
            self.out.push(seq);
            self.out.extend_from_slice(&payload);
        }
    }

    fn rewrite(&self, payload: Vec<u8>) -> Vec<u8> {
        // No other packet starts with 0xFF: rows start with a length-encoded string (0xFF is
        // not a valid length), OK and EOF with 0x00/0xFE, column definitions with "def".
        if payload.len() < 9 || payload[0] != 0xFF {
            return payload;
        }
        let code = u16::from_le_bytes([payload[1], payload[2]]);
        let message = &payload[9..];
        let err = if message.first() == Some(&MARKER) {
            decode(message)
        } else if code == OPENSRV_AUTH_FAILED {
            self.auth_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
        } else {
            None
        };
        match err {
            Some(err) => {
                let mut p = vec![0xFF];
                p.extend_from_slice(&err.code.to_le_bytes());
                p.push(b'#');
                p.extend_from_slice(sqlstate(err.code).as_bytes());
                p.extend_from_slice(err.message.as_bytes());
                p
            }
            None => payload,
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = match Pin::new(&mut self.inner).poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            self.out.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

fn decode(message: &[u8]) -> Option<SqlError> {
    let text = std::str::from_utf8(&message[1..]).ok()?;
    let (code, rest) = text.split_once('\u{1}')?;
    Some(SqlError::new(code.parse().ok()?, rest))
}

impl<W: AsyncWrite + Unpin> AsyncWrite for ErrPacketPatch<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Accept everything; bytes reach the socket on flush (opensrv flushes every reply).
        this.partial.extend_from_slice(buf);
        this.take_packets();
        match this.poll_drain(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(buf.len())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn err_packet(seq: u8, code: u16, message: &str) -> Vec<u8> {
        let mut p = vec![0xFF];
        p.extend_from_slice(&code.to_le_bytes());
        p.extend_from_slice(b"#HY000");
        p.extend_from_slice(message.as_bytes());
        let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
        out.push(seq);
        out.extend_from_slice(&p);
        out
    }

    #[tokio::test]
    async fn marked_errors_get_their_code_and_sqlstate_split_writes_included() {
        let slot = AuthErrorSlot::default();
        let mut w = ErrPacketPatch::new(Vec::new(), slot);
        let msg = encode(&SqlError::new(1064, "You have an error"));
        let bytes = err_packet(1, 1105, &msg);
        let ok = [7u8, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0];
        w.write_all(&bytes[..5]).await.unwrap();
        w.write_all(&bytes[5..]).await.unwrap();
        w.write_all(&ok).await.unwrap();
        w.flush().await.unwrap();
        let mut want = err_packet(1, 1064, "You have an error");
        want[8..13].copy_from_slice(b"42000");
        want.extend_from_slice(&ok);
        assert_eq!(w.inner, want);
    }

    #[tokio::test]
    async fn auth_failure_becomes_the_1045_left_in_the_slot() {
        let slot = AuthErrorSlot::default();
        *slot.lock().unwrap() = Some(SqlError::new(1045, "Access denied"));
        let mut w = ErrPacketPatch::new(Vec::new(), slot.clone());
        w.write_all(&err_packet(2, 1698, "Authenticate failed"))
            .await
            .unwrap();
        w.flush().await.unwrap();
        let mut want = err_packet(2, 1045, "Access denied");
        want[8..13].copy_from_slice(b"28000");
        assert_eq!(w.inner, want);
        assert!(slot.lock().unwrap().is_none());
    }
}
