//! The per-poll backup reconcile of one group: each `MysqlBackup` and
//! `MysqlBackupVerification` naming it advances Pending → Running → Succeeded / Failed.
//!
//! Crash safety: the Job name is derived from the request's name, so a controller that
//! created a Job and died before recording it finds it again (409) and adopts it, with the
//! source the Job was created for.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tracing::{info, warn};

use super::crd::{
    backup_job_name, check_job_name, latest_succeeded, verify_job_name, BackupPhase, BackupProfile,
    MysqlBackup, MysqlBackupVerification, RequestStatus,
};
use super::source::{choose, Choice, SourceView};
use super::{EXPECT_GTID, JOB_KIND, JOB_LABEL, LOCATION, RESULT, SOURCE_HOST};
use crate::gtid::GtidSet;
use crate::topology::status::PendingEvent;

const API_TIMEOUT: Duration = Duration::from_secs(10);

/// What a finished Job wrote in its [`RESULT`] annotation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtid_executed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Verification: rows the sanity query counted in the restored instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The group as this poll saw it.
pub struct GroupView<'a> {
    pub client: kube::Client,
    pub namespace: &'a str,
    pub group: &'a str,
    pub profiles: &'a [BackupProfile],
    pub sites: Vec<SourceView>,
    /// Site name → internal Service host.
    pub hosts: BTreeMap<String, String>,
    pub now: DateTime<Utc>,
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(API_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("apiserver call timed out after {API_TIMEOUT:?}")),
    }
}

/// An Event about one request, recorded on that MysqlBackup or MysqlBackupVerification.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestEvent {
    pub object: ObjectReference,
    pub event: PendingEvent,
}

/// The Event of a request whose status write just ended it; None while it runs.
fn ended<S: RequestStatus>(
    obj: &impl Resource<DynamicType = ()>,
    st: &S,
    reasons: [&'static str; 2],
    succeeded: impl FnOnce() -> String,
    failed: impl FnOnce() -> String,
) -> Option<RequestEvent> {
    let event = match st.phase() {
        BackupPhase::Succeeded => PendingEvent {
            warning: false,
            reason: reasons[0],
            message: succeeded(),
        },
        BackupPhase::Failed => PendingEvent {
            warning: true,
            reason: reasons[1],
            message: failed(),
        },
        BackupPhase::Pending | BackupPhase::Running => return None,
    };
    Some(RequestEvent {
        object: obj.object_ref(&()),
        event,
    })
}

/// One pass over the group's backup and verification requests. Returns the Events to send
/// (each one's status write has already succeeded).
pub async fn poll(v: &GroupView<'_>) -> Vec<RequestEvent> {
    let mut events = vec![];
    let backups: Api<MysqlBackup> = Api::namespaced(v.client.clone(), v.namespace);
    match bounded(backups.list(&ListParams::default())).await {
        Ok(list) => {
            for b in list
                .items
                .iter()
                .filter(|b| b.spec.failover_group_ref == v.group)
            {
                if !b.status.as_ref().is_some_and(|s| s.phase.ended()) {
                    step_backup(v, &backups, b, &mut events).await;
                }
            }
        }
        Err(e) => warn!(error = %e, "listing MysqlBackups failed"),
    }
    let verifs: Api<MysqlBackupVerification> = Api::namespaced(v.client.clone(), v.namespace);
    match bounded(verifs.list(&ListParams::default())).await {
        Ok(list) => {
            for m in list
                .items
                .iter()
                .filter(|m| m.spec.failover_group_ref == v.group)
            {
                if !m.status.as_ref().is_some_and(|s| s.phase.ended()) {
                    step_verification(v, &backups, &verifs, m, &mut events).await;
                }
            }
        }
        Err(e) => warn!(error = %e, "listing MysqlBackupVerifications failed"),
    }
    events
}

async fn write_status<K>(api: &Api<K>, name: &str, status: &impl Serialize) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({ "status": status });
    match bounded(api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))).await {
        Ok(_) => true,
        Err(e) => {
            warn!(object = name, error = %e, "backup status write failed; retrying next poll");
            false
        }
    }
}

fn job_object(name: &str, owner: &str, kind: &str, image: &str, ann: &[(&str, &str)]) -> Job {
    let annotations: BTreeMap<String, String> = ann
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([(JOB_KIND.to_string(), kind.to_string())])
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "labels": { JOB_LABEL: owner },
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": 0,
            "template": { "spec": {
                "restartPolicy": "Never",
                "containers": [{ "name": kind, "image": image, "args": [kind] }],
            }},
        },
    }))
    .expect("a well-formed Job")
}

