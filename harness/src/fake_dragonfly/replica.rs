//! The replication link: a replica pulls its master's log over the simulated network.

use std::time::Duration;

use bloodraven::dragonfly::resp::{self, Reply};
use bloodraven::net::{BoxIo, SharedDialer};
use tokio::io::{AsyncWriteExt, BufReader};

use super::node::{Node, Role, State};
use super::PULL_EVERY;

const LINK_TIMEOUT: Duration = Duration::from_secs(1);

/// Dials the master and, when this node has a password, authenticates the link with it
/// (`masterauth`): a master with `requirepass` serves no replica that does not.
pub(super) async fn dial_master(
    node: &Node,
    dialer: &SharedDialer,
    host: &str,
    port: u16,
) -> std::io::Result<BufReader<BoxIo>> {
    let mut io = BufReader::new(dialer.dial(host, port).await?);
    let password = node.lock().password.clone();
    if let Some(pw) = password {
        io.get_mut()
            .write_all(&resp::encode_command(&["AUTH", &pw]))
            .await?;
        io.get_mut().flush().await?;
        if let Reply::Error(e) = resp::read(&mut io).await? {
            return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, e));
        }
    }
    Ok(io)
}

/// A pull or takeover reply: `[replid, from, [k, v, k, v, ...]]`.
pub(super) fn sync_reply(replid: u64, from: u64, entries: &[(String, String)]) -> Reply {
    Reply::Array(Some(vec![
        Reply::Int(replid as i64),
        Reply::Int(from as i64),
        Reply::Array(Some(
            entries
                .iter()
                .flat_map(|(k, v)| [Reply::bulk(k), Reply::bulk(v)])
                .collect(),
        )),
    ]))
}

/// What the master answers a replica that has `offset` entries of history `replid`:
/// the missing tail, or everything when the histories differ.
pub(super) fn tail_for(s: &State, replid: u64, offset: u64) -> Reply {
    if replid == s.replid && offset <= s.log.len() as u64 {
        sync_reply(s.replid, offset, &s.log[offset as usize..])
    } else {
        sync_reply(s.replid, 0, &s.log)
    }
}

/// Applies a sync reply to a replica; false when it is malformed.
pub(super) fn apply_reply(s: &mut State, reply: Reply, now_ms: u64) -> bool {
    let Reply::Array(Some(items)) = reply else {
        return false;
    };
    let [Reply::Int(replid), Reply::Int(from), Reply::Array(Some(flat))] = items.as_slice() else {
        return false;
    };
    let mut entries = vec![];
    for pair in flat.chunks(2) {
        match pair {
            [Reply::Bulk(Some(k)), Reply::Bulk(Some(v))] => entries.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )),
            _ => return false,
        }
    }
    let (replid, from) = (*replid as u64, *from as u64);
    if from == 0 {
        // Full sync: the master's history replaces ours (whatever we held beyond it).
        s.log.clear();
        s.data.clear();
        s.replid = replid;
    }
    if replid != s.replid {
        return false;
    }
    Node::apply(s, from, &entries);
    s.link_up = true;
    s.sync_in_progress = false;
    s.last_io_ms = Some(now_ms);
    true
}

pub(super) fn pull_command(s: &State) -> Vec<u8> {
    resp::encode_command(&[
        "DFLYSYNC",
        &s.host,
        &s.replid.to_string(),
        &s.log.len().to_string(),
    ])
}

/// Runs for the life of the host: while a replica, keep one link to the master and pull.
pub async fn run(node: Node, dialer: SharedDialer) {
    let mut link: Option<(String, BufReader<BoxIo>)> = None;
    loop {
        tokio::time::sleep(PULL_EVERY).await;
        let Role::Replica { host, port } = node.role() else {
            link = None;
            continue;
        };
        if link.as_ref().is_none_or(|(h, _)| *h != host) {
            match tokio::time::timeout(LINK_TIMEOUT, dial_master(&node, &dialer, &host, port)).await
            {
                Ok(Ok(io)) => link = Some((host.clone(), io)),
                _ => {
                    node.lock().link_up = false;
                    link = None;
                    continue;
                }
            }
        }
        let (_, io) = link.as_mut().expect("just connected");
        let req = pull_command(&node.lock());
        let exchange = async {
            io.get_mut().write_all(&req).await?;
            io.get_mut().flush().await?;
            resp::read(io).await
        };
        let ok = match tokio::time::timeout(LINK_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => {
                let now = crate::trace::now_ms();
                let mut s = node.lock();
                // The role may have changed while we waited: only a replica of this
                // master applies.
                s.role
                    == (Role::Replica {
                        host: host.clone(),
                        port,
                    })
                    && apply_reply(&mut s, reply, now)
            }
            _ => false,
        };
        if !ok {
            node.lock().link_up = false;
            link = None;
        }
    }
}
