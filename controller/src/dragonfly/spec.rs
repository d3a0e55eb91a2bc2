//! `spec.dragonfly`, `status.dragonfly` and `status.plannedFailover.dragonfly` (spec §7.1,
//! §7.4). Every field is optional in the group, so a group without Dragonfly serializes
//! exactly as before.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::crd::SpecError;
use crate::duration;

/// `spec.dragonfly`: one Dragonfly per site, following the active MySQL site.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DragonflySpec {
    #[serde(default)]
    pub enabled: bool,
    /// Container image; required when enabled, `:latest` refused.
    #[serde(default)]
    pub image: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_admin_port")]
    pub admin_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_mb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proactor_threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<DragonflyAuth>,
    #[serde(default)]
    pub planned_failover: DragonflyPlannedSpec,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DragonflyAuth {
    pub secret_name: String,
    #[serde(default = "default_password_key")]
    pub password_key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DragonflyPlannedSpec {
    /// How long a planned failover waits for the target to catch up (Go duration).
    #[serde(default = "default_max_sync_wait")]
    pub max_sync_wait: String,
    #[serde(default)]
    pub on_sync_timeout: OnSyncTimeout,
}

impl Default for DragonflyPlannedSpec {
    fn default() -> Self {
        Self {
            max_sync_wait: default_max_sync_wait(),
            on_sync_timeout: OnSyncTimeout::default(),
        }
    }
}

/// What a planned failover does when Dragonfly cannot be synced or promoted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnSyncTimeout {
    /// Go on with the MySQL promotion; sessions are not preserved.
    #[default]
    Proceed,
    /// Roll the planned failover back (unfence the MySQL source).
    Fail,
}

fn default_port() -> u16 {
    6379
}
fn default_admin_port() -> u16 {
    9999
}
fn default_password_key() -> String {
    "password".into()
}
fn default_max_sync_wait() -> String {
    "30s".into()
}

/// The parsed Dragonfly settings the managers run on (None in the config when disabled).
#[derive(Clone, Debug, PartialEq)]
pub struct DragonflyConfig {
    pub port: u16,
    /// Where the password is, when Dragonfly runs with `requirepass`.
    pub auth: Option<DragonflyAuth>,
    pub max_sync_wait: Duration,
    pub on_sync_timeout: OnSyncTimeout,
}

impl DragonflySpec {
    /// The CEL rules of §7.1 and the parsed durations; `Ok(None)` when disabled.
    pub fn validate(&self) -> Result<Option<DragonflyConfig>, SpecError> {
        if !self.enabled {
            return Ok(None);
        }
        let err = |field: &str, message: String| SpecError {
            field: format!("dragonfly.{field}"),
            message,
        };
        if self.image.is_empty() {
            return Err(err("image", "required when dragonfly.enabled".into()));
        }
        if self.image.ends_with(":latest") {
            return Err(err(
                "image",
                format!(
                    "{:?}: expected a pinned tag or digest, not :latest",
                    self.image
                ),
            ));
        }
        if self.port == 0 {
            return Err(err("port", "must be 1-65535".into()));
        }
        let max_sync_wait = duration::parse(&self.planned_failover.max_sync_wait)
            .map_err(|e| err("plannedFailover.maxSyncWait", e.to_string()))?;
        if max_sync_wait.is_zero() {
            return Err(err(
                "plannedFailover.maxSyncWait",
                "must be more than 0s".into(),
            ));
        }
        if let Some(a) = &self.auth {
            if a.secret_name.is_empty() {
                return Err(err(
                    "auth.secretName",
                    "required: the Secret holding the Dragonfly password".into(),
                ));
            }
            if a.password_key.is_empty() {
                return Err(err(
                    "auth.passwordKey",
                    "must name a key of the Secret (default \"password\")".into(),
                ));
            }
        }
        Ok(Some(DragonflyConfig {
            port: self.port,
            auth: self.auth.clone(),
            max_sync_wait,
            on_sync_timeout: self.planned_failover.on_sync_timeout,
        }))
    }
}

