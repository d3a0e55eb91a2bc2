//! The RESP server of one fake Dragonfly: client commands, the controller's admin
//! commands, and the replication commands replicas send (`DFLYSYNC`, `DFLYTAKEOVER`).

use std::time::Duration;

use bloodraven::dragonfly::resp::{self, Reply};
use bloodraven::net::{BoxIo, Listener, SharedDialer};
use tokio::io::{AsyncWriteExt, BufReader};

use super::node::{Node, Role};
use super::replica::{apply_reply, dial_master, tail_for};

/// Accepts connections forever; one task per connection.
pub async fn serve(node: Node, mut listener: Box<dyn Listener>, dialer: SharedDialer) {
    while let Ok(io) = listener.accept().await {
        tokio::spawn(connection(node.clone(), io, dialer.clone()));
    }
}

async fn connection(node: Node, io: BoxIo, dialer: SharedDialer) {
    let mut io = BufReader::new(io);
    let mut epoch = node.lock().kill_epoch;
    let mut replication = false;
    let mut authed = node.lock().password.is_none();
    loop {
        let args = match resp::read_command(&mut io).await {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                let _ = io
                    .get_mut()
                    .write_all(&Reply::err(format!("ERR Protocol error: {e}")).encode())
                    .await;
                return;
            }
            Err(_) => return,
        };
        // CLIENT KILL TYPE NORMAL closed application connections opened before it.
        if !replication && node.lock().kill_epoch != epoch {
            return;
        }
        let name = args[0].to_ascii_uppercase();
        if name == "DFLYSYNC" || name == "DFLYTAKEOVER" {
            replication = true;
        }
        let reply = if name == "AUTH" {
            let r = auth(&node, &args[1..]);
            authed |= matches!(r, Reply::Simple(_));
            r
        } else if !authed {
            Reply::err("NOAUTH Authentication required.")
        } else {
            command(&node, &args, &dialer).await
        };
        if name == "CLIENT" {
            epoch = node.lock().kill_epoch; // SKIPME: the caller survives its own kill
        }
        if io.get_mut().write_all(&reply.encode()).await.is_err() {
            return;
        }
        let _ = io.get_mut().flush().await;
    }
}

/// `AUTH [username] <password>` against `requirepass`, with Redis's own refusals.
fn auth(node: &Node, args: &[String]) -> Reply {
    let (user, given) = match args {
        [pw] => ("default", pw.as_str()),
        [user, pw] => (user.as_str(), pw.as_str()),
        _ => return arity("AUTH"),
    };
    let Some(want) = node.lock().password.clone() else {
        return Reply::err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    };
    if user == "default" && given == want {
        Reply::ok()
    } else {
        Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
    }
}

fn arity(name: &str) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

