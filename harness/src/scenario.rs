//! Scenarios are data: a TOML file per scenario in `scenarios/`, validated at load.
//! Errors name the file, the field and what was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A scenario as written in its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    pub description: String,
    /// Profiles that include this scenario: smoke, release, full.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Total virtual run time, e.g. "150s".
    pub duration: String,
    pub topology: Topology,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub faults: Vec<Fault>,
    pub expect: Expect,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub sites: Vec<SiteDef>,
    /// The site that is primary at the start.
    pub active: String,
    #[serde(default)]
    pub priorities: Vec<String>,
    /// A failover history: the group's status (and anti-flap annotations) record this site
    /// as the last failover target, an hour before the run (outside any cooldown).
    #[serde(default)]
    pub history: Option<String>,
    /// A fresh deploy (spec §3.10): every site starts with an empty data directory and no
    /// replication, so mysqld boots writable (the boot-fence init container fences only an
    /// initialised data directory). `active` names the seed the controller must pick (the
    /// first primary-candidate of `priorities`, else the first primary-candidate).
    #[serde(default)]
    pub fresh: bool,
    /// Overrides of MysqlFailoverGroup spec fields (Go durations as strings).
    #[serde(default)]
    pub spec: SpecOverrides,
    /// Seeds taint-isolation canaries: on every site's node a pod tolerating the group's
    /// NoExecute taint and one not, and another group's taint on the active site's node
    /// (judged by TAINT).
    #[serde(default)]
    pub canaries: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteDef {
    pub name: String,
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "primary-candidate".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SpecOverrides {
    pub poll_interval: Option<String>,
    pub failure_threshold: Option<u32>,
    pub recovery_threshold: Option<u32>,
    pub failover_cooldown: Option<String>,
    pub lease_timeout: Option<String>,
    pub peer_check_interval: Option<String>,
    /// `spec.plannedFailover.onCooldown`: `reject` (default) or `defer`.
    pub planned_on_cooldown: Option<String>,
    /// `spec.backup.profiles`, by name (bucket `chaos-backups`, defaults otherwise).
    pub backup_profiles: Option<Vec<String>>,
    /// `spec.dragonfly.enabled`: one fake Dragonfly per site and the session workload.
    pub dragonfly: Option<bool>,
    /// `spec.dragonfly.plannedFailover.maxSyncWait` (needs `dragonfly = true`).
    pub dragonfly_max_sync_wait: Option<String>,
    /// `spec.dragonfly.plannedFailover.onSyncTimeout`: `proceed` or `fail`.
    pub dragonfly_on_sync_timeout: Option<String>,
    /// `spec.dragonfly.auth`: every Dragonfly requires a password, read by the controller
    /// from a Secret the world creates (needs `dragonfly = true`).
    pub dragonfly_auth: Option<bool>,
}

impl SpecOverrides {
    pub fn dragonfly_enabled(&self) -> bool {
        self.dragonfly == Some(true)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Counter writes per second through the DNS name.
    #[serde(default = "default_rate")]
    pub counter_rate: u32,
    /// Client-side DNS cache TTL.
    #[serde(default = "default_client_ttl")]
    pub dns_ttl: String,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            counter_rate: default_rate(),
            dns_ttl: default_client_ttl(),
        }
    }
}

fn default_rate() -> u32 {
    20
}
fn default_client_ttl() -> String {
    "10s".into()
}

/// One timed fault. Which fields an op takes is in [`FAULT_OPS`]; a field an op does not
/// use is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Virtual time of injection, e.g. "30s".
    pub at: String,
    /// One of [`FAULT_OPS`].
    pub op: String,
    /// The site the fault hits (every op but `controller-restart`).
    #[serde(default)]
    pub site: Option<String>,
    /// `partition-pair`: the other side, a site or one of [`PAIR_HOSTS`].
    #[serde(default)]
    pub peer: Option<String>,
    /// When to heal (`site-down`, `node-down`, `partition`, `partition-pair`); absent = never.
    #[serde(default)]
    pub heal_at: Option<String>,
    /// How long a restarted process stays down (`sidecar-kill`: default 3s,
    /// `controller-restart`: default 5s).
    #[serde(default)]
    pub down: Option<String>,
    /// `errant-write`: how many local transactions (default 1).
    #[serde(default)]
    pub n: Option<u64>,
    /// How mysqld comes back: `fenced` or `writable` (`node-down`, `site-down`, `crash`,
    /// `pvc-loss`, `mysqld-kill`); default fenced, as the pod's boot-fence init container
    /// makes every start of an initialised data directory.
    #[serde(default)]
    pub boot: Option<String>,
    /// `annotate`: the annotation key on the group.
    #[serde(default)]
    pub key: Option<String>,
    /// `annotate`: the value; absent removes the annotation. `<divergent:SITE:N>` is
    /// replaced by the first N characters of SITE's `status.sites[].divergentGtid` at
    /// that moment (what a human copies from `kubectl get`).
    #[serde(default)]
    pub value: Option<String>,
    /// `apply-stall`: transactions the SQL thread applies per second while stalled
    /// (default 0: stopped).
    #[serde(default)]
    pub rate: Option<f64>,
    /// `pvc-loss`: what the new data directory holds, `empty` (default) or `new-uuid`;
    /// `apiserver-outage`: one of [`OUTAGE_MODES`]; `partition`, `partition-pair`: one of
    /// [`PARTITION_MODES`].
    #[serde(default)]
    pub mode: Option<String>,
    /// `deny`: one of [`DENY_RESOURCES`].
    #[serde(default)]
    pub resource: Option<String>,
    /// `api-latency`: the least and the most a request waits, e.g. "200ms", "2s".
    #[serde(default)]
    pub min: Option<String>,
    #[serde(default)]
    pub max: Option<String>,
    /// `stale-read`: how old the objects reads return may be, e.g. "10s".
    #[serde(default)]
    pub lag: Option<String>,
    /// `sql-fail`, `sql-ambiguous`: the statement kind hit (one of [`STMT_KINDS`]).
    #[serde(default)]
    pub stmt: Option<String>,
    /// `clock-skew`: whose wall clock, a site or `controller`.
    #[serde(default)]
    pub host: Option<String>,
    /// `clock-skew`: signed offset from true time, e.g. "+10m" or "-60s".
    #[serde(default)]
    pub offset: Option<String>,
    /// `backup`, `verify-backup`: the name of the object created.
    #[serde(default)]
    pub name: Option<String>,
    /// `backup`, `verify-backup`: one of the group's backup profiles.
    #[serde(default)]
    pub profile: Option<String>,
    /// `backup`: `spec.sourceSiteOverride` (passed as is: the controller judges it).
    #[serde(default)]
    pub source: Option<String>,
    /// `verify-backup`: the MysqlBackup to verify (absent: the latest Succeeded one).
    #[serde(default)]
    pub backup: Option<String>,
}

/// A `backup` or `verify-backup` request, created on the apiserver like `kubectl create`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupRequest {
    pub name: String,
    pub profile: String,
    pub source: Option<String>,
    pub backup: Option<String>,
}

