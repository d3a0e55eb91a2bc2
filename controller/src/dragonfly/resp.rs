//! The RESP2 framing Dragonfly speaks (the Redis protocol): commands are arrays of bulk
//! strings, replies are simple strings, errors, integers, bulk strings or arrays. Both the
//! controller's client and the harness's fake server use this codec; what each side
//! *means* by a command lives elsewhere.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// Refuse absurd lengths instead of allocating them (a garbage peer is not a reason to OOM).
const MAX_BULK: usize = 64 << 20;
const MAX_ARRAY: usize = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// None is the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// None is the null array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn ok() -> Self {
        Reply::Simple("OK".into())
    }

    pub fn bulk(s: impl AsRef<[u8]>) -> Self {
        Reply::Bulk(Some(s.as_ref().to_vec()))
    }

    pub fn err(msg: impl Into<String>) -> Self {
        Reply::Error(msg.into())
    }

    /// The reply as text (simple or bulk string).
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Simple(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![];
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => out.extend_from_slice(format!("+{}\r\n", one_line(s)).as_bytes()),
            Reply::Error(s) => out.extend_from_slice(format!("-{}\r\n", one_line(s)).as_bytes()),
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(b)) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(None) => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(Some(items)) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.encode_into(out);
                }
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// A command as sent on the wire: an array of bulk strings.
pub fn encode_command(args: &[&str]) -> Vec<u8> {
    Reply::Array(Some(args.iter().map(Reply::bulk).collect())).encode()
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

async fn line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<String> {
    let mut buf = Vec::new();
    let n = r.read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if buf.len() > MAX_BULK {
        return Err(bad("RESP line too long".into()));
    }
    if !buf.ends_with(b"\r\n") {
        return Err(bad("RESP line not terminated by CRLF".into()));
    }
    buf.truncate(buf.len() - 2);
    String::from_utf8(buf).map_err(|_| bad("RESP line is not UTF-8".into()))
}

fn length(s: &str, max: usize) -> io::Result<Option<usize>> {
    let n: i64 = s
        .parse()
        .map_err(|_| bad(format!("RESP length {s:?} is not a number")))?;
    match n {
        -1 => Ok(None),
        n if n < 0 || n as u64 > max as u64 => Err(bad(format!("RESP length {n} out of range"))),
        n => Ok(Some(n as usize)),
    }
}

/// Reads one reply (or one command, which is an array of bulk strings).
pub async fn read<R: AsyncBufRead + Unpin + Send>(r: &mut R) -> io::Result<Reply> {
    let head = line(r).await?;
    let (kind, rest) = head.split_at(head.len().min(1));
    Ok(match kind {
        "+" => Reply::Simple(rest.into()),
        "-" => Reply::Error(rest.into()),
        ":" => Reply::Int(
            rest.parse()
                .map_err(|_| bad(format!("RESP integer {rest:?} is not a number")))?,
        ),
        "$" => match length(rest, MAX_BULK)? {
            None => Reply::Bulk(None),
            Some(n) => {
                let mut b = vec![0; n + 2];
                r.read_exact(&mut b).await?;
                if !b.ends_with(b"\r\n") {
                    return Err(bad("RESP bulk string not terminated by CRLF".into()));
                }
                b.truncate(n);
                Reply::Bulk(Some(b))
            }
        },
        "*" => match length(rest, MAX_ARRAY)? {
            None => Reply::Array(None),
            Some(n) => {
                let mut items = Vec::with_capacity(n.min(64));
                for _ in 0..n {
                    items.push(Box::pin(read(r)).await?);
                }
                Reply::Array(Some(items))
            }
        },
        _ => return Err(bad(format!("RESP frame starts with {head:?}"))),
    })
}

/// Reads one command: an array of bulk strings, as text arguments.
pub async fn read_command<R: AsyncBufRead + Unpin + Send>(r: &mut R) -> io::Result<Vec<String>> {
    match read(r).await? {
        Reply::Array(Some(items)) if !items.is_empty() => items
            .into_iter()
            .map(|i| match i {
                Reply::Bulk(Some(b)) => {
                    String::from_utf8(b).map_err(|_| bad("command argument is not UTF-8".into()))
                }
                other => Err(bad(format!(
                    "command argument {other:?} is not a bulk string"
                ))),
            })
            .collect(),
        other => Err(bad(format!(
            "expected a command (array of bulk strings), got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> io::Result<Reply> {
        let mut r = tokio::io::BufReader::new(bytes);
        read(&mut r).await
    }

    #[tokio::test]
    async fn round_trips_every_kind() {
        let replies = [
            Reply::ok(),
            Reply::err("ERR unknown command"),
            Reply::Int(-42),
            Reply::bulk("a\r\nb"),
            Reply::Bulk(None),
            Reply::Array(None),
            Reply::Array(Some(vec![
                Reply::Int(1),
                Reply::bulk("x"),
                Reply::Array(Some(vec![])),
            ])),
        ];
        for r in replies {
            assert_eq!(parse(&r.encode()).await.unwrap(), r);
        }
    }

    #[tokio::test]
    async fn commands_are_arrays_of_bulk_strings() {
        let wire = encode_command(&["REPLICAOF", "NO", "ONE"]);
        assert_eq!(
            wire,
            b"*3\r\n$9\r\nREPLICAOF\r\n$2\r\nNO\r\n$3\r\nONE\r\n".to_vec()
        );
        let mut r = tokio::io::BufReader::new(&wire[..]);
        assert_eq!(
            read_command(&mut r).await.unwrap(),
            ["REPLICAOF", "NO", "ONE"]
        );
    }

    #[tokio::test]
    async fn garbage_is_refused_with_a_reason() {
        for (bytes, want) in [
            (&b"hello\r\n"[..], "starts with"),
            (b"$5\r\nab\r\n", "early eof"),
            (b"$x\r\n", "not a number"),
            (b"*99999999999\r\n", "out of range"),
            (b"+OK\n", "crlf"),
        ] {
            let e = parse(bytes).await.unwrap_err().to_string();
            assert!(e.to_lowercase().contains(want), "{bytes:?}: {e}");
        }
        let mut r = tokio::io::BufReader::new(&b":1\r\n"[..]);
        assert!(read_command(&mut r).await.is_err());
    }
}
