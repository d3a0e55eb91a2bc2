//! One Dragonfly's state: role, dataset, write log and replication offsets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::trace::{EventKind, Trace};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica { host: String, port: u16 },
}

#[derive(Debug)]
pub(super) struct State {
    pub site: String,
    pub host: String,
    pub role: Role,
    /// Identity of the write history: a replica whose master's history differs re-syncs
    /// from scratch.
    pub replid: u64,
    /// Every write of this history, in order; the offset is its length.
    pub log: Vec<(String, String)>,
    pub data: BTreeMap<String, String>,
    pub link_up: bool,
    /// Virtual ms of the last successful pull (None: never).
    pub last_io_ms: Option<u64>,
    pub sync_in_progress: bool,
    /// Replica host → virtual ms it last pulled.
    pub replicas: BTreeMap<String, u64>,
    /// A takeover handed writes to a replica: refuse client writes.
    pub writes_paused: bool,
    /// Bumped by CLIENT KILL TYPE NORMAL: normal connections opened before it close.
    pub kill_epoch: u64,
    /// Bumped at every boot, so replids stay unique and deterministic.
    pub boots: u64,
    /// `requirepass` (and `masterauth`, the same secret): configuration, kept across
    /// restarts. None: no authentication.
    pub password: Option<String>,
    /// `--dir s3://...`: where SAVE writes and a boot loads from. None: saves go to the
    /// pod's own disk, lost with the pod.
    pub snapshot: Option<(super::SnapshotStore, String)>,
    /// Writes since the last save, and the virtual ms of that save.
    pub changes_since_save: u64,
    pub last_save_ms: Option<u64>,
}

/// A handle on one fake Dragonfly (shared by its server, its replication task and the
/// world's fault injection and final truth).
#[derive(Clone, Debug)]
pub struct Node {
    pub(super) st: Arc<Mutex<State>>,
    pub(super) trace: Trace,
}

fn fresh_replid(site: &str, boots: u64) -> u64 {
    site.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) ^ (boots << 40)
}