/// Fault ops and what they do:
/// - `node-down`: pod, sidecar and node die; back (`boot`) only if `heal_at` is set.
/// - `site-down`: the pod dies and is held down until `heal_at` (never if absent).
///   Both take the site's Dragonfly too (same node); it restarts empty at `heal_at`.
/// - `crash`: the pod dies; the kubelet restarts it 5s later, mysqld answers 10s later.
/// - `partition`: the site's pod is cut from every other host (controller, apiserver,
///   clients, other sites) until `heal_at`. `mode = "blackhole"` (default): cut links drop
///   packets, calls hang until their timeouts; `mode = "refuse"`: connects are refused and
///   established connections reset at once (NetworkPolicy reject, a proxy in reset mode).
/// - `partition-pair`: only the links between `site` and `peer` are cut, until `heal_at`
///   (`mode` as for `partition`). Both partitions cut the sites' Dragonflies (and the
///   session workload, for `clients`) the same way.
/// - `sidecar-kill`: only the sidecar container dies (mysqld keeps running, connections
///   stay); a new sidecar starts after `down` and reruns its startup safety net.
/// - `controller-restart`: the controller host crashes and boots again after `down`.
/// - `errant-write`: `n` local transactions committed on `site` regardless of read_only.
/// - `rogue-unfence`: a human runs `SET GLOBAL read_only = OFF` (clears super_read_only
///   too) on `site` as `root`.
/// - `manual-fence`: a human runs `SET GLOBAL super_read_only = ON` on `site` as `root`.
/// - `annotate` (not a fault): a human sets annotation `key` on the group to `value`, or
///   removes it when `value` is absent (planned failover, reclone).
/// - `spec-patch` (not a fault): a human merge-patches the group's spec with `value` (a
///   JSON object, e.g. a new image); the world then replaces each pod whose Deployment's
///   template the controller changes (the ordered update).
/// - `controller-crash`: armed at `at`, the controller crashes right before the `n`th
///   failover mutation after that (default 1) and boots again after `down` (default 4s).
/// - `mysqld-kill`: only mysqld dies (the sidecar runs on); it restarts after `down`
///   (default 4s) with replication stopped, `boot` fenced (default: the boot-fence file
///   the pod's init container wrote is still there) or writable (a start without it, as
///   the original product's container restart).
/// - `apply-stall`: `site`'s SQL thread applies only `rate` transactions a second (default
///   0) until `heal_at`; the IO thread keeps fetching into the relay log.
/// - `fetch-stall`: `site`'s links to every other site are cut until `heal_at`, so its IO
///   thread fetches nothing (the controller and clients still reach it).
/// - `pause`: `site`'s mysqld freezes until `heal_at`: connections are accepted but never
///   answered, replication stops applying; the sidecar ticks on (SIGSTOP of mysqld).
/// - `partition-oneway`: packets from `peer` to `site` are dropped until `heal_at` (the
///   other direction flows; a TCP handshake needs both, so new connections either way
///   hang, while datagrams one way get through).
/// - `pvc-loss`: the pod dies and its volume is replaced by a fresh one under a new
///   server_uuid (`mode = "empty"`: no GTIDs; `"new-uuid"`: `n` local transactions); the
///   kubelet restarts the pod like a crash, mysqld boots `boot` (default fenced).
/// - `apiserver-outage`: the fake apiserver is out until `heal_at` (`mode`: `refuse` closes
///   connections, `503` answers ServiceUnavailable, `hang` never answers).
/// - `deny`: writes to `resource` get 403 Forbidden until `heal_at` (RBAC drift: the
///   group's status subresource, the whole group object, the object but not its status,
///   DNSEndpoints, nodes, events).
/// - `watch-drop`: open watch streams stall silently until `heal_at`, then are dropped.
/// - `backup` (not a fault): a MysqlBackup `name` of `profile` is created (optionally with
///   `source` as its sourceSiteOverride).
/// - `verify-backup` (not a fault): a MysqlBackupVerification `name` of `profile` is created,
///   for `backup` or the latest Succeeded one.
/// - `backup-drop-rows` (planted fault): the next backup Job leaves out its `n` newest rows
///   while claiming its full GTID set (verification must catch it).
/// - `api-latency`: every API request waits between `min` and `max` until `heal_at`.
/// - `stale-read`: GET and LIST answer from a copy of the objects up to `lag` old until
///   `heal_at` (writes go to the live state).
/// - `dragonfly-kill`: `site`'s Dragonfly pod dies, losing its data; it restarts empty at
///   `heal_at` (never if absent). Needs `topology.spec.dragonfly = true`.
/// - `dragonfly-partition`: `site`'s Dragonfly is cut from every other host until `heal_at`
///   (MySQL and the sidecar are untouched).
/// - `aux-unready`: the controller's aux endpoints (`/healthz`, `/active-site`) drop every
///   connection until `heal_at` (never if absent); the controller itself keeps running.
/// - `sql-fail`: the next `n` statements of kind `stmt` on `site` fail unapplied (1105).
/// - `sql-ambiguous`: the next `n` statements of kind `stmt` on `site` are applied, then the
///   connection drops before the answer.
/// - `clock-skew`: from `at`, the wall clock of `host` (a site's pod or `controller`) reads
///   true time plus `offset`; monotonic time is untouched.
pub const FAULT_OPS: &[&str] = &[
    "node-down",
    "site-down",
    "crash",
    "partition",
    "partition-pair",
    "sidecar-kill",
    "controller-restart",
    "errant-write",
    "rogue-unfence",
    "manual-fence",
    "annotate",
    "mysqld-kill",
    "apply-stall",
    "fetch-stall",
    "pause",
    "partition-oneway",
    "apiserver-outage",
    "deny",
    "watch-drop",
    "api-latency",
    "stale-read",
    "aux-unready",
    "sql-fail",
    "sql-ambiguous",
    "clock-skew",
    "pvc-loss",
    "controller-crash",
    "backup",
    "verify-backup",
    "backup-drop-rows",
    "dragonfly-kill",
    "dragonfly-partition",
    "spec-patch",
];
/// Statement kinds `sql-fail` and `sql-ambiguous` can target.
pub use crate::fake_mysql::STMT_KINDS;
/// `pvc-loss` modes.
pub const PVC_LOSS_MODES: &[&str] = &["empty", "new-uuid"];
/// `partition` and `partition-pair` modes: `blackhole` (the default) drops packets, so
/// connects and reads hang until their timeouts; `refuse` resets connections at once,
/// established ones included.
pub const PARTITION_MODES: &[&str] = &["blackhole", "refuse"];
/// `apiserver-outage` modes.
pub const OUTAGE_MODES: &[&str] = &["refuse", "503", "hang"];
/// What a `deny` can refuse writes to: `status` is the group's status subresource only,
/// `mfg` every write to the group object (annotations and status included), `mfg-object`
/// the object itself (annotations) while its status stays writable.
pub const DENY_RESOURCES: &[&str] = &[
    "status",
    "mfg",
    "mfg-object",
    "dnsendpoints",
    "nodes",
    "events",
];
/// Non-site hosts a `partition-pair` can name as `peer`.
pub const PAIR_HOSTS: &[&str] = &["controller", "apiserver", "clients"];

/// Which optional fields each op takes.
fn op_fields(op: &str) -> &'static [&'static str] {
    match op {
        "node-down" | "site-down" => &["site", "heal_at", "boot"],
        "crash" => &["site", "boot"],
        "partition" => &["site", "heal_at", "mode"],
        "partition-pair" => &["site", "peer", "heal_at", "mode"],
        "sidecar-kill" => &["site", "down"],
        "controller-restart" => &["down"],
        "controller-crash" => &["n", "down"],
        "errant-write" => &["site", "n"],
        "rogue-unfence" | "manual-fence" => &["site"],
        "annotate" => &["key", "value"],
        "spec-patch" => &["value"],
        "mysqld-kill" => &["site", "down", "boot"],
        "apply-stall" => &["site", "rate", "heal_at"],
        "fetch-stall" | "pause" => &["site", "heal_at"],
        "partition-oneway" => &["site", "peer", "heal_at"],
        "pvc-loss" => &["site", "mode", "n", "boot"],
        "apiserver-outage" => &["mode", "heal_at"],
        "deny" => &["resource", "heal_at"],
        "watch-drop" => &["heal_at"],
        "api-latency" => &["min", "max", "heal_at"],
        "stale-read" => &["lag", "heal_at"],
        "aux-unready" => &["heal_at"],
        "sql-fail" | "sql-ambiguous" => &["site", "stmt", "n"],
        "clock-skew" => &["host", "offset"],
        "backup" => &["name", "profile", "source"],
        "verify-backup" => &["name", "profile", "backup"],
        "backup-drop-rows" => &["n"],
        "dragonfly-kill" | "dragonfly-partition" => &["site", "heal_at"],
        _ => &[],
    }
}

