//! `MysqlBackup` (`mb`) and `MysqlBackupVerification` (`mbv`), group `shipstream.io`,
//! version `v1alpha1` (spec §2.4), and the backup profiles of a `MysqlFailoverGroup`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `spec.backup` of a MysqlFailoverGroup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    #[serde(default)]
    pub profiles: Vec<BackupProfile>,
}

/// A named way to take backups: where they go and which sources are acceptable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupProfile {
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// Object store kind, e.g. `s3`.
    #[serde(default = "default_storage_type")]
    pub storage_type: String,
    /// Bucket (or container) the artifacts are written to.
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// A replica lagging more than this is not a backup source.
    #[serde(default = "default_max_lag")]
    pub max_lag_seconds_for_source: u64,
    /// Whether the active primary may be the source when no replica qualifies.
    #[serde(default = "default_true")]
    pub allow_primary_source: bool,
    /// Image of the backup and verification Jobs.
    #[serde(default = "default_job_image")]
    pub image: String,
}

fn default_storage_type() -> String {
    "s3".into()
}

fn default_max_lag() -> u64 {
    300
}

fn default_true() -> bool {
    true
}

fn default_job_image() -> String {
    "ghcr.io/shipstream/bloodraven-backup:latest".into()
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackupPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl BackupPhase {
    pub fn ended(self) -> bool {
        matches!(self, BackupPhase::Succeeded | BackupPhase::Failed)
    }
}

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "shipstream.io",
    version = "v1alpha1",
    kind = "MysqlBackup",
    plural = "mysqlbackups",
    shortname = "mb",
    namespaced,
    status = "MysqlBackupStatus",
    printcolumn = r#"{"name":"Group","type":"string","jsonPath":".spec.failoverGroupRef"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".status.sourceSite"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupSpec {
    /// The MysqlFailoverGroup (same namespace) to back up.
    pub failover_group_ref: String,
    /// One of the group's `spec.backup.profiles[].name`.
    pub profile_name: String,
    /// Take the backup from this site (never a reader) instead of choosing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_site_override: Option<String>,
    /// Who asked: `schedule`, `kubectl-bloodraven`, a user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupStatus {
    #[serde(default)]
    pub phase: BackupPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The GTID set the artifact is consistent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_executed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site_at_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "shipstream.io",
    version = "v1alpha1",
    kind = "MysqlBackupVerification",
    plural = "mysqlbackupverifications",
    shortname = "mbv",
    namespaced,
    status = "MysqlBackupVerificationStatus",
    printcolumn = r#"{"name":"Backup","type":"string","jsonPath":".status.backupName"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupVerificationSpec {
    pub failover_group_ref: String,
    pub profile_name: String,
    /// The MysqlBackup to verify; absent = the latest Succeeded one of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MysqlBackupVerificationStatus {
    #[serde(default)]
    pub phase: BackupPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// `@@gtid_executed` of the restored instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_gtid_executed: Option<String>,
    /// The sanity query's answer: rows in the restored workload table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the two request statuses share: a phase and, once ended, why and when.
pub trait RequestStatus {
    fn phase(&self) -> BackupPhase;
    /// Ends the request `Failed` with `reason` at `at`.
    fn fail(&mut self, reason: &str, message: String, at: String);
    /// `reason: message`, as the plugin reports an ended request.
    fn why(&self) -> String;
}

/// Both statuses keep these fields under the same names.
macro_rules! request_status {
    ($($status:ty),*) => {$(
        impl RequestStatus for $status {
            fn phase(&self) -> BackupPhase {
                self.phase
            }

            fn fail(&mut self, reason: &str, message: String, at: String) {
                self.phase = BackupPhase::Failed;
                self.reason = Some(reason.into());
                self.message = Some(message);
                self.completion_time = Some(at);
            }

            fn why(&self) -> String {
                format!(
                    "{}: {}",
                    self.reason.as_deref().unwrap_or_default(),
                    self.message.as_deref().unwrap_or_default()
                )
            }
        }
    )*};
}

request_status!(MysqlBackupStatus, MysqlBackupVerificationStatus);

/// The backup a verification without `backupName` restores: the group's latest
/// `Succeeded` backup of the profile (by completion time, then name).
pub fn latest_succeeded<'a>(
    backups: &'a [MysqlBackup],
    group: &str,
    profile: &str,
) -> Option<&'a MysqlBackup> {
    backups
        .iter()
        .filter(|b| {
            b.spec.failover_group_ref == group
                && b.spec.profile_name == profile
                && b.status
                    .as_ref()
                    .is_some_and(|s| s.phase == BackupPhase::Succeeded)
        })
        .max_by_key(|b| {
            (
                b.status.as_ref().and_then(|s| s.completion_time.clone()),
                b.metadata.name.clone(),
            )
        })
}