impl Node {
    pub fn new(site: &str, host: &str, trace: Trace) -> Self {
        Self {
            st: Arc::new(Mutex::new(State {
                site: site.into(),
                host: host.into(),
                role: Role::Master,
                replid: fresh_replid(site, 0),
                log: vec![],
                data: BTreeMap::new(),
                link_up: false,
                last_io_ms: None,
                sync_in_progress: false,
                replicas: BTreeMap::new(),
                writes_paused: false,
                kill_epoch: 0,
                boots: 0,
                password: None,
                snapshot: None,
                changes_since_save: 0,
                last_save_ms: None,
            })),
            trace,
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A process start: empty dataset, a master of a new history (what a Dragonfly pod
    /// without snapshot comes back as).
    pub fn boot(&self) {
        let mut s = self.lock();
        s.boots += 1;
        s.replid = fresh_replid(&s.site, s.boots);
        s.role = Role::Master;
        s.log.clear();
        s.data.clear();
        s.changes_since_save = 0;
        s.last_save_ms = None;
        // A dump in the snapshot dir is loaded before serving; it becomes the start of a
        // new history, so replicas full-sync it.
        let loaded = s
            .snapshot
            .as_ref()
            .and_then(|(store, loc)| store.get(loc).map(|d| (loc.clone(), d)));
        let detail = match loaded {
            Some((loc, dump)) => {
                s.log = dump.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                s.data = dump;
                format!("boot (loaded {} key(s) from {loc})", s.data.len())
            }
            None => "boot (empty)".to_string(),
        };
        s.link_up = false;
        s.last_io_ms = None;
        s.sync_in_progress = false;
        s.replicas.clear();
        s.writes_paused = false;
        let site = s.site.clone();
        drop(s);
        self.record_role(&site, "master", &detail);
    }

    /// Runs with `--dir <location>` in `store`: SAVE writes there, a boot loads from it.
    pub fn snapshot_to(&self, store: &super::SnapshotStore, location: &str) {
        self.lock().snapshot = Some((store.clone(), location.to_string()));
    }

    /// `SAVE`: the whole dataset to the snapshot dir (the pod's own disk when none).
    pub(super) fn save(&self, now_ms: u64) {
        let mut s = self.lock();
        if let Some((store, loc)) = &s.snapshot {
            store.put(loc, s.data.clone());
        }
        s.changes_since_save = 0;
        s.last_save_ms = Some(now_ms);
    }

    /// `INFO persistence` as Dragonfly prints it (never loading: a load happens at boot,
    /// before the node serves).
    pub(super) fn info_persistence(&self) -> String {
        let s = self.lock();
        format!(
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:{}\r\nlast_save:{}\r\n",
            s.changes_since_save,
            s.last_save_ms.map_or(0, |ms| ms / 1000)
        )
    }

    pub(super) fn record_role(&self, site: &str, role: &str, detail: &str) {
        self.trace.record(EventKind::DragonflyRole {
            site: site.into(),
            role: role.into(),
            detail: detail.into(),
        });
    }

    /// Runs with `requirepass <password>` (and `masterauth` for its replication link).
    pub fn require_pass(&self, password: &str) {
        self.lock().password = Some(password.into());
    }

    pub fn site(&self) -> String {
        self.lock().site.clone()
    }

    pub fn host(&self) -> String {
        self.lock().host.clone()
    }

    pub fn role(&self) -> Role {
        self.lock().role.clone()
    }

    pub fn offset(&self) -> u64 {
        self.lock().log.len() as u64
    }

    /// Sorted keys of the dataset (final truth).
    pub fn keys(&self) -> Vec<String> {
        self.lock().data.keys().cloned().collect()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.lock().data.get(key).cloned()
    }

    /// A client write on a master (tests and the world's seeding).
    pub fn set(&self, key: &str, value: &str) -> Result<(), String> {
        let mut s = self.lock();
        if s.role != Role::Master {
            return Err("READONLY You can't write against a read only replica.".into());
        }
        if s.writes_paused {
            return Err("ERR takeover in progress; writes are paused".into());
        }
        s.log.push((key.into(), value.into()));
        s.data.insert(key.into(), value.into());
        s.changes_since_save += 1;
        Ok(())
    }

    /// Applies a slice of the master's log starting at this node's offset.
    pub(super) fn apply(s: &mut State, from: u64, entries: &[(String, String)]) {
        let have = s.log.len() as u64;
        for (i, (k, v)) in entries.iter().enumerate() {
            if from + i as u64 >= have {
                s.log.push((k.clone(), v.clone()));
                s.data.insert(k.clone(), v.clone());
            }
        }
    }

    /// `INFO replication` text as Dragonfly prints it.
    pub(super) fn info_replication(&self, now_ms: u64) -> String {
        let s = self.lock();
        let mut out = String::from("# Replication\r\n");
        match &s.role {
            Role::Master => {
                let live: Vec<_> = s
                    .replicas
                    .iter()
                    .filter(|(_, at)| now_ms.saturating_sub(**at) <= 2000)
                    .collect();
                out += "role:master\r\n";
                out += &format!("connected_slaves:{}\r\n", live.len());
                for (i, (h, _)) in live.iter().enumerate() {
                    out += &format!(
                        "slave{i}:ip={h},port={},state=online,lag=0\r\n",
                        super::PORT
                    );
                }
                out += &format!("master_replid:{:016x}\r\n", s.replid);
                out += &format!("master_repl_offset:{}\r\n", s.log.len());
            }
            Role::Replica { host, port } => {
                out += "role:slave\r\n";
                out += &format!("master_host:{host}\r\nmaster_port:{port}\r\n");
                out += &format!(
                    "master_link_status:{}\r\n",
                    if s.link_up { "up" } else { "down" }
                );
                let ago = s
                    .last_io_ms
                    .map_or(-1, |t| (now_ms.saturating_sub(t) / 1000) as i64);
                out += &format!("master_last_io_seconds_ago:{ago}\r\n");
                out += &format!(
                    "master_sync_in_progress:{}\r\n",
                    u8::from(s.sync_in_progress)
                );
                out += &format!("slave_repl_offset:{}\r\n", s.log.len());
            }
        }
        out
    }
}