pub const PROPERTIES: &[&str] = &[
    "SW", "DNS-W", "RPO-A", "FAILOVER", "NDA", "NOFO-PRE", "REJOIN", "NOFO", "FENCE", "FLAP",
    "CONV", "DW", "SW-H", "EG", "DNS-C", "STATUS", "EVENTS", "FLAP-D", "TAINT", "PF", "NAL-P",
    "RCL", "BKP-SRC", "BKP-V", "DF", "PLV", "PWO", "FBP", "DEB", "UPD",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Property ids checked in this run (see `PROPERTIES`).
    pub properties: Vec<String>,
    /// The site expected to be primary after the faults: FAILOVER's target; CONV also
    /// requires it to be the writer at the end.
    #[serde(default)]
    pub new_primary: Option<String>,
    /// Bound from the first fault to activeSite and DNS on the new primary (B_fo).
    #[serde(default)]
    pub failover_within: Option<String>,
    /// Number of promotions expected after the first fault (FAILOVER); FLAP checks the
    /// number of completed failovers ("failover complete", re-asserts excluded) over the run.
    #[serde(default)]
    pub failovers: Option<u32>,
    /// The returning site checked by REJOIN.
    #[serde(default)]
    pub returning_site: Option<String>,
    /// FENCE(a): an isolated writable primary is read-only within this after it lost
    /// contact. Default H = leaseTimeout + peerCheckInterval + 5s of the group.
    #[serde(default)]
    pub fence_within: Option<String>,
    /// NDA: sites expected diverged at the end, with their exact divergent transaction
    /// count (e.g. `divergent = { a = 1 }`): each must hold that many transactions the
    /// primary lacks and be reported RecoveryBlocked with that count.
    #[serde(default)]
    pub divergent: std::collections::BTreeMap<String, u64>,
    /// PF: the phase `status.plannedFailover` ends in (`Succeeded`, `Failed`, `Deferred`).
    #[serde(default)]
    pub planned_phase: Option<String>,
    /// PF: the `Failed` reason expected (e.g. `LagTimeout`, `CooldownActive`).
    #[serde(default)]
    pub planned_reason: Option<String>,
    /// PF: the target site of the planned failover.
    #[serde(default)]
    pub planned_target: Option<String>,
    /// DF: the site whose Dragonfly is the only master at the end (default: the group's
    /// final `status.activeSite`).
    #[serde(default)]
    pub dragonfly_active: Option<String>,
    /// DF: whether the planned failover reports `sessionsPreserved` (true also requires
    /// every session key acked before the first fault on the final master).
    #[serde(default)]
    pub sessions_preserved: Option<bool>,
    /// RCL: `completed` (one clone, the site recovered) or `rejected` (no clone).
    #[serde(default)]
    pub reclone: Option<String>,
    /// RCL: the site the reclone annotation names.
    #[serde(default)]
    pub reclone_site: Option<String>,
    /// RCL: exact number of `RecloneRejected` outcomes over the run (default: not checked).
    #[serde(default)]
    pub reclone_rejections: Option<u32>,
    /// EVENTS: exact number of Kubernetes Events per reason (0 = forbidden), e.g.
    /// `events = { FailoverExecuted = 1, SplitBrainDetected = 0 }`.
    #[serde(default)]
    pub events: std::collections::BTreeMap<String, u32>,
}

/// A load or validation error: file, field, what was expected.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub field: String,
    pub message: String,
}

/// A validated scenario with parsed times.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub duration: Duration,
    pub faults: Vec<TimedFault>,
    pub failover_within: Option<Duration>,
    pub fence_within: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    pub at: Duration,
    pub op: String,
    /// Empty for `controller-restart`.
    pub site: String,
    /// `partition-pair`: the other side (a site or one of [`PAIR_HOSTS`]).
    pub peer: Option<String>,
    pub heal_at: Option<Duration>,
    /// `sidecar-kill`, `controller-restart`: how long the process stays down.
    pub down: Option<Duration>,
    /// `errant-write`: number of transactions.
    pub n: u64,
    pub boot_fenced: bool,
    /// `annotate`: key and value (None removes it).
    pub key: Option<String>,
    pub value: Option<String>,
    /// `apply-stall`: transactions applied per second while stalled.
    pub rate: f64,
    /// `pvc-loss`: one of [`PVC_LOSS_MODES`].
    pub mode: Option<String>,
    /// The apiserver fault of `apiserver-outage`, `deny`, `watch-drop`, `api-latency`.
    pub api: Option<ApiFault>,
    /// `sql-fail`, `sql-ambiguous`: the statement kind.
    pub stmt: Option<String>,
    /// `clock-skew`: the offset in milliseconds (`site` holds the host: a site or
    /// `controller`).
    pub offset_ms: i64,
    /// `backup`, `verify-backup`: the object to create.
    pub request: Option<BackupRequest>,
}

/// A validated fault of the fake apiserver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiFault {
    /// One of [`OUTAGE_MODES`].
    Outage(String),
    /// One of [`DENY_RESOURCES`].
    Deny(String),
    WatchStall,
    Latency {
        min: Duration,
        max: Duration,
    },
    /// Reads up to this old.
    StaleReads(Duration),
}

/// The [`ApiFault`] of an apiserver op (None for other ops); errors name the field.
fn api_fault(
    file: &str,
    field: &dyn Fn(&str) -> String,
    f: &Fault,
) -> Result<Option<ApiFault>, ScenarioError> {
    let one_of = |name: &str, v: &Option<String>, allowed: &[&str]| match v {
        Some(v) if allowed.contains(&v.as_str()) => Ok(v.clone()),
        Some(v) => Err(err(
            file,
            &field(name),
            format!("{v:?}: expected one of {}", allowed.join(", ")),
        )),
        None => Err(err(
            file,
            &field(name),
            format!("{:?} needs {name} (one of {})", f.op, allowed.join(", ")),
        )),
    };
    Ok(Some(match f.op.as_str() {
        "apiserver-outage" => ApiFault::Outage(one_of("mode", &f.mode, OUTAGE_MODES)?),
        "deny" => ApiFault::Deny(one_of("resource", &f.resource, DENY_RESOURCES)?),
        "watch-drop" => ApiFault::WatchStall,
        "api-latency" => {
            let get = |name: &str, v: &Option<String>| match v {
                Some(v) => dur(file, &field(name), v),
                None => Err(err(file, &field(name), "api-latency needs min and max")),
            };
            let (min, max) = (get("min", &f.min)?, get("max", &f.max)?);
            if max < min {
                return Err(err(
                    file,
                    &field("max"),
                    format!("{:?} is less than min", f.max.as_deref().unwrap_or("")),
                ));
            }
            ApiFault::Latency { min, max }
        }
        "stale-read" => match &f.lag {
            Some(v) => {
                let lag = dur(file, &field("lag"), v)?;
                if lag.is_zero() {
                    return Err(err(file, &field("lag"), "expected more than 0s"));
                }
                ApiFault::StaleReads(lag)
            }
            None => return Err(err(file, &field("lag"), "stale-read needs lag")),
        },
        _ => return Ok(None),
    }))
}

