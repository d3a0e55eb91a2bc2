//! Serves one [`Engine`] over the framed protocol ([`super::wire`]).

use std::time::Duration;

use bloodraven::net::{BoxIo, Listener};

use super::accounts;
use super::engine::{Engine, SessionKind};
use super::wire::{
    read_frame, write_frame, Greeting, Handshake, HandshakeReply, Request, Response,
};

/// A dump thread sends a heartbeat after this much idle time (replicas give up after 10s).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A client must send its handshake within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accept loop: one session task per connection. Runs until the host dies.
pub async fn serve(engine: Engine, mut listener: Box<dyn Listener>) {
    loop {
        match listener.accept().await {
            Ok(io) => {
                tokio::spawn(connection(engine.clone(), io));
            }
            Err(e) => {
                tracing::warn!(error = %e, "fake mysqld: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Removes the processlist entry when the connection task ends.
struct SessionGuard {
    engine: Engine,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.engine.close_session(self.id);
    }
}

async fn connection(engine: Engine, mut io: BoxIo) {
    if !engine.is_up() {
        return;
    }
    let hs: Handshake = match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame(&mut io)).await {
        Ok(Ok(hs)) => hs,
        _ => return,
    };
    let host = hs.host.clone().unwrap_or_else(|| "unknown".to_string());
    let (id, kill) = engine.open_session(&hs.user, &host, SessionKind::Client, "Sleep");
    let _guard = SessionGuard {
        engine: engine.clone(),
        id,
    };
    let user = hs.user.clone();

    if engine.state().hang {
        // Blackhole: the TCP connection exists, the greeting never comes.
        loop {
            tokio::select! {
                r = read_frame::<_, Request>(&mut io) => if r.is_err() { return },
                _ = kill.notified() => return,
            }
        }
    }
    // The same accounts as the wire server: a wrong password or unknown user gets 1045.
    if let Err(err) = accounts::check_plain(&user, &host, &hs.password) {
        let _ = write_frame(&mut io, &HandshakeReply::Err { err }).await;
        return;
    }
    let greeting = HandshakeReply::Greeting(Greeting {
        server_uuid: engine.server_uuid(),
        connection_id: id,
    });
    if write_frame(&mut io, &greeting).await.is_err() {
        return;
    }

    loop {
        let req = tokio::select! {
            r = read_frame::<_, Request>(&mut io) => r,
            _ = kill.notified() => return,
        };
        let Ok(req) = req else { return };
        match req {
            Request::Sql(sql) => {
                if engine.state().hang {
                    continue;
                }
                engine.set_session_command(id, "Query", "executing", Some(&sql));
                let ex = tokio::select! {
                    ex = engine.execute(id, &user, &sql) => ex,
                    _ = kill.notified() => return,
                };
                if ex.ambiguous || !engine.session_alive(id) {
                    return;
                }
                engine.set_session_command(id, "Sleep", "", None);
                if engine.state().hang {
                    continue;
                }
                let resp = match ex.result {
                    Ok(r) => Response::Ok(r),
                    Err(e) => Response::Err(e),
                };
                if write_frame(&mut io, &resp).await.is_err() {
                    return;
                }
            }
            Request::BinlogDump { have } => {
                dump(&engine, id, &kill, &mut io, &have).await;
                return;
            }
        }
    }
}

/// A replica's dump thread: streams every binlog transaction the replica lacks, then new
/// commits as they happen, with heartbeats when idle.
async fn dump(engine: &Engine, id: u64, kill: &tokio::sync::Notify, io: &mut BoxIo, have: &str) {
    {
        let mut s = engine.state();
        if let Some(sess) = s.sessions.get_mut(&id) {
            sess.kind = SessionKind::BinlogDump;
        }
    }
    engine.set_session_command(
        id,
        "Binlog Dump GTID",
        "Source has sent all binlog to replica; waiting for more updates",
        None,
    );
    let mut have = match engine.dump_check(have) {
        Ok(h) => h,
        Err(e) => {
            let _ = write_frame(io, &Response::Err(e)).await;
            return;
        }
    };
    let epoch = engine.epoch();
    let mut commits = engine.subscribe_commits();
    let mut pos = 0;
    loop {
        let hang = engine.state().hang;
        if !hang {
            let Some((txns, end)) = engine.binlog_since(epoch, pos) else {
                return;
            };
            pos = end;
            for txn in txns {
                if have.contains(&txn.uuid, txn.gno) {
                    continue;
                }
                have.add(&txn.uuid, txn.gno);
                if write_frame(io, &Response::Txn(txn)).await.is_err() {
                    return;
                }
            }
        }
        tokio::select! {
            _ = kill.notified() => return,
            r = tokio::time::timeout(HEARTBEAT, commits.changed()) => match r {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    if !hang && write_frame(io, &Response::Heartbeat {}).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}
