//! The driver's side of backups: the group's backup profiles, and the `backup`,
//! `verify-backup` and `backup-drop-rows` timeline entries.

use serde_json::{json, Value};

use super::{Action, GROUP, NAMESPACE};
use crate::fake_backup::JobRunner;
use crate::fake_k8s::ApiServer;
use crate::trace::{EventKind, Trace};

/// The bucket every scenario profile writes to.
pub const BUCKET: &str = "chaos-backups";

/// `spec.backup` with one profile per name.
pub fn profiles(names: &[String]) -> Value {
    json!({ "profiles": names.iter().map(|n| json!({"name": n, "bucket": BUCKET})).collect::<Vec<_>>() })
}

/// Applies a backup entry of the timeline; false when `action` is none.
pub(super) fn driver_action(
    api: &ApiServer,
    runner: &mut JobRunner,
    action: &Action,
    trace: &Trace,
) -> bool {
    match action {
        Action::BackupDropRows { n } => {
            trace.record(EventKind::Fault {
                op: "backup-drop-rows".into(),
                detail: format!("the next backup leaves out its {n} newest rows"),
                heal: false,
            });
            runner.drop_rows = *n;
            true
        }
        Action::BackupRequest { op, req } => {
            let (resource, kind, mut spec) = if op == "backup" {
                (
                    "mysqlbackups",
                    "MysqlBackup",
                    json!({"failoverGroupRef": GROUP, "profileName": req.profile, "triggeredBy": "chaos"}),
                )
            } else {
                (
                    "mysqlbackupverifications",
                    "MysqlBackupVerification",
                    json!({"failoverGroupRef": GROUP, "profileName": req.profile}),
                )
            };
            if let Some(s) = &req.source {
                spec["sourceSiteOverride"] = json!(s);
            }
            if let Some(b) = &req.backup {
                spec["backupName"] = json!(b);
            }
            trace.record(EventKind::Fault {
                op: op.clone(),
                detail: format!("{kind} {} created: {spec}", req.name),
                heal: false,
            });
            let obj = json!({
                "apiVersion": "shipstream.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": req.name, "namespace": NAMESPACE},
                "spec": spec,
            });
            if let Err(e) = api.put_raw(resource, obj) {
                trace.record(EventKind::Fault {
                    op: op.clone(),
                    detail: format!("creating {kind} {} failed: {e:?}", req.name),
                    heal: false,
                });
            }
            true
        }
        _ => false,
    }
}