/// Default `down` of `sidecar-kill` (SCENARIOS.md: "back in 3s").
pub const SIDECAR_KILL_DOWN: Duration = Duration::from_secs(3);
/// Default `down` of `mysqld-kill` (SCENARIOS.md mysqld-kill: "back after 4s or 10s").
pub const MYSQLD_KILL_DOWN: Duration = Duration::from_secs(4);
/// Default `down` of `controller-restart` (SCENARIOS.md: "back in 5s").
pub const CONTROLLER_RESTART_DOWN: Duration = Duration::from_secs(5);
/// Default `down` of `controller-crash` (the Go DST: down 0–3 polls).
pub const CONTROLLER_CRASH_DOWN: Duration = Duration::from_secs(4);

/// Ops that set background conditions rather than break something: they do not start the
/// clock that FAILOVER and NOFO-PRE measure from ("kill-site at t0+60s with skewed clocks"
/// is timed from the kill).
pub const BACKGROUND_OPS: &[&str] = &["clock-skew"];

impl Loaded {
    /// The first fault that breaks something (not a [`BACKGROUND_OPS`] condition).
    pub fn first_fault(&self) -> Option<Duration> {
        self.faults
            .iter()
            .filter(|f| !BACKGROUND_OPS.contains(&f.op.as_str()))
            .map(|f| f.at)
            .min()
    }
}

/// Parses and validates scenario text. `file` is used in error messages.
pub fn parse(file: &str, text: &str) -> Result<Loaded, ScenarioError> {
    let scenario: Scenario = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        ScenarioError {
            file: file.into(),
            field: format!("line {line}, column {col}"),
            message: e.message().to_string(),
        }
    })?;
    let mut loaded = validate(file, scenario).map_err(|mut e| {
        if let Some(line) = crate::scenario_lines::line_of(text, &e.field) {
            e.message.push_str(&format!(" (line {line})"));
        }
        e
    })?;
    add_always_on(&mut loaded.scenario.expect.properties);
    Ok(loaded)
}

/// Safety properties judged on every run whether the scenario lists them or not
/// (SCENARIOS.md §1: "the catalog lists only what a scenario targets"). SW gives way to
/// SW-H where a scenario judges the split horizon. Not here yet, so judged only where
/// listed: FENCE c-f and the STATUS safety form (their oracles judge the whole property),
/// DW (its oracle has no model of a writer the controller cannot reach, so a hung old
/// primary counts as a dual writer), RPO-A (it needs one writer at the end), and PLV and
/// DEB: every catalog file lists PLV, but explore seed 1 finds a PLV stall and a DEB
/// claim nobody has analysed yet (pinned known-open in scenarios/regressions/).
pub const ALWAYS_ON: &[&str] = &["SW", "PWO", "FBP", "DNS-W", "NDA", "FLAP"];

