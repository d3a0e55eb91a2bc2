//! The `MysqlFailoverGroup` custom resource (group `shipstream.io`, version `v1alpha1`),
//! spec §2.1 and status §2.2, plus the validation the CRD's CEL rules express.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration;

pub const GROUP: &str = "shipstream.io";
pub const VERSION: &str = "v1alpha1";
pub const ANNOTATION_LAST_FAILOVER: &str = "bloodraven.shipstream.io/last-failover";
pub const ANNOTATION_LAST_FAILOVER_TARGET: &str = "bloodraven.shipstream.io/last-failover-target";

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "shipstream.io",
    version = "v1alpha1",
    kind = "MysqlFailoverGroup",
    plural = "mysqlfailovergroups",
    shortname = "mfg",
    namespaced,
    status = "MysqlFailoverGroupStatus",
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.activeSite"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.sites.filter(s, !has(s.role) || s.role == 'primary-candidate').size() >= 2").message("at least 2 sites must have role primary-candidate"),
    validation = Rule::new("self.sites.all(a, self.sites.filter(b, b.name == a.name).size() == 1)").message("site names must be unique"),
    validation = Rule::new("!has(self.splitBrainPolicy) || !has(self.splitBrainPolicy.sitePriorities) || self.splitBrainPolicy.sitePriorities.all(p, self.sites.exists(s, s.name == p && (!has(s.role) || s.role == 'primary-candidate')))").message("splitBrainPolicy.sitePriorities entries must name primary-candidate sites"),
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlFailoverGroupSpec {
    #[serde(default = "default_image")]
    pub image: String,
    #[serde(default = "default_sidecar_image")]
    pub sidecar_image: String,
    #[schemars(length(min = 2, max = 16))]
    pub sites: Vec<SiteSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    pub dns: DnsSpec,
    #[serde(default = "default_poll_interval")]
    pub poll_interval: String,
    #[serde(default = "default_failure_threshold")]
    #[schemars(range(min = 1))]
    pub failure_threshold: u32,
    #[serde(default = "default_recovery_threshold")]
    #[schemars(range(min = 1))]
    pub recovery_threshold: u32,
    #[serde(default = "default_cooldown")]
    pub failover_cooldown: String,
    #[serde(default)]
    pub sidecar: SidecarSpec,
    #[serde(default)]
    pub split_brain_policy: SplitBrainPolicy,
    #[serde(default)]
    pub replication: ReplicationSpec,
    #[serde(default)]
    pub planned_failover: PlannedFailoverSpec,
    /// my.cnf overrides (`[mysqld]` keys); the replication settings stay enforced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mysql_conf: BTreeMap<String, String>,
    #[serde(default)]
    pub update_strategy: UpdateStrategy,
    #[serde(default = "default_termination_grace")]
    pub termination_grace_period_seconds: i64,
    /// On-demand backup profiles (spec §2.4); without it MysqlBackups of the group are
    /// not looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::backup::crd::BackupSpec>,
    /// The optional Dragonfly sidekick (spec §7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dragonfly: Option<crate::dragonfly::DragonflySpec>,
}

/// How spec changes reach the pods (§3.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UpdateStrategy {
    /// Replicas first, then a planned switchover, then the old primary.
    #[default]
    OrderedUpdate,
    /// Every Deployment at once.
    Recreate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteSpec {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default)]
    pub role: SiteRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default)]
    pub taint_node_selector: BTreeMap<String, String>,
    #[serde(default, rename = "lbIP", skip_serializing_if = "Option::is_none")]
    pub lb_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourcesSpec>,
}

/// The data volume of a site (PVC `mysql-<group>-<site>-data`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    #[serde(default = "default_storage_size")]
    pub size: String,
}

/// Requests and limits of the mysql container (quantities as strings, e.g. `500m`, `2Gi`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum SiteRole {
    #[default]
    #[serde(rename = "primary-candidate")]
    PrimaryCandidate,
    #[serde(rename = "dr-only")]
    DrOnly,
    /// A reader: serves reads only, never promoted or tainted.
    #[serde(rename = "read-only")]
    ReadOnly,
}