/// `status.dragonfly` (spec §7.1).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DragonflyStatus {
    pub enabled: bool,
    #[serde(default)]
    pub active_site: String,
    /// Disabled, Reconciling, ConfiguringReplication, Degraded, Ready or Promoting.
    #[serde(default)]
    pub phase: String,
    /// Always serialized (null when clear): the status is a JSON merge patch, where an
    /// absent field would keep a stale message forever.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_promotion_target: Option<String>,
    #[serde(default)]
    pub sites: Vec<DragonflySiteStatus>,
}

/// One site's Dragonfly as last observed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DragonflySiteStatus {
    pub name: String,
    /// unknown, master, replica, stale-master, unconfigured or unreachable.
    pub role: String,
    pub reachable: bool,
    pub service_name: String,
    pub pod_name: String,
    #[serde(default)]
    pub replication_state: String,
    #[serde(default)]
    pub link_status: String,
    #[serde(default)]
    pub sync_in_progress: bool,
    /// -1 when the link never did I/O.
    pub last_io_seconds_ago: i64,
    /// Replication offset (master_repl_offset on a master, slave_repl_offset on a replica).
    #[serde(default)]
    pub offset: u64,
    pub ready: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `status.plannedFailover.dragonfly` (spec §7.4).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedDragonflyStatus {
    pub enabled: bool,
    pub sync_wait_start_time: Option<String>,
    pub source_offset_at_drain: Option<u64>,
    #[serde(default)]
    pub offset_capture_failed: bool,
    pub target_offset_at_promotion: Option<u64>,
    pub sync_wait_seconds: Option<i64>,
    pub sessions_preserved: Option<bool>,
    pub promotion_method: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
}

/// The validation of [`DragonflySpec`] as exercised by the group's `validate`.
#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DragonflySpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn disabled_needs_nothing() {
        assert_eq!(spec("{}").validate(), Ok(None));
    }

    #[test]
    fn enabled_parses_defaults() {
        let c =
            spec("{enabled: true, image: 'docker.dragonflydb.io/dragonflydb/dragonfly:v1.38.0'}")
                .validate()
                .unwrap()
                .unwrap();
        assert_eq!(c.port, 6379);
        assert_eq!(c.max_sync_wait, Duration::from_secs(30));
        assert_eq!(c.on_sync_timeout, OnSyncTimeout::Proceed);
        assert_eq!(c.auth, None);
        let a = spec("{enabled: true, image: 'df:v1', auth: {secretName: df-auth}}")
            .validate()
            .unwrap()
            .unwrap()
            .auth
            .unwrap();
        assert_eq!(
            (a.secret_name.as_str(), a.password_key.as_str()),
            ("df-auth", "password")
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            ("{enabled: true}", "spec.dragonfly.image"),
            (
                "{enabled: true, image: 'dragonfly:latest'}",
                "spec.dragonfly.image",
            ),
            (
                "{enabled: true, image: 'df:v1', plannedFailover: {maxSyncWait: 30}}",
                "spec.dragonfly.plannedFailover.maxSyncWait",
            ),
            (
                "{enabled: true, image: 'df:v1', plannedFailover: {maxSyncWait: 0s}}",
                "spec.dragonfly.plannedFailover.maxSyncWait",
            ),
            (
                "{enabled: true, image: 'df:v1', auth: {secretName: ''}}",
                "spec.dragonfly.auth.secretName",
            ),
            (
                "{enabled: true, image: 'df:v1', auth: {secretName: df, passwordKey: ''}}",
                "spec.dragonfly.auth.passwordKey",
            ),
        ];
        for (yaml, field) in cases {
            let e = spec(yaml).validate().unwrap_err();
            assert!(e.to_string().starts_with(field), "{yaml}: {e}");
        }
        assert!(
            serde_yaml::from_str::<DragonflySpec>("{plannedFailover: {onSyncTimeout: maybe}}")
                .is_err()
        );
    }
}