fn add_always_on(properties: &mut Vec<String>) {
    for p in ALWAYS_ON {
        let covered = *p == "SW" && properties.iter().any(|x| x == "SW-H");
        if !covered && !properties.iter().any(|x| x == p) {
            properties.push(p.to_string());
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn dur(file: &str, field: &str, v: &str) -> Result<Duration, ScenarioError> {
    bloodraven::duration::parse(v).map_err(|e| err(file, field, e.to_string()))
}

/// "+10m", "-60s", "90s" (sign optional) as signed milliseconds.
fn signed_dur(v: &str) -> Option<i64> {
    let (sign, rest) = match v.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, v.strip_prefix('+').unwrap_or(v)),
    };
    let d = bloodraven::duration::parse(rest).ok()?;
    i64::try_from(d.as_millis()).ok().map(|ms| sign * ms)
}

fn err(file: &str, field: &str, message: impl Into<String>) -> ScenarioError {
    ScenarioError {
        file: file.into(),
        field: field.into(),
        message: message.into(),
    }
}

fn validate(file: &str, s: Scenario) -> Result<Loaded, ScenarioError> {
    if s.id.is_empty() || !s.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(err(
            file,
            "id",
            format!("{:?}: expected lowercase letters, digits and dashes", s.id),
        ));
    }
    for (i, p) in s.profiles.iter().enumerate() {
        if !["smoke", "release", "full"].contains(&p.as_str()) {
            return Err(err(
                file,
                &format!("profiles[{i}]"),
                format!("{p:?}: expected smoke, release or full"),
            ));
        }
    }
    let duration = dur(file, "duration", &s.duration)?;
    if duration < Duration::from_secs(10) || duration > Duration::from_secs(4 * 3600) {
        return Err(err(file, "duration", "expected between 10s and 4h"));
    }
    let t = &s.topology;
    if t.sites.len() < 2 || t.sites.len() > 16 {
        return Err(err(
            file,
            "topology.sites",
            format!("expected 2 to 16 sites, got {}", t.sites.len()),
        ));
    }
    let names: Vec<&str> = t.sites.iter().map(|s| s.name.as_str()).collect();
    for (i, site) in t.sites.iter().enumerate() {
        if site.name.is_empty()
            || !site
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(err(
                file,
                &format!("topology.sites[{i}].name"),
                format!("{:?}: expected a DNS label", site.name),
            ));
        }
        if names[..i].contains(&site.name.as_str()) {
            return Err(err(
                file,
                &format!("topology.sites[{i}].name"),
                format!("duplicate site {:?}", site.name),
            ));
        }
        if !["primary-candidate", "dr-only", "read-only"].contains(&site.role.as_str()) {
            return Err(err(
                file,
                &format!("topology.sites[{i}].role"),
                format!(
                    "{:?}: expected primary-candidate, dr-only or read-only",
                    site.role
                ),
            ));
        }
    }
    let known = |field: &str, site: &str| -> Result<(), ScenarioError> {
        if names.contains(&site) {
            Ok(())
        } else {
            Err(err(
                file,
                field,
                format!(
                    "{site:?} is not a site of the topology ({})",
                    names.join(", ")
                ),
            ))
        }
    };
    known("topology.active", &t.active)?;
    for (i, p) in t.priorities.iter().enumerate() {
        known(&format!("topology.priorities[{i}]"), p)?;
    }
    if let Some(h) = &t.history {
        known("topology.history", h)?;
    }
    if t.fresh {
        if t.history.is_some() {
            return Err(err(
                file,
                "topology.fresh",
                "a fresh deploy has no failover history: remove topology.history",
            ));
        }
        let candidate = |n: &String| {
            t.sites
                .iter()
                .any(|s| s.name == *n && s.role == "primary-candidate")
        };
        let seed = t
            .priorities
            .iter()
            .find(|p| candidate(p))
            .or_else(|| t.sites.iter().map(|s| &s.name).find(|n| candidate(n)));
        if seed != Some(&t.active) {
            return Err(err(
                file,
                "topology.active",
                format!(
                    "{:?}: a fresh deploy starts with the seed as active, expected {:?} (the first primary-candidate of priorities, else of sites)",
                    t.active,
                    seed.map(String::as_str).unwrap_or_default()
                ),
            ));
        }
    }
    let o = &t.spec;
    for (field, v) in [
        ("topology.spec.poll_interval", &o.poll_interval),
        ("topology.spec.failover_cooldown", &o.failover_cooldown),
        ("topology.spec.lease_timeout", &o.lease_timeout),
        ("topology.spec.peer_check_interval", &o.peer_check_interval),
    ] {
        if let Some(v) = v {
            dur(file, field, v)?;
        }
    }
    if !o.dragonfly_enabled()
        && (o.dragonfly_max_sync_wait.is_some()
            || o.dragonfly_on_sync_timeout.is_some()
            || o.dragonfly_auth.is_some())
    {
        return Err(err(
            file,
            "topology.spec.dragonfly",
            "the dragonfly_* settings need dragonfly = true",
        ));
    }
    if let Some(v) = &o.dragonfly_max_sync_wait {
        if dur(file, "topology.spec.dragonfly_max_sync_wait", v)?.is_zero() {
            return Err(err(
                file,
                "topology.spec.dragonfly_max_sync_wait",
                "expected more than 0s",
            ));
        }
    }
    if let Some(v) = &o.dragonfly_on_sync_timeout {
        if !["proceed", "fail"].contains(&v.as_str()) {
            return Err(err(
                file,
                "topology.spec.dragonfly_on_sync_timeout",
                format!("{v:?}: expected proceed or fail"),
            ));
        }
    }
    if let Some(v) = &o.planned_on_cooldown {
        if !["reject", "defer"].contains(&v.as_str()) {
            return Err(err(
                file,
                "topology.spec.planned_on_cooldown",
                format!("{v:?}: expected reject or defer"),
            ));
        }
    }
    if s.workload.counter_rate == 0 || s.workload.counter_rate > 1000 {
        return Err(err(
            file,
            "workload.counter_rate",
            "expected 1 to 1000 writes per second",
        ));
    }
    dur(file, "workload.dns_ttl", &s.workload.dns_ttl)?;
    let mut faults = vec![];
    for (i, f) in s.faults.iter().enumerate() {
        let field = |n: &str| format!("faults[{i}].{n}");
        if !FAULT_OPS.contains(&f.op.as_str()) {
            return Err(err(
                file,
                &field("op"),
                format!(
                    "unknown fault {:?}: expected one of {}",
                    f.op,
                    FAULT_OPS.join(", ")
                ),
            ));
        }
        let takes = op_fields(&f.op);
        for (name, set) in [
            ("site", f.site.is_some()),
            ("peer", f.peer.is_some()),
            ("heal_at", f.heal_at.is_some()),
            ("down", f.down.is_some()),
            ("n", f.n.is_some()),
            ("boot", f.boot.is_some()),
            ("key", f.key.is_some()),
            ("value", f.value.is_some()),
            ("rate", f.rate.is_some()),
            ("mode", f.mode.is_some()),
            ("resource", f.resource.is_some()),
            ("min", f.min.is_some()),
            ("max", f.max.is_some()),
            ("lag", f.lag.is_some()),
            ("stmt", f.stmt.is_some()),
            ("host", f.host.is_some()),
            ("offset", f.offset.is_some()),
            ("name", f.name.is_some()),
            ("profile", f.profile.is_some()),
            ("source", f.source.is_some()),
            ("backup", f.backup.is_some()),
        ] {
            if set && !takes.contains(&name) {
                let msg = match (f.op.as_str(), name) {
                    ("crash", "heal_at") => {
                        "a crash heals by itself (the kubelet restarts the pod)".to_string()
                    }
                    _ => format!(
                        "not used by {:?} (it takes: {})",
                        f.op,
                        if takes.is_empty() {
                            "nothing".to_string()
                        } else {
                            takes.join(", ")
                        }
                    ),
                };
                return Err(err(file, &field(name), msg));
            }
        }
        let site = match (&f.site, takes.contains(&"site")) {
            (Some(site), _) => {
                known(&field("site"), site)?;
                site.clone()
            }
            (None, true) => {
                return Err(err(
                    file,
                    &field("site"),
                    format!("{:?} needs the site it hits", f.op),
                ))
            }
            (None, false) => String::new(),
        };
        if f.op.starts_with("dragonfly-") && !o.dragonfly_enabled() {
            return Err(err(
                file,
                &field("op"),
                format!("{:?} needs topology.spec.dragonfly = true", f.op),
            ));
        }
        let peer = match (
            &f.peer,
            f.op == "partition-pair" || f.op == "partition-oneway",
        ) {
            (Some(peer), _) => {
                if !names.contains(&peer.as_str()) && !PAIR_HOSTS.contains(&peer.as_str()) {
                    return Err(err(
                        file,
                        &field("peer"),
                        format!(
                            "{peer:?}: expected a site ({}) or one of {}",
                            names.join(", "),
                            PAIR_HOSTS.join(", ")
                        ),
                    ));
                }
                if *peer == site {
                    return Err(err(
                        file,
                        &field("peer"),
                        format!("{peer:?} is the site itself: expected another host"),
                    ));
                }
                Some(peer.clone())
            }
            (None, true) => {
                return Err(err(
                    file,
                    &field("peer"),
                    format!("{} needs the peer it is cut from", f.op),
                ))
            }
            (None, false) => None,
        };
        let at = dur(file, &field("at"), &f.at)?;
        if at >= duration {
            return Err(err(
                file,
                &field("at"),
                format!("{} is not inside the run ({})", f.at, s.duration),
            ));
        }
        let heal_at = match &f.heal_at {
            Some(h) => {
                let h_at = dur(file, &field("heal_at"), h)?;
                if h_at <= at || h_at >= duration {
                    return Err(err(
                        file,
                        &field("heal_at"),
                        format!("{h} must be after `at` and inside the run"),
                    ));
                }
                Some(h_at)
            }
            None => None,
        };
        let down = match f.op.as_str() {
            "sidecar-kill" | "controller-restart" | "mysqld-kill" | "controller-crash" => {
                let d = match &f.down {
                    Some(v) => dur(file, &field("down"), v)?,
                    None if f.op == "sidecar-kill" => SIDECAR_KILL_DOWN,
                    None if f.op == "mysqld-kill" => MYSQLD_KILL_DOWN,
                    None if f.op == "controller-crash" => CONTROLLER_CRASH_DOWN,
                    None => CONTROLLER_RESTART_DOWN,
                };
                if d.is_zero() || at + d >= duration {
                    return Err(err(
                        file,
                        &field("down"),
                        format!(
                            "{:?} must be more than 0s and end inside the run",
                            f.down.as_deref().unwrap_or("default")
                        ),
                    ));
                }
                Some(d)
            }
            _ => None,
        };
        let n = match f.n {
            Some(n) if !(1..=1000).contains(&n) => {
                return Err(err(
                    file,
                    &field("n"),
                    format!("{n}: expected 1 to 1000 transactions"),
                ))
            }
            Some(n) => n,
            None => 1,
        };
        let boot_fenced = match f.boot.as_deref() {
            None | Some("fenced") => true,
            Some("writable") => false,
            Some(other) => {
                return Err(err(
                    file,
                    &field("boot"),
                    format!("{other:?}: expected fenced or writable"),
                ))
            }
        };
        if f.op == "spec-patch"
            && !f
                .value
                .as_deref()
                .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
                .is_some_and(|v| v.is_object() && v.as_object().is_some_and(|o| !o.is_empty()))
        {
            return Err(err(
                file,
                &field("value"),
                format!(
                    "{:?}: spec-patch needs a JSON merge patch of the group's spec, e.g. '{{\"image\": \"mysql:9.8\"}}'",
                    f.value.as_deref().unwrap_or_default()
                ),
            ));
        }
        if f.op == "annotate" && f.key.as_deref().is_none_or(str::is_empty) {
            return Err(err(
                file,
                &field("key"),
                "annotate needs the annotation key (value absent = remove it)",
            ));
        }
        let request = if f.op == "backup" || f.op == "verify-backup" {
            let name = f.name.clone().unwrap_or_default();
            if name.is_empty() || name.len() > 50 {
                return Err(err(
                    file,
                    &field("name"),
                    format!("{} needs the object name (1 to 50 characters)", f.op),
                ));
            }
            let Some(profile) = f.profile.clone().filter(|p| !p.is_empty()) else {
                return Err(err(
                    file,
                    &field("profile"),
                    format!("{} needs the backup profile", f.op),
                ));
            };
            Some(BackupRequest {
                name,
                profile,
                source: f.source.clone(),
                backup: f.backup.clone(),
            })
        } else {
            None
        };
        let rate = match f.rate {
            Some(r) if !(0.0..=100_000.0).contains(&r) => {
                return Err(err(
                    file,
                    &field("rate"),
                    format!("{r}: expected 0 to 100000 transactions per second"),
                ))
            }
            r => r.unwrap_or(0.0),
        };
        let modes = match f.op.as_str() {
            "pvc-loss" => Some(PVC_LOSS_MODES),
            "partition" | "partition-pair" => Some(PARTITION_MODES),
            _ => None,
        };
        let mode = match (f.mode.as_deref(), modes) {
            (Some(m), Some(allowed)) if !allowed.contains(&m) => {
                return Err(err(
                    file,
                    &field("mode"),
                    format!("{m:?}: expected one of {}", allowed.join(", ")),
                ))
            }
            (m, Some(allowed)) => Some(m.unwrap_or(allowed[0]).to_string()),
            (_, None) => None,
        };
        let api = api_fault(file, &field, f)?;
        let stmt = match (&f.stmt, takes.contains(&"stmt")) {
            (Some(k), _) if !STMT_KINDS.contains(&k.as_str()) => {
                return Err(err(
                    file,
                    &field("stmt"),
                    format!("{k:?}: expected one of {}", STMT_KINDS.join(", ")),
                ))
            }
            (Some(k), _) => Some(k.clone()),
            (None, true) => {
                return Err(err(
                    file,
                    &field("stmt"),
                    format!("{:?} needs the statement kind it hits", f.op),
                ))
            }
            (None, false) => None,
        };
        let (site, offset) = if f.op == "clock-skew" {
            let host = f.host.as_deref().unwrap_or_default();
            if host != "controller" && !names.contains(&host) {
                return Err(err(
                    file,
                    &field("host"),
                    format!(
                        "{host:?}: expected a site ({}) or controller",
                        names.join(", ")
                    ),
                ));
            }
            let raw = f.offset.as_deref().unwrap_or_default();
            let offset = signed_dur(raw).ok_or_else(|| {
                err(
                    file,
                    &field("offset"),
                    format!("{raw:?}: expected a signed duration such as \"+10m\" or \"-60s\""),
                )
            })?;
            (host.to_string(), offset)
        } else {
            (site, 0)
        };
        faults.push(TimedFault {
            api,
            at,
            op: f.op.clone(),
            stmt,
            offset_ms: offset,
            site,
            peer,
            heal_at,
            down,
            n,
            boot_fenced,
            key: f.key.clone(),
            value: f.value.clone(),
            rate,
            mode,
            request,
        });
    }
    faults.sort_by_key(|f| f.at);
    let e = &s.expect;
    if e.properties.iter().any(|p| p == "DF") && !s.topology.spec.dragonfly_enabled() {
        return Err(err(
            file,
            "expect.properties",
            "DF needs topology.spec.dragonfly = true",
        ));
    }
    if e.properties.is_empty() {
        return Err(err(
            file,
            "expect.properties",
            "expected at least one property",
        ));
    }
    for (i, p) in e.properties.iter().enumerate() {
        if !PROPERTIES.contains(&p.as_str()) {
            return Err(err(
                file,
                &format!("expect.properties[{i}]"),
                format!(
                    "unknown property {p:?}: expected one of {}",
                    PROPERTIES.join(", ")
                ),
            ));
        }
    }
    if let Some(p) = &e.new_primary {
        known("expect.new_primary", p)?;
    }
    if let Some(p) = &e.returning_site {
        known("expect.returning_site", p)?;
    }
    let failover_within = e
        .failover_within
        .as_deref()
        .map(|v| dur(file, "expect.failover_within", v))
        .transpose()?;
    let fence_within = e
        .fence_within
        .as_deref()
        .map(|v| dur(file, "expect.fence_within", v))
        .transpose()?;
    for (site, n) in &e.divergent {
        known(&format!("expect.divergent.{site}"), site)?;
        if *n == 0 {
            return Err(err(
                file,
                &format!("expect.divergent.{site}"),
                "expected at least 1 divergent transaction (omit sites that do not diverge)",
            ));
        }
    }
    let has = |p: &str| e.properties.iter().any(|x| x == p);
    if !e.divergent.is_empty() && !has("NDA") {
        return Err(err(file, "expect.divergent", "is checked by NDA: add it"));
    }
    if !e.events.is_empty() && !has("EVENTS") {
        return Err(err(file, "expect.events", "is checked by EVENTS: add it"));
    }
    if has("FLAP-D") && !faults.iter().any(|f| f.op == "controller-restart") {
        return Err(err(
            file,
            "expect.properties",
            "FLAP-D judges a controller restart: add a controller-restart fault",
        ));
    }
    if has("FAILOVER") && (e.new_primary.is_none() || failover_within.is_none()) {
        return Err(err(
            file,
            "expect",
            "FAILOVER needs new_primary and failover_within",
        ));
    }
    if has("FAILOVER") && faults.is_empty() {
        return Err(err(file, "faults", "FAILOVER needs at least one fault"));
    }
    planned_expectations(file, e, &known)?;
    if has("REJOIN") && e.returning_site.is_none() {
        return Err(err(
            file,
            "expect.returning_site",
            "REJOIN needs the returning site",
        ));
    }
    Ok(Loaded {
        scenario: s,
        path: PathBuf::from(file),
        duration,
        faults,
        failover_within,
        fence_within,
    })
}

