//! `INFO replication` as Dragonfly prints it (`key:value` lines under `# Replication`),
//! reduced to what the manager decides on.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

/// One site's replication state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplInfo {
    pub role: Role,
    /// Master: attached replicas.
    pub connected_slaves: u64,
    /// Master: bytes of replication stream produced; replica: bytes applied.
    pub offset: u64,
    /// Replica: the master it follows.
    pub master_host: String,
    pub master_port: u16,
    pub link_up: bool,
    /// -1 when the link never did I/O.
    pub last_io_seconds_ago: i64,
    pub sync_in_progress: bool,
    pub loading: bool,
}

impl ReplInfo {
    /// Spec §7.1: link up, some I/O seen, not syncing, not loading.
    pub fn replica_ready(&self) -> bool {
        self.role == Role::Replica
            && self.link_up
            && self.last_io_seconds_ago >= 0
            && !self.sync_in_progress
            && !self.loading
    }

    /// A master that never served anything: a freshly started (or restarted) empty node.
    pub fn pristine_master(&self) -> bool {
        self.role == Role::Master && self.connected_slaves == 0 && self.offset == 0
    }
}

/// Parses `INFO replication` (other sections, comments and unknown keys are ignored).
pub fn parse(text: &str) -> Result<ReplInfo, String> {
    let kv: BTreeMap<&str, &str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .collect();
    let num = |k: &str| -> Result<Option<i64>, String> {
        kv.get(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("INFO replication: {k}:{v} is not a number"))
            })
            .transpose()
    };
    let role = match kv.get("role").copied() {
        Some("master") => Role::Master,
        Some("slave") | Some("replica") => Role::Replica,
        Some(other) => return Err(format!("INFO replication: unknown role {other:?}")),
        None => return Err("INFO replication: no role line".into()),
    };
    let offset = match role {
        Role::Master => num("master_repl_offset")?,
        Role::Replica => num("slave_repl_offset")?,
    }
    .unwrap_or(0)
    .max(0) as u64;
    Ok(ReplInfo {
        role,
        connected_slaves: num("connected_slaves")?.unwrap_or(0).max(0) as u64,
        offset,
        master_host: kv.get("master_host").unwrap_or(&"").to_string(),
        master_port: num("master_port")?.unwrap_or(0).clamp(0, 65535) as u16,
        link_up: kv.get("master_link_status") == Some(&"up"),
        last_io_seconds_ago: num("master_last_io_seconds_ago")?.unwrap_or(-1),
        sync_in_progress: num("master_sync_in_progress")?.unwrap_or(0) != 0,
        loading: num("loading")?.unwrap_or(0) != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_and_replica() {
        let m = parse("# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=10.0.0.2,port=6379,state=online,lag=0\r\nmaster_repl_offset:4096\r\n").unwrap();
        assert_eq!(
            (m.role, m.connected_slaves, m.offset),
            (Role::Master, 1, 4096)
        );
        assert!(!m.pristine_master());
        let r = parse("role:slave\nmaster_host:df-a\nmaster_port:6379\nmaster_link_status:up\nmaster_last_io_seconds_ago:0\nmaster_sync_in_progress:0\nslave_repl_offset:4000\n").unwrap();
        assert_eq!(
            (r.role, r.offset, r.master_host.as_str(), r.master_port),
            (Role::Replica, 4000, "df-a", 6379)
        );
        assert!(r.replica_ready());
        let down = parse("role:replica\nmaster_host:df-a\nmaster_link_status:down\n").unwrap();
        assert!(!down.replica_ready());
        assert_eq!(down.last_io_seconds_ago, -1);
    }

    #[test]
    fn bad_text_is_named() {
        assert!(parse("connected_slaves:1").unwrap_err().contains("no role"));
        assert!(parse("role:sentinel").unwrap_err().contains("sentinel"));
        assert!(parse("role:master\nmaster_repl_offset:x")
            .unwrap_err()
            .contains("master_repl_offset"));
    }
}