/// Creates the Job, or adopts the one a previous controller created under the same name.
async fn create_job(jobs: &Api<Job>, job: &Job) -> Result<Job, String> {
    match tokio::time::timeout(API_TIMEOUT, jobs.create(&PostParams::default(), job)).await {
        Ok(Ok(j)) => Ok(j),
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => {
            let name = job.metadata.name.clone().unwrap_or_default();
            bounded(jobs.get(&name)).await
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("apiserver call timed out after {API_TIMEOUT:?}")),
    }
}

/// `Some(Ok)` once the Job succeeded with its result, `Some(Err)` once it failed.
fn job_outcome(job: &Job) -> Option<Result<JobResult, String>> {
    let st = job.status.as_ref()?;
    let result = job
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RESULT))
        .map(|r| serde_json::from_str::<JobResult>(r).map_err(|e| format!("{RESULT}: {e}")));
    if st.succeeded.unwrap_or(0) > 0 {
        return Some(match result {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(e),
            None => Err(format!("the Job succeeded without writing {RESULT}")),
        });
    }
    if st.failed.unwrap_or(0) > 0 {
        let why = match result {
            Some(Ok(JobResult { error: Some(e), .. })) => e,
            _ => "the Job failed".into(),
        };
        return Some(Err(why));
    }
    None
}

fn annotation(job: &Job, key: &str) -> Option<String> {
    job.metadata.annotations.as_ref()?.get(key).cloned()
}