/// Loads one file.
pub fn load_file(path: &Path) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| err(&path.display().to_string(), "file", e.to_string()))?;
    let mut loaded = parse(&path.display().to_string(), &text)?;
    loaded.path = path.to_path_buf();
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if stem != loaded.scenario.id {
        return Err(err(
            &path.display().to_string(),
            "id",
            format!("{:?} must match the file name {stem:?}", loaded.scenario.id),
        ));
    }
    Ok(loaded)
}

/// The catalog folder: `$CHAOS_SCENARIOS`, else `scenarios/` of the workspace.
pub fn catalog_dir() -> PathBuf {
    if let Ok(d) = std::env::var("CHAOS_SCENARIOS") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
}

/// Loads every `*.toml` of the catalog (not regressions), sorted by id.
pub fn load_catalog(dir: &Path) -> Result<Vec<Loaded>, ScenarioError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(&dir.display().to_string(), "directory", e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}

/// Finds a scenario by id in the catalog.
pub fn find(dir: &Path, id: &str) -> Result<Loaded, ScenarioError> {
    let path = dir.join(format!("{id}.toml"));
    if !path.exists() {
        let known: Vec<String> = load_catalog(dir)
            .map(|c| c.into_iter().map(|l| l.scenario.id).collect())
            .unwrap_or_default();
        return Err(err(
            id,
            "scenario",
            format!("unknown scenario; known: {}", known.join(", ")),
        ));
    }
    load_file(&path)
}

