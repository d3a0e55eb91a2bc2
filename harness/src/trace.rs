//! The run trace: one ordered stream of typed events from every part of the simulated
//! world. Oracles are pure functions over it; its hash identifies a run bit for bit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::name::Name;
use crate::txn_gtid::TxnGtid;

/// Virtual time since the start of the run, in milliseconds.
pub type Millis = u64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: Millis,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Rare, large events are boxed so that the common ones (commits and acks, ~95% of a long
/// trace) stay small: the trace holds every event of the run in memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Ground truth: a site's read_only / super_read_only changed (or it booted / died).
    MysqlState {
        site: String,
        up: bool,
        read_only: bool,
        super_read_only: bool,
    },
    /// Ground truth: a transaction committed on `site` (client write or replicated apply).
    Commit {
        site: Name,
        gtid: TxnGtid,
        row: Option<u64>,
        replicated: bool,
    },
    /// A mutating statement reached a fake mysqld (who sent it is in `user`).
    Mutation {
        site: String,
        user: String,
        sql: String,
        ok: bool,
    },
    /// A read of `@@read_only` answered to the controller (for PWO / DNS-W checks).
    ReadOnlyProbe {
        site: String,
        user: String,
        read_only: bool,
    },
    /// Replication on `site` (re)configured to `source` (empty = reset).
    ReplicationSource(Box<ReplicationSource>),
    /// A write the fake apiserver accepted (or rejected).
    ApiWrite(Box<ApiWrite>),
    /// The DNS name now resolves to `site` (None = no record).
    Dns { target: Option<String> },
    /// The counter workload got an acknowledgement.
    Ack {
        id: u64,
        site: Name,
        server_uuid: Name,
        gtid: Name,
    },
    /// The counter workload tried to write and failed.
    WriteError {
        id: u64,
        site: Option<String>,
        error: String,
    },
    /// A fault was injected or healed.
    Fault {
        op: String,
        detail: String,
        heal: bool,
    },
    /// A stable log line of the controller or a sidecar (msg only).
    Log {
        host: String,
        level: String,
        msg: String,
    },
    /// The controller's published `status.activeSite` changed (sampled from the apiserver).
    ActiveSite { site: String },
    /// A site's data directory was replaced by an empty one.
    DatadirWiped { site: String },
    /// A host crashed or started.
    Host { host: String, up: bool },
    /// Sampled by the observer: what the controller claims in the group's status and its
    /// anti-flap annotations, recorded when any of it changes.
    GroupStatus(Box<StatusClaim>),
    /// Sampled by the observer: a Kubernetes Event the controller created (or whose count
    /// grew).
    KubeEvent {
        reason: String,
        warning: bool,
        message: String,
        count: u32,
    },
    /// A backup Job copied `source` (ground truth at that instant: whether it was
    /// read-only, which sites were writable, and which replicas were fit sources when the
    /// Job started).
    BackupTaken(Box<BackupTaken>),
    /// A verification Job restored the artifact at `location`: its GTID set and rows.
    BackupRestored(Box<BackupRestored>),
    /// Ground truth: a fake Dragonfly's role changed (boot, REPLICAOF, takeover).
    DragonflyRole {
        site: String,
        role: String,
        detail: String,
    },
    /// The session workload's write of `key` was acknowledged by the Dragonfly on `site`.
    SessionAck { key: String, site: String },
    /// End-of-run truth of one site's Dragonfly: up, role, whether the active Service
    /// selects its pod (`serving`), and every key it holds.
    DragonflyTruth {
        site: String,
        up: bool,
        role: String,
        #[serde(default)]
        serving: bool,
        keys: Vec<String>,
    },
    /// Sampled by the observer: a taint-isolation canary pod appeared on (or left) a site's
    /// node; `tolerates` says whether it tolerates this group's taint.
    Canary {
        pod: String,
        node: String,
        site: String,
        tolerates: bool,
        present: bool,
    },
    /// A controller poll completed; `interval_ms` is the adaptive interval it waits before
    /// the next one (PLV).
    Poll { host: String, interval_ms: u64 },
    /// Sampled by the observer: the group's NoExecute taint appeared on (or left) a node.
    Taint {
        node: String,
        /// The site whose `taintNodeSelector` picks the node.
        site: String,
        key: String,
        present: bool,
    },
}

/// Replication on `site` (re)configured to `source` (empty = reset).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplicationSource {
    pub site: String,
    pub source: String,
    pub executed: String,
    pub source_executed: String,
}