/// The Job of a backup attempt and of a verification: named after the request, so a
/// restarted controller finds the Job it created (see `reconcile`).
pub fn backup_job_name(request: &str, attempt: u32) -> String {
    format!("{request}-backup-{attempt}")
}

pub fn verify_job_name(request: &str) -> String {
    format!("{request}-verify")
}

/// Kubernetes labels every Job's pods with `job-name`, and a label value holds at most 63
/// characters, so a request whose Job name is longer can never run.
pub const MAX_JOB_NAME: usize = 63;

/// Checks that `job`, the Job of request `request`, is a valid Job name: a DNS-1123
/// subdomain short enough to be a label value.
pub fn check_job_name(request: &str, job: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = job.len() <= MAX_JOB_NAME
        && job.split('.').all(|part| {
            part.starts_with(alnum)
                && part.ends_with(alnum)
                && part.chars().all(|c| alnum(c) || c == '-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name {request:?} cannot be used: its Job would be named {job:?}, which must be at most {MAX_JOB_NAME} lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        ))
    }
}

/// The two CRD manifests as YAML, `(file stem, yaml)`.
pub fn crd_yamls() -> [(&'static str, String); 2] {
    use kube::CustomResourceExt;
    [
        (
            "mysqlbackups.shipstream.io",
            serde_yaml::to_string(&MysqlBackup::crd()).expect("CRD serializes"),
        ),
        (
            "mysqlbackupverifications.shipstream.io",
            serde_yaml::to_string(&MysqlBackupVerification::crd()).expect("CRD serializes"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_name_must_be_a_short_dns_subdomain() {
        let ok = |n: &str| check_job_name("r", n).is_ok();
        assert!(ok("nightly-1-backup-1"));
        assert!(ok("a.b-verify"));
        assert!(ok(&"x".repeat(MAX_JOB_NAME)));
        assert!(!ok(&"x".repeat(MAX_JOB_NAME + 1)));
        for bad in [
            "Nightly-verify",
            "a_b-verify",
            "-a-verify",
            "a..b-verify",
            "a.-b-verify",
        ] {
            assert!(!ok(bad), "{bad}");
        }
        let e = check_job_name("Bad", "Bad-verify").unwrap_err();
        assert!(e.contains("name \"Bad\" cannot be used"), "{e}");
    }

    fn backup(name: &str, group: &str, profile: &str, phase: BackupPhase, at: &str) -> MysqlBackup {
        let mut b = MysqlBackup::new(
            name,
            MysqlBackupSpec {
                failover_group_ref: group.into(),
                profile_name: profile.into(),
                ..Default::default()
            },
        );
        b.status = Some(MysqlBackupStatus {
            phase,
            completion_time: Some(at.into()),
            ..Default::default()
        });
        b
    }

    #[test]
    fn the_latest_succeeded_backup_is_of_the_group_and_profile() {
        use BackupPhase::*;
        let items = [
            backup("old", "g", "p", Succeeded, "2026-01-01T00:00:00Z"),
            backup("new", "g", "p", Succeeded, "2026-01-02T00:00:00Z"),
            backup("failed", "g", "p", Failed, "2026-01-03T00:00:00Z"),
            backup("other-profile", "g", "q", Succeeded, "2026-01-04T00:00:00Z"),
            backup("other-group", "h", "p", Succeeded, "2026-01-05T00:00:00Z"),
        ];
        let name = |b: Option<&MysqlBackup>| b.and_then(|b| b.metadata.name.clone());
        assert_eq!(name(latest_succeeded(&items, "g", "p")), Some("new".into()));
        assert_eq!(
            name(latest_succeeded(&items, "g", "q")),
            Some("other-profile".into())
        );
        assert_eq!(name(latest_succeeded(&items, "g", "r")), None);
    }
}