async fn step_backup(
    v: &GroupView<'_>,
    api: &Api<MysqlBackup>,
    b: &MysqlBackup,
    events: &mut Vec<RequestEvent>,
) {
    let name = b.metadata.name.clone().unwrap_or_default();
    let old = b.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let fail = |st: &mut dyn RequestStatus, reason: &str, message: String| {
        st.fail(reason, message, stamp(v.now))
    };
    let jobs: Api<Job> = Api::namespaced(v.client.clone(), v.namespace);
    let bad_name = check_job_name(&name, &backup_job_name(&name, 1)).err();
    match (
        old.phase,
        v.profiles.iter().find(|p| p.name == b.spec.profile_name),
    ) {
        (_, None) => fail(
            &mut st,
            "ProfileNotFound",
            format!(
                "profile {:?} is not in spec.backup.profiles of {} (profiles: {})",
                b.spec.profile_name,
                v.group,
                v.profiles
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (BackupPhase::Pending, Some(_)) if bad_name.is_some() => {
            fail(&mut st, "InvalidName", bad_name.unwrap_or_default())
        }
        (BackupPhase::Pending, Some(p)) => {
            match choose(&v.sites, b.spec.source_site_override.as_deref(), p) {
                Choice::Refuse(reason, message) => fail(&mut st, reason, message),
                Choice::Wait(why) => st.message = Some(format!("waiting: {why}")),
                Choice::Site(site) => {
                    let attempt = old.attempt.unwrap_or(0) + 1;
                    let job_name = backup_job_name(&name, attempt);
                    let location = format!(
                        "{}://{}/{}{}/{name}",
                        p.storage_type,
                        p.bucket,
                        p.prefix
                            .as_deref()
                            .map(|x| format!("{}/", x.trim_end_matches('/')))
                            .unwrap_or_default(),
                        v.group
                    );
                    let host = v.hosts.get(&site).cloned().unwrap_or_default();
                    let job = job_object(
                        &job_name,
                        &name,
                        "backup",
                        &p.image,
                        &[(SOURCE_HOST, &host), (LOCATION, &location)],
                    );
                    match create_job(&jobs, &job).await {
                        Ok(job) => {
                            // An adopted Job keeps the source it was created for.
                            let host = annotation(&job, SOURCE_HOST).unwrap_or(host);
                            let site = v
                                .hosts
                                .iter()
                                .find(|(_, h)| **h == host)
                                .map(|(s, _)| s.clone())
                                .unwrap_or(site);
                            info!(backup = %name, source = %site, job = %job_name, "backup started");
                            st.phase = BackupPhase::Running;
                            st.job_name = Some(job_name);
                            st.source_site = Some(site);
                            st.location = Some(location);
                            st.storage_type = Some(p.storage_type.clone());
                            st.active_site_at_start =
                                v.sites.iter().find(|s| s.active).map(|s| s.name.clone());
                            st.attempt = Some(attempt);
                            st.start_time = Some(stamp(v.now));
                            st.message = None;
                        }
                        Err(e) => {
                            warn!(backup = %name, error = %e, "creating the backup Job failed")
                        }
                    }
                }
            }
        }
        (BackupPhase::Running, Some(_)) => {
            let job_name = old.job_name.clone().unwrap_or_default();
            match bounded(jobs.get_opt(&job_name)).await {
                Ok(None) => fail(
                    &mut st,
                    "JobLost",
                    format!("backup Job {job_name} no longer exists"),
                ),
                Ok(Some(job)) => match job_outcome(&job) {
                    None => {}
                    Some(Ok(r)) => {
                        st.phase = BackupPhase::Succeeded;
                        st.gtid_executed = r.gtid_executed;
                        st.size_bytes = r.size_bytes;
                        st.completion_time = Some(stamp(v.now));
                    }
                    Some(Err(e)) => fail(&mut st, "JobFailed", e),
                },
                Err(e) => warn!(backup = %name, error = %e, "reading the backup Job failed"),
            }
        }
        (BackupPhase::Succeeded | BackupPhase::Failed, Some(_)) => {}
    }
    if st != old && write_status(api, &name, &st).await {
        events.extend(ended(
            b,
            &st,
            ["BackupSucceeded", "BackupFailed"],
            || {
                format!(
                    "backup {name} from {} at GTID {} stored at {}",
                    st.source_site.as_deref().unwrap_or("?"),
                    st.gtid_executed.as_deref().unwrap_or(""),
                    st.location.as_deref().unwrap_or("?")
                )
            },
            || {
                format!(
                    "backup {name} failed ({}): {}",
                    st.reason.as_deref().unwrap_or(""),
                    st.message.as_deref().unwrap_or("")
                )
            },
        ));
    }
}

async fn step_verification(
    v: &GroupView<'_>,
    backups: &Api<MysqlBackup>,
    api: &Api<MysqlBackupVerification>,
    m: &MysqlBackupVerification,
    events: &mut Vec<RequestEvent>,
) {
    let name = m.metadata.name.clone().unwrap_or_default();
    let old = m.status.clone().unwrap_or_default();
    let mut st = old.clone();
    let fail = |st: &mut dyn RequestStatus, reason: &str, message: String| {
        st.fail(reason, message, stamp(v.now))
    };
    let jobs: Api<Job> = Api::namespaced(v.client.clone(), v.namespace);
    let profile = v.profiles.iter().find(|p| p.name == m.spec.profile_name);
    let bad_name = check_job_name(&name, &verify_job_name(&name)).err();
    match (old.phase, profile) {
        (_, None) => fail(
            &mut st,
            "ProfileNotFound",
            format!(
                "profile {:?} is not in spec.backup.profiles of {}",
                m.spec.profile_name, v.group
            ),
        ),
        (BackupPhase::Pending, Some(_)) if bad_name.is_some() => {
            fail(&mut st, "InvalidName", bad_name.unwrap_or_default())
        }
        (BackupPhase::Pending, Some(p)) => match pick_backup(v, backups, m).await {
            Err((reason, message)) => fail(&mut st, reason, message),
            Ok(None) => {}
            Ok(Some(b)) => {
                let bname = b.metadata.name.clone().unwrap_or_default();
                let bs = b.status.clone().unwrap_or_default();
                let job_name = verify_job_name(&name);
                let location = bs.location.clone().unwrap_or_default();
                let gtid = bs.gtid_executed.clone().unwrap_or_default();
                let job = job_object(
                    &job_name,
                    &name,
                    "verify",
                    &p.image,
                    &[(LOCATION, &location), (EXPECT_GTID, &gtid)],
                );
                match create_job(&jobs, &job).await {
                    Ok(_) => {
                        info!(verification = %name, backup = %bname, "backup verification started");
                        st.phase = BackupPhase::Running;
                        st.backup_name = Some(bname);
                        st.job_name = Some(job_name);
                    }
                    Err(e) => {
                        warn!(verification = %name, error = %e, "creating the verification Job failed")
                    }
                }
            }
        },
        (BackupPhase::Running, Some(_)) => {
            let job_name = old.job_name.clone().unwrap_or_default();
            match bounded(jobs.get_opt(&job_name)).await {
                Ok(None) => fail(
                    &mut st,
                    "JobLost",
                    format!("verification Job {job_name} no longer exists"),
                ),
                Ok(Some(job)) => match job_outcome(&job) {
                    None => {}
                    Some(Err(e)) => fail(&mut st, "RestoreFailed", e),
                    Some(Ok(r)) => {
                        let expected = annotation(&job, EXPECT_GTID).unwrap_or_default();
                        let restored = r.gtid_executed.clone().unwrap_or_default();
                        st.restored_gtid_executed = r.gtid_executed.clone();
                        st.restored_rows = r.rows;
                        match (GtidSet::parse(&expected), GtidSet::parse(&restored)) {
                            (Ok(want), Ok(got)) if got.is_superset_of(&want) => {
                                st.phase = BackupPhase::Succeeded;
                                st.completion_time = Some(stamp(v.now));
                            }
                            (Ok(want), Ok(got)) => fail(
                                &mut st,
                                "GtidMismatch",
                                format!(
                                    "the restored instance lacks {} of the backup's GTID set",
                                    want.subtract(&got)
                                ),
                            ),
                            (a, b) => fail(
                                &mut st,
                                "InvalidGTID",
                                format!(
                                    "expected {expected:?} ({:?}), restored {restored:?} ({:?})",
                                    a.err().map(|e| e.to_string()),
                                    b.err().map(|e| e.to_string())
                                ),
                            ),
                        }
                    }
                },
                Err(e) => {
                    warn!(verification = %name, error = %e, "reading the verification Job failed")
                }
            }
        }
        (BackupPhase::Succeeded | BackupPhase::Failed, Some(_)) => {}
    }
    if st != old && write_status(api, &name, &st).await {
        let backup = st.backup_name.as_deref().unwrap_or("?");
        events.extend(ended(
            m,
            &st,
            ["BackupVerificationSucceeded", "BackupVerificationFailed"],
            || {
                format!(
                    "backup {backup} restored: {} rows at GTID {}",
                    st.restored_rows.unwrap_or(0),
                    st.restored_gtid_executed.as_deref().unwrap_or("")
                )
            },
            || {
                format!(
                    "verification {name} of backup {backup} failed ({}): {}",
                    st.reason.as_deref().unwrap_or(""),
                    st.message.as_deref().unwrap_or("")
                )
            },
        ));
    }
}

/// The backup a verification restores: the named one, or the latest Succeeded one of the
/// profile. `Ok(None)`: not yet (the named backup has not ended, or the apiserver did not
/// answer; a transient error must not fail the verification).
async fn pick_backup(
    v: &GroupView<'_>,
    backups: &Api<MysqlBackup>,
    m: &MysqlBackupVerification,
) -> Result<Option<MysqlBackup>, (&'static str, String)> {
    let name = m.metadata.name.as_deref().unwrap_or_default();
    if let Some(bname) = &m.spec.backup_name {
        let b = match bounded(backups.get_opt(bname)).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err((
                    "BackupNotFound",
                    format!("MysqlBackup {bname} does not exist"),
                ))
            }
            Err(e) => {
                warn!(verification = %name, error = %e, "reading the MysqlBackup failed");
                return Ok(None);
            }
        };
        if b.spec.failover_group_ref != v.group {
            return Err((
                "BackupNotFound",
                format!(
                    "MysqlBackup {bname} belongs to group {}",
                    b.spec.failover_group_ref
                ),
            ));
        }
        return match b.status.as_ref().map(|s| s.phase) {
            Some(BackupPhase::Succeeded) => Ok(Some(b)),
            Some(BackupPhase::Failed) => Err((
                "BackupFailed",
                format!("MysqlBackup {bname} failed: nothing to verify"),
            )),
            _ => Ok(None),
        };
    }
    let list = match bounded(backups.list(&ListParams::default())).await {
        Ok(list) => list,
        Err(e) => {
            warn!(verification = %name, error = %e, "listing MysqlBackups failed");
            return Ok(None);
        }
    };
    match latest_succeeded(&list.items, v.group, &m.spec.profile_name) {
        Some(b) => Ok(Some(b.clone())),
        None => Err((
            "BackupNotFound",
            format!(
                "no Succeeded MysqlBackup of profile {} for group {}",
                m.spec.profile_name, v.group
            ),
        )),
    }
}