/// The `[expect]` fields of PF and RCL (spec §4, §5).
fn planned_expectations(
    file: &str,
    e: &Expect,
    known: &dyn Fn(&str, &str) -> Result<(), ScenarioError>,
) -> Result<(), ScenarioError> {
    let has = |p: &str| e.properties.iter().any(|x| x == p);
    const PHASES: &[&str] = &["Succeeded", "Failed", "Deferred"];
    if let Some(p) = &e.planned_phase {
        if !PHASES.contains(&p.as_str()) {
            return Err(err(
                file,
                "expect.planned_phase",
                format!("{p:?}: expected one of {}", PHASES.join(", ")),
            ));
        }
    }
    if let Some(t) = &e.planned_target {
        known("expect.planned_target", t)?;
    }
    if let Some(t) = &e.dragonfly_active {
        known("expect.dragonfly_active", t)?;
    }
    if let Some(s) = &e.reclone_site {
        known("expect.reclone_site", s)?;
    }
    if let Some(r) = &e.reclone {
        if !["completed", "rejected"].contains(&r.as_str()) {
            return Err(err(
                file,
                "expect.reclone",
                format!("{r:?}: expected completed or rejected"),
            ));
        }
    }
    if has("PF") && e.planned_phase.is_none() {
        return Err(err(
            file,
            "expect.planned_phase",
            "PF needs the expected phase",
        ));
    }
    if (e.planned_phase.is_some() || e.planned_reason.is_some()) && !has("PF") {
        return Err(err(
            file,
            "expect.planned_phase",
            "is checked by PF: add it",
        ));
    }
    if has("RCL") && (e.reclone.is_none() || e.reclone_site.is_none()) {
        return Err(err(
            file,
            "expect.reclone",
            "RCL needs reclone and reclone_site",
        ));
    }
    if e.reclone.is_some() && !has("RCL") {
        return Err(err(file, "expect.reclone", "is checked by RCL: add it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
id = "x"
description = "d"
duration = "60s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
[[faults]]
at = "20s"
op = "node-down"
site = "a"
[expect]
properties = ["SW", "FAILOVER"]
new_primary = "b"
failover_within = "45s"
"#;

    #[test]
    fn a_valid_scenario_loads() {
        let l = parse("x.toml", OK).unwrap();
        assert_eq!(l.faults[0].at, Duration::from_secs(20));
        assert_eq!(l.failover_within, Some(Duration::from_secs(45)));
    }

    fn bad(from: &str, to: &str) -> String {
        parse("x.toml", &OK.replace(from, to))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_fresh_deploy_names_its_seed_as_active_and_has_no_history() {
        let fresh = |active: &str, extra: &str| {
            parse(
                "x.toml",
                &OK.replace(
                    "active = \"a\"",
                    &format!(
                        "active = \"{active}\"\npriorities = [\"b\", \"a\"]\nfresh = true{extra}"
                    ),
                ),
            )
        };
        assert!(fresh("b", "").unwrap().scenario.topology.fresh);
        let e = fresh("a", "").unwrap_err().to_string();
        assert!(
            e.contains("topology.active") && e.contains("expected \"b\""),
            "{e}"
        );
        let e = fresh("b", "\nhistory = \"b\"").unwrap_err().to_string();
        assert!(
            e.contains("topology.fresh") && e.contains("no failover history"),
            "{e}"
        );
    }

    #[test]
    fn spec_patch_takes_a_json_object() {
        let patch = |value: &str| {
            parse(
                "x.toml",
                &OK.replace(
                    "op = \"node-down\"\nsite = \"a\"",
                    &format!("op = \"spec-patch\"\nvalue = '{value}'"),
                ),
            )
        };
        assert!(patch(r#"{"image": "mysql:9.8"}"#).is_ok());
        for bad in ["mysql:9.8", "{}", "[1]"] {
            let e = patch(bad).unwrap_err().to_string();
            assert!(
                e.contains("faults[0].value") && e.contains("JSON merge patch"),
                "{bad}: {e}"
            );
        }
        let e = parse(
            "x.toml",
            &OK.replace(
                "op = \"node-down\"",
                "op = \"spec-patch\"\nvalue = '{\"image\": \"x\"}'",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("faults[0].site"),
            "spec-patch takes no site: {e}"
        );
    }

    #[test]
    fn mysqld_kill_takes_a_boot_mode() {
        let kill = |boot: &str| {
            parse(
                "x.toml",
                &OK.replace(
                    "op = \"node-down\"\nsite = \"a\"",
                    &format!("op = \"mysqld-kill\"\nsite = \"a\"{boot}"),
                ),
            )
        };
        assert!(
            kill("").unwrap().faults[0].boot_fenced,
            "the boot fence is the default"
        );
        assert!(!kill("\nboot = \"writable\"").unwrap().faults[0].boot_fenced);
        let e = kill("\nboot = \"open\"").unwrap_err().to_string();
        assert!(
            e.contains("faults[0].boot") && e.contains("expected fenced or writable"),
            "{e}"
        );
    }

    #[test]
    fn partitions_take_a_mode_and_default_to_blackhole() {
        let fault = |body: &str| {
            parse(
                "x.toml",
                &OK.replace("op = \"node-down\"\nsite = \"a\"", body),
            )
        };
        let l = fault("op = \"partition\"\nsite = \"a\"").unwrap();
        assert_eq!(l.faults[0].mode.as_deref(), Some("blackhole"));
        let l = fault("op = \"partition-pair\"\nsite = \"a\"\npeer = \"b\"\nmode = \"refuse\"")
            .unwrap();
        assert_eq!(l.faults[0].mode.as_deref(), Some("refuse"));
        let e = fault("op = \"partition\"\nsite = \"a\"\nmode = \"reset\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].mode: \"reset\": expected one of blackhole, refuse"),
            "{e}"
        );
        let e = fault(
            "op = \"partition-oneway\"\nsite = \"a\"\npeer = \"controller\"\nmode = \"refuse\"",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].mode: not used by \"partition-oneway\""),
            "{e}"
        );
    }

    #[test]
    fn pvc_loss_takes_a_mode_and_defaults_to_empty() {
        let fault = |body: &str| {
            parse(
                "x.toml",
                &OK.replace("op = \"node-down\"\nsite = \"a\"", body),
            )
        };
        let l = fault("op = \"pvc-loss\"\nsite = \"a\"").unwrap();
        assert_eq!(l.faults[0].mode.as_deref(), Some("empty"));
        let l = fault("op = \"pvc-loss\"\nsite = \"a\"\nmode = \"new-uuid\"\nn = 2").unwrap();
        assert_eq!(
            (l.faults[0].mode.as_deref(), l.faults[0].n),
            (Some("new-uuid"), 2)
        );
        let e = fault("op = \"pvc-loss\"\nsite = \"a\"\nmode = \"tape\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].mode: \"tape\": expected one of empty, new-uuid"),
            "{e}"
        );
        let e = fault("op = \"crash\"\nsite = \"a\"\nmode = \"empty\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].mode: not used by \"crash\""),
            "{e}"
        );
        let e = fault("op = \"pvc-loss\"").unwrap_err();
        assert!(e.to_string().contains("faults[0].site"), "{e}");
    }

    #[test]
    fn apiserver_fault_ops_validate_their_fields() {
        let fault = |body: &str| {
            parse(
                "x.toml",
                &OK.replace("op = \"node-down\"\nsite = \"a\"", body),
            )
        };
        let ok = fault("op = \"deny\"\nresource = \"status\"\nheal_at = \"40s\"").unwrap();
        assert_eq!(ok.faults[0].api, Some(ApiFault::Deny("status".into())));
        let ok = fault("op = \"api-latency\"\nmin = \"100ms\"\nmax = \"2s\"").unwrap();
        assert_eq!(
            ok.faults[0].api,
            Some(ApiFault::Latency {
                min: Duration::from_millis(100),
                max: Duration::from_secs(2)
            })
        );
        let cases = [
            (
                "op = \"apiserver-outage\"\nmode = \"flaky\"",
                "x.toml: faults[0].mode: \"flaky\": expected one of refuse, 503, hang",
            ),
            (
                "op = \"apiserver-outage\"",
                "faults[0].mode: \"apiserver-outage\" needs mode",
            ),
            (
                "op = \"deny\"\nresource = \"pods\"",
                "faults[0].resource: \"pods\": expected one of status, mfg, mfg-object, dnsendpoints, nodes, events",
            ),
            (
                "op = \"deny\"\nresource = \"status\"\nsite = \"a\"",
                "faults[0].site: not used by \"deny\" (it takes: resource, heal_at)",
            ),
            (
                "op = \"api-latency\"\nmin = \"2s\"\nmax = \"1s\"",
                "faults[0].max: \"1s\" is less than min",
            ),
            (
                "op = \"api-latency\"\nmin = \"2s\"",
                "faults[0].max: api-latency needs min and max",
            ),
            (
                "op = \"stale-read\"\nlag = \"0s\"",
                "faults[0].lag: expected more than 0s",
            ),
            ("op = \"stale-read\"", "faults[0].lag: stale-read needs lag"),
            (
                "op = \"watch-drop\"\nheal_at = \"10s\"",
                "faults[0].heal_at: 10s must be after `at`",
            ),
        ];
        for (body, want) in cases {
            let e = fault(body).unwrap_err().to_string();
            assert!(e.contains(want), "{body}: {e}");
        }
    }

    #[test]
    fn annotate_apply_stall_and_planned_expectations_are_checked() {
        let fault = |body: &str| {
            parse(
                "x.toml",
                &OK.replace("op = \"node-down\"\nsite = \"a\"", body),
            )
        };
        let l = fault("op = \"annotate\"\nkey = \"k\"\nvalue = \"b\"").unwrap();
        assert_eq!(l.faults[0].key.as_deref(), Some("k"));
        assert_eq!(l.faults[0].value.as_deref(), Some("b"));
        let e = fault("op = \"annotate\"\nvalue = \"b\"").unwrap_err();
        assert!(
            e.to_string().contains("faults[0].key: annotate needs"),
            "{e}"
        );
        let e = fault("op = \"annotate\"\nkey = \"k\"\nsite = \"a\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].site: not used by \"annotate\""),
            "{e}"
        );
        let l = fault("op = \"apply-stall\"\nsite = \"b\"\nheal_at = \"30s\"").unwrap();
        assert_eq!(l.faults[0].rate, 0.0);
        let e = fault("op = \"apply-stall\"\nsite = \"b\"\nrate = -1.0").unwrap_err();
        assert!(
            e.to_string().contains("faults[0].rate: -1: expected"),
            "{e}"
        );
        let expect = |tail: &str| {
            parse(
                "x.toml",
                &OK.replace("properties = [\"SW\", \"FAILOVER\"]", tail),
            )
        };
        let e = expect("properties = [\"SW\", \"FAILOVER\", \"PF\"]").unwrap_err();
        assert!(
            e.to_string().contains("expect.planned_phase: PF needs"),
            "{e}"
        );
        let e = expect("properties = [\"SW\", \"FAILOVER\", \"PF\"]\nplanned_phase = \"Done\"")
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("\"Done\": expected one of Succeeded"),
            "{e}"
        );
        let e = expect("properties = [\"SW\", \"FAILOVER\", \"RCL\"]\nreclone = \"completed\"")
            .unwrap_err();
        assert!(
            e.to_string().contains("RCL needs reclone and reclone_site"),
            "{e}"
        );
        assert!(
            expect("properties = [\"SW\", \"FAILOVER\", \"PF\"]\nplanned_phase = \"Failed\"")
                .is_ok()
        );
    }

    #[test]
    fn errors_name_file_field_and_expectation() {
        assert!(bad("op = \"node-down\"", "op = \"meteor\"")
            .contains("x.toml: faults[0].op: unknown fault \"meteor\""));
        assert!(
            bad("at = \"20s\"", "at = \"90s\"").contains("faults[0].at: 90s is not inside the run")
        );
        assert!(bad("site = \"a\"", "site = \"z\"").contains("faults[0].site: \"z\" is not a site"));
        assert!(
            bad("\"SW\",", "\"SWX\",").contains("expect.properties[0]: unknown property \"SWX\"")
        );
        assert!(bad("duration = \"60s\"", "duration = \"sixty\"")
            .contains("duration: invalid duration"));
        let fault = |body: &str| {
            parse(
                "x.toml",
                &OK.replace("op = \"node-down\"\nsite = \"a\"", body),
            )
        };
        let e = fault("op = \"partition-pair\"\nsite = \"a\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("x.toml: faults[0].peer: partition-pair needs the peer"),
            "{e}"
        );
        let e = fault("op = \"partition-pair\"\nsite = \"a\"\npeer = \"dns\"").unwrap_err();
        assert!(
            e.to_string().contains(
                "faults[0].peer: \"dns\": expected a site (a, b) or one of controller, apiserver, clients"
            ),
            "{e}"
        );
        let e = fault("op = \"partition-pair\"\nsite = \"a\"\npeer = \"a\"").unwrap_err();
        assert!(e.to_string().contains("is the site itself"), "{e}");
        let e = fault("op = \"controller-restart\"\nsite = \"a\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].site: not used by \"controller-restart\" (it takes: down)"),
            "{e}"
        );
        let e = fault("op = \"partition\"\nsite = \"a\"\nboot = \"fenced\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].boot: not used by \"partition\""),
            "{e}"
        );
        let e = fault("op = \"sidecar-kill\"\nsite = \"a\"\ndown = \"50s\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].down: \"50s\" must be more than 0s and end inside the run"),
            "{e}"
        );
        let e = fault("op = \"errant-write\"\nsite = \"a\"\nn = 0").unwrap_err();
        assert!(
            e.to_string().contains("faults[0].n: 0: expected 1 to 1000"),
            "{e}"
        );
        let e = fault("op = \"sql-fail\"\nsite = \"a\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].stmt: \"sql-fail\" needs the statement kind it hits"),
            "{e}"
        );
        let e = fault("op = \"sql-ambiguous\"\nsite = \"a\"\nstmt = \"fence\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].stmt: \"fence\": expected one of select, "),
            "{e}"
        );
        let e = fault("op = \"clock-skew\"\nhost = \"dns\"\noffset = \"+1m\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].host: \"dns\": expected a site (a, b) or controller"),
            "{e}"
        );
        let e = fault("op = \"clock-skew\"\nhost = \"a\"\noffset = \"soon\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].offset: \"soon\": expected a signed duration"),
            "{e}"
        );
        let ok = fault("op = \"clock-skew\"\nhost = \"controller\"\noffset = \"-90s\"").unwrap();
        assert_eq!(
            (ok.faults[0].site.as_str(), ok.faults[0].offset_ms),
            ("controller", -90_000)
        );
        let e = fault("op = \"aux-unready\"\nsite = \"a\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].site: not used by \"aux-unready\" (it takes: heal_at)"),
            "{e}"
        );
        let e = fault("op = \"rogue-unfence\"").unwrap_err();
        assert!(
            e.to_string()
                .contains("faults[0].site: \"rogue-unfence\" needs the site it hits"),
            "{e}"
        );
        let ok = fault("op = \"controller-restart\"").unwrap();
        assert_eq!(ok.faults[0].down, Some(CONTROLLER_RESTART_DOWN));
        assert_eq!(ok.faults[0].site, "");
        let ok = fault("op = \"errant-write\"\nsite = \"b\"\nn = 3").unwrap();
        assert_eq!(ok.faults[0].n, 3);
        let e = bad(
            "failover_within = \"45s\"",
            "failover_within = \"45s\"\ndivergent = { z = 1 }",
        );
        assert!(e.contains("expect.divergent.z: \"z\" is not a site"), "{e}");
        let e = bad(
            "failover_within = \"45s\"",
            "failover_within = \"45s\"\ndivergent = { a = 1 }",
        );
        assert!(e.contains("expect.divergent: is checked by NDA"), "{e}");
        let unknown_field = bad("description = \"d\"", "description = \"d\"\ncolour = 1");
        assert!(unknown_field.contains("x.toml: line 4"), "{unknown_field}");
        assert!(unknown_field.contains("colour"), "{unknown_field}");
    }
}