impl SiteRole {
    pub fn is_promotable(self) -> bool {
        self == SiteRole::PrimaryCandidate
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SiteRole::PrimaryCandidate => "primary-candidate",
            SiteRole::DrOnly => "dr-only",
            SiteRole::ReadOnly => "read-only",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsSpec {
    pub hostname: String,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SidecarSpec {
    #[serde(default = "default_lease")]
    pub lease_timeout: String,
    #[serde(default = "default_peer_check")]
    pub peer_check_interval: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bloodraven_address: Option<String>,
}

impl Default for SidecarSpec {
    fn default() -> Self {
        Self {
            lease_timeout: default_lease(),
            peer_check_interval: default_peer_check(),
            bloodraven_address: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SplitBrainPolicy {
    /// Ordered primary-candidate names; empty means manual resolution.
    #[serde(default)]
    pub site_priorities: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationSpec {
    /// Drives only the ReplicationLagging condition and the replicas serving gate; never
    /// a promotion gate.
    #[serde(default = "default_max_lag")]
    pub max_lag_seconds: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_max_lag_seconds: Option<u64>,
}

impl Default for ReplicationSpec {
    fn default() -> Self {
        Self {
            max_lag_seconds: default_max_lag(),
            read_only_max_lag_seconds: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedFailoverSpec {
    #[serde(default = "default_max_lag_wait")]
    pub max_lag_wait: String,
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: String,
    #[serde(default)]
    pub on_cooldown: OnCooldown,
}

impl Default for PlannedFailoverSpec {
    fn default() -> Self {
        Self {
            max_lag_wait: default_max_lag_wait(),
            drain_timeout: default_drain_timeout(),
            on_cooldown: OnCooldown::Reject,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnCooldown {
    #[default]
    Reject,
    Defer,
}

fn default_image() -> String {
    "mysql:9.7".into()
}
fn default_sidecar_image() -> String {
    format!(
        "ghcr.io/shipstream/bloodraven-sidecar:{}",
        env!("CARGO_PKG_VERSION")
    )
}
fn default_storage_size() -> String {
    "10Gi".into()
}
fn default_termination_grace() -> i64 {
    60
}
fn default_poll_interval() -> String {
    "2s".into()
}
fn default_failure_threshold() -> u32 {
    3
}
fn default_recovery_threshold() -> u32 {
    2
}
fn default_cooldown() -> String {
    "5m".into()
}
fn default_ttl() -> u32 {
    60
}
fn default_lease() -> String {
    "20s".into()
}
fn default_peer_check() -> String {
    "5s".into()
}
fn default_max_lag() -> u64 {
    300
}
fn default_max_lag_wait() -> String {
    "5m".into()
}
fn default_drain_timeout() -> String {
    "30s".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlFailoverGroupStatus {
    #[serde(default)]
    pub active_site: String,
    #[serde(default)]
    pub sites: Vec<SiteStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover_target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_gtid_executed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_failover: Option<PlannedFailoverStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dragonfly: Option<crate::dragonfly::DragonflyStatus>,
    /// The ordered update's phase while one runs (spec §3.9): `UpdateReplica`,
    /// `WaitReplica`, `Failover`, or `Failed`. Null when idle, so the merge patch clears it.
    #[serde(default)]
    pub update_phase: Option<String>,
}

/// Phases of a planned failover (spec §4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PlannedPhase {
    #[default]
    Pending,
    Validating,
    Draining,
    WaitingForLag,
    WaitingForDragonflySync,
    PromotingDragonfly,
    Promoting,
    Resuming,
    Succeeded,
    Failed,
    Deferred,
}

impl PlannedPhase {
    /// In flight: holds the guard that pauses the emergency evaluator and DNS healing.
    pub fn in_flight(self) -> bool {
        !matches!(
            self,
            PlannedPhase::Succeeded | PlannedPhase::Failed | PlannedPhase::Deferred
        )
    }

    pub fn terminal(self) -> bool {
        matches!(self, PlannedPhase::Succeeded | PlannedPhase::Failed)
    }
}

/// `status.plannedFailover`: everything a restarted controller needs to resume or roll
/// back the operation (spec §4.5). Stamps are RFC3339 UTC. Unset fields serialize as
/// null so the status merge patch clears what an earlier operation left behind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedFailoverStatus {
    pub phase: PlannedPhase,
    #[serde(default)]
    pub target_site: String,
    #[serde(default)]
    pub source_primary: String,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub max_lag_wait: Option<String>,
    #[serde(default)]
    pub drain_timeout: Option<String>,
    #[serde(default)]
    pub source_gtid_at_fence: Option<String>,
    #[serde(default)]
    pub drain_start_time: Option<String>,
    #[serde(default)]
    pub lag_wait_start_time: Option<String>,
    #[serde(default)]
    pub target_gtid_at_promotion: Option<String>,
    #[serde(default)]
    pub retry_after: Option<String>,
    #[serde(default)]
    pub completion_time: Option<String>,
    #[serde(default)]
    pub duration_seconds: Option<i64>,
    #[serde(default)]
    pub transactions_lost: Option<u64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// The Dragonfly half (spec §7.4); absent when Dragonfly is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dragonfly: Option<crate::dragonfly::PlannedDragonflyStatus>,
    /// What started it: absent for the annotation, [`TRIGGERED_BY_ORDERED_UPDATE`] for the
    /// ordered update's handoff (spec §3.9), which the anti-flap cooldown does not gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
}

/// `status.plannedFailover.triggeredBy` of the ordered update's handoff.
pub const TRIGGERED_BY_ORDERED_UPDATE: &str = "OrderedUpdate";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    pub name: String,
    /// writable, read-only, unreachable, unknown
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub gtid_executed: String,
    #[serde(default)]
    pub replicating: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_behind_source: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recovery_state: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub divergent_gtid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divergent_transaction_count: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source_host: String,
}

/// The spec with every duration parsed and every rule checked: what the topology manager
/// runs on. Built by [`MysqlFailoverGroupSpec::validate`].
#[derive(Clone, Debug, PartialEq)]
pub struct TopologyConfig {
    pub sites: Vec<SiteSpec>,
    pub dns_hostname: String,
    pub dns_ttl: u32,
    pub poll_interval: Duration,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub failover_cooldown: Duration,
    pub site_priorities: Vec<String>,
    pub max_lag_seconds: u64,
    /// The lag a reader may have and still be served; None inherits `max_lag_seconds`.
    pub read_only_max_lag_seconds: Option<u64>,
    pub planned_max_lag_wait: Duration,
    pub planned_drain_timeout: Duration,
    pub planned_on_cooldown: OnCooldown,
    /// None when Dragonfly is disabled.
    pub dragonfly: Option<crate::dragonfly::DragonflyConfig>,
}

/// A spec field that breaks a rule: names the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spec.{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn spec_err(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

impl MysqlFailoverGroupSpec {
    /// Checks the CEL rules of §2.1 (the apiserver may not enforce them: old CRDs, fakes)
    /// and parses the durations.
    pub fn validate(&self) -> Result<TopologyConfig, SpecError> {
        if self.sites.len() < 2 || self.sites.len() > 16 {
            return Err(spec_err(
                "sites",
                format!("expected 2 to 16 sites, got {}", self.sites.len()),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.sites.iter().enumerate() {
            if s.name.is_empty() || s.name.len() > 253 {
                return Err(spec_err(
                    format!("sites[{i}].name"),
                    "expected 1 to 253 characters",
                ));
            }
            if !seen.insert(s.name.as_str()) {
                return Err(spec_err(
                    format!("sites[{i}].name"),
                    format!("duplicate site name {:?}", s.name),
                ));
            }
        }
        let candidates = self.sites.iter().filter(|s| s.role.is_promotable()).count();
        if candidates < 2 {
            return Err(spec_err(
                "sites",
                format!("at least 2 sites must have role primary-candidate, found {candidates}"),
            ));
        }
        for (i, p) in self.split_brain_policy.site_priorities.iter().enumerate() {
            match self.sites.iter().find(|s| &s.name == p) {
                Some(s) if s.role.is_promotable() => {}
                Some(_) => {
                    return Err(spec_err(
                        format!("splitBrainPolicy.sitePriorities[{i}]"),
                        format!("{p:?} is not a primary-candidate site"),
                    ))
                }
                None => {
                    return Err(spec_err(
                        format!("splitBrainPolicy.sitePriorities[{i}]"),
                        format!("{p:?} is not a site of this group"),
                    ))
                }
            }
        }
        if self.dns.hostname.is_empty() {
            return Err(spec_err("dns.hostname", "required"));
        }
        let dur =
            |field: &str, v: &str| duration::parse(v).map_err(|e| spec_err(field, e.to_string()));
        let poll_interval = dur("pollInterval", &self.poll_interval)?;
        if poll_interval < Duration::from_millis(100) {
            return Err(spec_err(
                "pollInterval",
                format!("{:?} is below the 100ms minimum", self.poll_interval),
            ));
        }
        if self.failure_threshold < 1 {
            return Err(spec_err("failureThreshold", "must be at least 1"));
        }
        if self.recovery_threshold < 1 {
            return Err(spec_err("recoveryThreshold", "must be at least 1"));
        }
        let mut failover_cooldown = dur("failoverCooldown", &self.failover_cooldown)?;
        if failover_cooldown.is_zero() {
            // The original falls back to 5m on 0 as well.
            failover_cooldown = Duration::from_secs(300);
        }
        if dur("sidecar.leaseTimeout", &self.sidecar.lease_timeout)?.is_zero() {
            return Err(spec_err(
                "sidecar.leaseTimeout",
                "must be more than 0s (the sidecar clamps it to at least 3s)",
            ));
        }
        dur(
            "sidecar.peerCheckInterval",
            &self.sidecar.peer_check_interval,
        )?;
        let planned_max_lag_wait = dur(
            "plannedFailover.maxLagWait",
            &self.planned_failover.max_lag_wait,
        )?;
        let planned_drain_timeout = dur(
            "plannedFailover.drainTimeout",
            &self.planned_failover.drain_timeout,
        )?;
        Ok(TopologyConfig {
            sites: self.sites.clone(),
            dns_hostname: self.dns.hostname.clone(),
            dns_ttl: self.dns.ttl,
            poll_interval,
            failure_threshold: self.failure_threshold,
            recovery_threshold: self.recovery_threshold,
            failover_cooldown,
            site_priorities: self.split_brain_policy.site_priorities.clone(),
            max_lag_seconds: self.replication.max_lag_seconds,
            read_only_max_lag_seconds: self.replication.read_only_max_lag_seconds,
            planned_max_lag_wait,
            planned_drain_timeout,
            planned_on_cooldown: self.planned_failover.on_cooldown,
            dragonfly: match &self.dragonfly {
                Some(d) => d.validate()?,
                None => None,
            },
        })
    }
}

/// Names the per-site objects the controller creates and dials.
pub fn internal_service(group: &str, site: &str) -> String {
    format!("mysql-{group}-{site}-internal")
}

/// The Secret holding the operator's MySQL credentials: `spec.secretName`, or
/// `mysql-<group>-operator` when unset.
pub fn operator_secret_name(spec: &MysqlFailoverGroupSpec, group: &str) -> String {
    spec.secret_name
        .clone()
        .unwrap_or_else(|| format!("mysql-{group}-operator"))
}

pub fn dns_endpoint_name(group: &str) -> String {
    format!("bloodraven-{group}")
}

/// The CRD manifest as YAML (what `bloodraven crd` prints).
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&MysqlFailoverGroup::crd()).expect("CRD serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> MysqlFailoverGroupSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    const TWO_SITES: &str = "sites: [{name: a}, {name: b}]\ndns: {hostname: db.example.com}\n";

    #[test]
    fn defaults_follow_the_spec() {
        let s = spec(TWO_SITES);
        let c = s.validate().unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(2));
        assert_eq!((c.failure_threshold, c.recovery_threshold), (3, 2));
        assert_eq!(c.failover_cooldown, Duration::from_secs(300));
        assert_eq!(c.dns_ttl, 60);
        assert_eq!(s.sidecar.lease_timeout, "20s");
        assert_eq!(s.sidecar.peer_check_interval, "5s");
        assert_eq!(s.replication.max_lag_seconds, 300);
        assert_eq!(s.planned_failover.max_lag_wait, "5m");
        assert_eq!(s.sites[0].role, SiteRole::PrimaryCandidate);
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            ("sites: [{name: a}, {name: a}]\ndns: {hostname: x}\n", "spec.sites[1].name"),
            ("sites: [{name: a}, {name: b, role: dr-only}]\ndns: {hostname: x}\n", "spec.sites"),
            (
                "sites: [{name: a}, {name: b}, {name: d, role: dr-only}]\ndns: {hostname: x}\nsplitBrainPolicy: {sitePriorities: [d]}\n",
                "spec.splitBrainPolicy.sitePriorities[0]",
            ),
            ("sites: [{name: a}, {name: b}]\ndns: {hostname: x}\npollInterval: 2\n", "spec.pollInterval"),
            ("sites: [{name: a}, {name: b}]\ndns: {hostname: x}\nfailureThreshold: 0\n", "spec.failureThreshold"),
            ("sites: [{name: a}]\ndns: {hostname: x}\n", "spec.sites"),
            (
                "sites: [{name: a}, {name: b}]\ndns: {hostname: x}\nsplitBrainPolicy: {sitePriorities: [z]}\n",
                "spec.splitBrainPolicy.sitePriorities[0]",
            ),
            ("sites: [{name: a}, {name: b}]\ndns: {hostname: x}\nsidecar: {leaseTimeout: 0s}\n", "spec.sidecar.leaseTimeout"),
        ];
        for (yaml, field) in cases {
            let e = spec(yaml).validate().unwrap_err();
            assert!(e.to_string().starts_with(field), "{yaml}: {e}");
        }
    }

    #[test]
    fn crd_yaml_has_group_version_and_status_subresource() {
        let y = crd_yaml();
        assert!(y.contains("group: shipstream.io"));
        assert!(y.contains("name: v1alpha1"));
        assert!(y.contains("status: {}"));
        assert!(y.contains("mysqlfailovergroups.shipstream.io"));
        // The CEL rules of spec 2.1 expressible in the CRD.
        assert!(y.contains("at least 2 sites must have role primary-candidate"));
        assert!(y.contains("site names must be unique"));
        assert!(y.contains("sitePriorities entries must name primary-candidate sites"));
    }
}