async fn command(node: &Node, args: &[String], dialer: &SharedDialer) -> Reply {
    let name = args[0].to_ascii_uppercase();
    let now = crate::trace::now_ms();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match (name.as_str(), &a[1..]) {
        ("PING", []) => Reply::Simple("PONG".into()),
        ("INFO", [] | ["replication" | "REPLICATION"]) => Reply::bulk(node.info_replication(now)),
        ("INFO", ["persistence" | "PERSISTENCE"]) => Reply::bulk(node.info_persistence()),
        ("SAVE", []) => {
            node.save(now);
            Reply::ok()
        }
        ("BGSAVE", []) => {
            node.save(now);
            Reply::Simple("Background saving started".into())
        }
        ("INFO", [other]) => Reply::bulk(format!("# {other}\r\n")),
        ("SET", [k, v]) => match node.set(k, v) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::err(e),
        },
        ("GET", [k]) => Reply::Bulk(node.get(k).map(String::into_bytes)),
        ("REPLICAOF" | "SLAVEOF", [no, one])
            if no.eq_ignore_ascii_case("no") && one.eq_ignore_ascii_case("one") =>
        {
            let mut s = node.lock();
            if s.role != Role::Master {
                s.role = Role::Master;
                s.link_up = false;
                s.sync_in_progress = false;
                // A new history: replicas of the old master cannot continue from it.
                s.boots += 1;
                s.replid ^= 0x5a5a_0000_0000 ^ (s.boots << 40);
                let site = s.site.clone();
                drop(s);
                node.record_role(&site, "master", "REPLICAOF NO ONE");
            }
            Reply::ok()
        }
        ("REPLICAOF" | "SLAVEOF", [host, port]) => {
            let Ok(port) = port.parse::<u16>() else {
                return Reply::err("ERR value is not an integer or out of range");
            };
            let mut s = node.lock();
            if *host == s.host {
                return Reply::err("ERR can't replicate from myself");
            }
            let want = Role::Replica {
                host: host.to_string(),
                port,
            };
            if s.role != want {
                s.role = want;
                s.link_up = false;
                s.sync_in_progress = true;
                s.writes_paused = false;
                let site = s.site.clone();
                drop(s);
                node.record_role(&site, "replica", &format!("REPLICAOF {host}"));
            }
            Reply::ok()
        }
        ("REPLICAOF" | "SLAVEOF", _) => arity(&name),
        ("REPLTAKEOVER", [secs] | [secs, _]) => {
            let Ok(secs) = secs.parse::<u64>() else {
                return Reply::err("ERR value is not an integer or out of range");
            };
            takeover(node, secs, dialer).await
        }
        ("CLIENT", [kill, ty, normal])
            if kill.eq_ignore_ascii_case("kill")
                && ty.eq_ignore_ascii_case("type")
                && normal.eq_ignore_ascii_case("normal") =>
        {
            node.lock().kill_epoch += 1;
            Reply::Int(0)
        }
        ("DFLYSYNC", [host, replid, offset]) => {
            let (Ok(replid), Ok(offset)) = (replid.parse::<u64>(), offset.parse::<u64>()) else {
                return Reply::err("ERR bad DFLYSYNC arguments");
            };
            let mut s = node.lock();
            if s.role != Role::Master {
                return Reply::err("ERR not a master");
            }
            s.replicas.insert(host.to_string(), now);
            tail_for(&s, replid, offset)
        }
        ("DFLYTAKEOVER", [host, replid, offset]) => {
            let (Ok(replid), Ok(offset)) = (replid.parse::<u64>(), offset.parse::<u64>()) else {
                return Reply::err("ERR bad DFLYTAKEOVER arguments");
            };
            let mut s = node.lock();
            if s.role != Role::Master {
                return Reply::err("ERR not a master");
            }
            // Stop client writes, hand the replica the tail, follow it from now on.
            let tail = tail_for(&s, replid, offset);
            s.role = Role::Replica {
                host: host.to_string(),
                port: super::PORT,
            };
            s.link_up = false;
            s.writes_paused = false;
            s.replicas.clear();
            let site = s.site.clone();
            drop(s);
            node.record_role(&site, "replica", &format!("taken over by {host}"));
            tail
        }
        (
            "PING" | "GET" | "SET" | "INFO" | "REPLTAKEOVER" | "CLIENT" | "DFLYSYNC"
            | "DFLYTAKEOVER" | "SAVE" | "BGSAVE",
            _,
        ) => arity(&name),
        _ => Reply::err(format!(
            "ERR unknown command '{}', with args beginning with: {}",
            args[0],
            a[1..].join(" ")
        )),
    }
}

/// REPLTAKEOVER on a replica: the master pauses writes and hands over its tail; this
/// node becomes master of the same history (sessions kept).
async fn takeover(node: &Node, secs: u64, dialer: &SharedDialer) -> Reply {
    let fail = || Reply::err("ERR Couldn't execute takeover");
    let (host, port, req) = {
        let s = node.lock();
        let Role::Replica { host, port } = s.role.clone() else {
            return Reply::err("ERR Cannot execute REPLTAKEOVER on a master");
        };
        if !s.link_up || s.sync_in_progress {
            return Reply::err("ERR Replica is not in stable sync");
        }
        let req = resp::encode_command(&[
            "DFLYTAKEOVER",
            &s.host,
            &s.replid.to_string(),
            &s.log.len().to_string(),
        ]);
        (host, port, req)
    };
    if secs == 0 {
        return fail();
    }
    let exchange = async {
        let mut io = dial_master(node, dialer, &host, port).await?;
        io.get_mut().write_all(&req).await?;
        io.get_mut().flush().await?;
        resp::read(&mut io).await
    };
    let reply = match tokio::time::timeout(Duration::from_secs(secs), exchange).await {
        Ok(Ok(r)) => r,
        _ => return fail(),
    };
    let now = crate::trace::now_ms();
    let mut s = node.lock();
    if !apply_reply(&mut s, reply, now) {
        return fail();
    }
    s.role = Role::Master;
    s.link_up = false;
    let site = s.site.clone();
    drop(s);
    node.record_role(&site, "master", "REPLTAKEOVER");
    Reply::ok()
}