/// A write the fake apiserver accepted (or rejected).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiWrite {
    pub verb: String,
    pub resource: String,
    pub name: String,
    pub subresource: Option<String>,
    pub ok: bool,
    pub detail: String,
}

/// A backup Job copied its source (see [`EventKind::BackupTaken`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupTaken {
    pub job: String,
    pub location: String,
    pub source: String,
    pub source_role: String,
    pub source_read_only: bool,
    pub writable: Vec<String>,
    pub eligible_at_start: Vec<String>,
    pub gtid: String,
    pub rows: u64,
}

/// A verification Job restored an artifact (see [`EventKind::BackupRestored`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackupRestored {
    pub job: String,
    pub location: String,
    pub expected_gtid: String,
    pub gtid: String,
    pub rows: Vec<u64>,
}

/// The controller's published claims (status and durable anti-flap record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusClaim {
    pub active_site: String,
    pub sites: Vec<SiteClaim>,
    /// `type=status/reason` of each condition.
    pub conditions: Vec<String>,
    pub last_failover: Option<String>,
    pub last_failover_target: Option<String>,
    /// The out-of-band anti-flap annotations.
    pub annotated_failover: Option<String>,
    pub annotated_target: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteClaim {
    pub name: String,
    pub state: String,
    pub replicating: bool,
    pub recovery_state: String,
    pub divergent_count: Option<u64>,
}

/// Shared, append-only recorder handed to every fake.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    inner: Arc<Mutex<Vec<Event>>>,
    /// Virtual time as last set by the simulation driver, for events recorded outside
    /// any host (faults, the observer).
    driver_ms: Arc<AtomicU64>,
    /// Local target: events are stamped with real elapsed time times a factor.
    real: Option<Arc<ScaledRealTime>>,
}

/// Scenario time on the local target: real time since the start, times `factor`, so the
/// oracles' bounds (written for the scenario's timings) apply unchanged.
#[derive(Debug)]
struct ScaledRealTime {
    start: std::time::Instant,
    factor: u32,
}

impl Trace {
    pub fn new() -> Self {
        Self::default()
    }

    /// A trace for real processes: its clock starts now and runs `factor` times faster
    /// than real time (the local target's time scale).
    pub fn with_scaled_real_time(factor: u32) -> Self {
        Self {
            real: Some(Arc::new(ScaledRealTime {
                start: std::time::Instant::now(),
                factor,
            })),
            ..Self::default()
        }
    }

    /// Scenario time of a scaled real-time trace (None in the simulator).
    pub fn scaled_elapsed(&self) -> Option<std::time::Duration> {
        self.real.as_ref().map(|r| r.start.elapsed() * r.factor)
    }

    /// Records an event at the current virtual time.
    pub fn record(&self, kind: EventKind) {
        let at_ms = match (turmoil::sim_elapsed(), self.scaled_elapsed()) {
            (Some(d), _) | (None, Some(d)) => d.as_millis() as u64,
            (None, None) => self.driver_ms.load(Ordering::Relaxed),
        };
        self.inner.lock().unwrap().push(Event { at_ms, kind });
    }

    /// Sets the time stamped on events recorded outside a host.
    pub fn set_driver_time(&self, at: std::time::Duration) {
        self.driver_ms
            .store(at.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().unwrap().clone()
    }

    /// Moves the events out (the trace is left empty): the end of a run hands them over
    /// without holding two copies of a long trace at once.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.inner.lock().unwrap())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Virtual time inside a simulation (0 outside one).
pub fn now_ms() -> Millis {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

/// SHA-256 over the canonical JSON of the events, hex, first 16 chars.
pub fn hash_events(events: &[Event]) -> String {
    let mut h = Sha256::new();
    for e in events {
        h.update(serde_json::to_vec(e).expect("trace events serialize"));
        h.update(b"\n");
    }
    let digest = h.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard on the memory per event: a 30-minute, 3-site run holds ~150k of them.
    #[test]
    fn events_stay_small() {
        assert!(
            std::mem::size_of::<Event>() <= 96,
            "Event is {} bytes: box the large rare variant that grew",
            std::mem::size_of::<Event>()
        );
    }

    #[test]
    fn boxed_variants_serialize_flat() {
        let e = Event {
            at_ms: 5,
            kind: EventKind::ApiWrite(Box::new(ApiWrite {
                verb: "patch".into(),
                resource: "dnsendpoints".into(),
                name: "db".into(),
                subresource: None,
                ok: true,
                detail: String::new(),
            })),
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"at_ms":5,"type":"api_write","verb":"patch","resource":"dnsendpoints","name":"db","subresource":null,"ok":true,"detail":""}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }
}
