//! `backup` and `verify-backup`: preflight against the live group (the profile, the
//! source site, the backup to verify, the request's name), the creation of the
//! MysqlBackup or MysqlBackupVerification, and `--wait` on its phase.
//!
//! With `-o json|yaml` stdout carries only the object (the final one after `--wait`), so
//! it can be piped; the progress lines go to stderr.

use kube::api::{ListParams, PostParams};
use kube::core::object::HasStatus;
use kube::core::ObjectMeta;
use kube::{Api, Resource};

use super::ops::{api_error, write, Ctx};
use super::{render, Exit, Output, WaitArgs};
use crate::backup::crd::{
    backup_job_name, check_job_name, latest_succeeded, verify_job_name, BackupPhase, BackupProfile,
    MysqlBackup, MysqlBackupSpec, MysqlBackupVerification, MysqlBackupVerificationSpec,
    RequestStatus, MAX_JOB_NAME,
};
use crate::crd::{MysqlFailoverGroup, SiteRole};

/// Written in `spec.triggeredBy` of the backups this plugin creates.
pub const TRIGGERED_BY: &str = "kubectl-bloodraven";

/// Characters the apiserver appends to a `generateName`.
const GENERATED_SUFFIX: usize = 5;

/// A request's name as given (checked: its Job, `job_name(name)`, must be a valid name),
/// or a `generateName` prefix from `parts` short enough for the Job name.
fn request_name(
    given: Option<&str>,
    parts: &[&str],
    job_name: impl Fn(&str) -> String,
) -> Result<ObjectMeta, Exit> {
    if let Some(name) = given {
        check_job_name(name, &job_name(name)).map_err(Exit::bad_input)?;
        return Ok(ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        });
    }
    let room = MAX_JOB_NAME - (job_name("").len() + GENERATED_SUFFIX);
    let mut prefix: String = parts
        .join("-")
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(room - 1)
        .collect();
    prefix = prefix.trim_matches('-').to_string() + "-";
    if prefix == "-" {
        prefix = "backup-".into();
    }
    Ok(ObjectMeta {
        generate_name: Some(prefix),
        ..Default::default()
    })
}

fn profile<'a>(g: &'a MysqlFailoverGroup, name: &str) -> Result<&'a BackupProfile, Exit> {
    let profiles = g
        .spec
        .backup
        .as_ref()
        .map(|b| b.profiles.as_slice())
        .unwrap_or_default();
    let group = g.metadata.name.as_deref().unwrap_or_default();
    if profiles.is_empty() {
        return Err(Exit::bad_input(format!(
            "MysqlFailoverGroup {group} has no backup profiles (spec.backup.profiles is empty)"
        )));
    }
    profiles.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        Exit::bad_input(format!(
            "profile {name:?} is not defined in spec.backup.profiles of {group} ({})",
            names.join(", ")
        ))
    })
}

fn created_error(kind: &str, ns: &str, meta: &ObjectMeta, e: kube::Error) -> Exit {
    let name = meta
        .name
        .clone()
        .or_else(|| meta.generate_name.as_ref().map(|p| format!("{p}*")))
        .unwrap_or_default();
    match e {
        kube::Error::Api(s) if s.code == 409 => {
            Exit::bad_input(format!("{kind} {ns}/{name} already exists"))
        }
        kube::Error::Api(s) if s.code == 422 => {
            Exit::bad_input(format!("{kind} {ns}/{name} was rejected: {}", s.message))
        }
        e => api_error(&format!("creating {kind} {ns}/{name}"), e),
    }
}

/// The phase, reason and message of a request's status (no status yet: Pending).
trait Phased {
    fn phase(&self) -> BackupPhase;
    fn why(&self) -> String;
}

impl<K: HasStatus> Phased for K
where
    K::Status: RequestStatus + Clone + Default,
{
    fn phase(&self) -> BackupPhase {
        self.status().map(RequestStatus::phase).unwrap_or_default()
    }

    fn why(&self) -> String {
        self.status().cloned().unwrap_or_default().why()
    }
}

/// How many of a group's requests of each kind `status <group>` shows (the newest).
const STATUS_REQUESTS: usize = 5;

/// The newest `n` of `items` that belong to `group`, oldest first.
fn newest<K: Resource>(mut items: Vec<K>, group: impl Fn(&K) -> bool, n: usize) -> Vec<K> {
    items.retain(&group);
    items.sort_by(|a, b| {
        (&a.meta().creation_timestamp, &a.meta().name)
            .cmp(&(&b.meta().creation_timestamp, &b.meta().name))
    });
    let skip = items.len().saturating_sub(n);
    items.into_iter().skip(skip).collect()
}

impl Ctx {
    /// The group's newest backups and verifications, for `status <group>` (empty when it
    /// has none; a note when they cannot be listed, e.g. the CRDs are not installed).
    pub(super) async fn backup_summary(&self, group: &str, wide: bool) -> String {
        let backups: Api<MysqlBackup> = Api::namespaced(self.client.clone(), &self.namespace);
        let verifs: Api<MysqlBackupVerification> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let lp = ListParams::default();
        let (b, v) = match (backups.list(&lp).await, verifs.list(&lp).await) {
            (Ok(b), Ok(v)) => (b.items, v.items),
            (Err(e), _) | (_, Err(e)) => return format!("\nBackups: cannot be listed ({e})\n"),
        };
        let b = newest(b, |b| b.spec.failover_group_ref == group, STATUS_REQUESTS);
        let v = newest(v, |v| v.spec.failover_group_ref == group, STATUS_REQUESTS);
        let mut out = String::new();
        if !b.is_empty() {
            out.push_str("\nBackups:\n");
            out.push_str(&render::backups(&b, wide));
        }
        if !v.is_empty() {
            out.push_str("\nVerifications:\n");
            out.push_str(&render::verifications(&v, wide));
        }
        out
    }

    fn progress(&self, out: &mut dyn std::io::Write, line: &str) -> Result<(), Exit> {
        match self.output {
            Output::Table | Output::Wide => write(out, &format!("{line}\n")),
            Output::Json | Output::Yaml => {
                eprintln!("{line}");
                Ok(())
            }
        }
    }

    pub async fn backup(
        &self,
        group: &str,
        profile_name: &str,
        source_site: Option<String>,
        name: Option<String>,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let meta = request_name(name.as_deref(), &[group, profile_name], |n| {
            backup_job_name(n, 1)
        })?;
        let g = self.get(group).await?;
        profile(&g, profile_name)?;
        if let Some(site) = &source_site {
            let role = Self::site_known(&g, site)?;
            if role == SiteRole::ReadOnly {
                return Err(Exit::bad_input(format!(
                    "site {site} is a reader (role read-only): backups are never taken from readers"
                )));
            }
        }
        let api: Api<MysqlBackup> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut obj = MysqlBackup::new(
            "",
            MysqlBackupSpec {
                failover_group_ref: group.to_string(),
                profile_name: profile_name.to_string(),
                source_site_override: source_site.clone(),
                triggered_by: Some(TRIGGERED_BY.into()),
            },
        );
        obj.metadata = meta.clone();
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| created_error("MysqlBackup", &self.namespace, &meta, e))?;
        let name = created.metadata.name.clone().unwrap_or_default();
        self.progress(
            out,
            &format!(
                "MysqlBackup {}/{name} created (group {group}, profile {profile_name}, source {})",
                self.namespace,
                source_site.as_deref().unwrap_or("chosen by the operator")
            ),
        )?;
        let last = if wait.wait {
            self.wait_ended(&api, &name, wait, out).await?
        } else {
            created
        };
        self.show(out, &last, |o, wide| {
            render::backups(std::slice::from_ref(o), wide)
        })?;
        ended_ok(&last)
    }

    pub async fn verify_backup(
        &self,
        group: &str,
        profile_name: &str,
        backup: Option<String>,
        name: Option<String>,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let meta = request_name(name.as_deref(), &[group, profile_name, "verify"], |n| {
            verify_job_name(n)
        })?;
        let g = self.get(group).await?;
        profile(&g, profile_name)?;
        let backups: Api<MysqlBackup> = Api::namespaced(self.client.clone(), &self.namespace);
        let target = match &backup {
            Some(b) => {
                let obj = backups
                    .get(b)
                    .await
                    .map_err(|e| api_error(&format!("MysqlBackup {}/{b}", self.namespace), e))?;
                check_verifiable(&obj, group, profile_name)?;
                b.clone()
            }
            None => {
                let list = backups
                    .list(&ListParams::default())
                    .await
                    .map_err(|e| Exit::cluster(format!("listing MysqlBackups: {e}")))?;
                latest_succeeded(&list.items, group, profile_name)
                    .and_then(|b| b.metadata.name.clone())
                    .ok_or_else(|| {
                        Exit::bad_input(format!(
                            "no Succeeded MysqlBackup of profile {profile_name} for group {group}: nothing to verify"
                        ))
                    })?
            }
        };
        let api: Api<MysqlBackupVerification> =
            Api::namespaced(self.client.clone(), &self.namespace);
        let mut obj = MysqlBackupVerification::new(
            "",
            MysqlBackupVerificationSpec {
                failover_group_ref: group.to_string(),
                profile_name: profile_name.to_string(),
                backup_name: backup.clone(),
            },
        );
        obj.metadata = meta.clone();
        let created = api
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| created_error("MysqlBackupVerification", &self.namespace, &meta, e))?;
        let name = created.metadata.name.clone().unwrap_or_default();
        self.progress(
            out,
            &format!(
                "MysqlBackupVerification {}/{name} created (group {group}, backup {target}{})",
                self.namespace,
                if backup.is_some() {
                    ""
                } else {
                    ", the latest Succeeded of the profile"
                }
            ),
        )?;
        let last = if wait.wait {
            self.wait_ended(&api, &name, wait, out).await?
        } else {
            created
        };
        self.show(out, &last, |o, wide| {
            render::verifications(std::slice::from_ref(o), wide)
        })?;
        ended_ok(&last)
    }

    /// Prints the request: a one-row table, or the object as JSON or YAML.
    fn show<K: serde::Serialize>(
        &self,
        out: &mut dyn std::io::Write,
        obj: &K,
        table: impl Fn(&K, bool) -> String,
    ) -> Result<(), Exit> {
        let text = match self.output {
            Output::Table => table(obj, false),
            Output::Wide => table(obj, true),
            Output::Json | Output::Yaml => self.dump(obj)?,
        };
        write(out, &text)
    }

    /// Polls the request until its phase ends, one progress line per phase.
    async fn wait_ended<K>(
        &self,
        api: &Api<K>,
        name: &str,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<K, Exit>
    where
        K: Phased
            + Resource<DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let what = format!("{} {}/{name}", K::kind(&()), self.namespace);
        let deadline = tokio::time::Instant::now() + wait.timeout;
        let mut last = None;
        loop {
            let obj = api.get(name).await.map_err(|e| api_error(&what, e))?;
            let phase = obj.phase();
            if last != Some(phase) {
                last = Some(phase);
                self.progress(out, &format!("phase: {phase:?}"))?;
            }
            if phase.ended() {
                return Ok(obj);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Exit::failed(format!(
                    "timed out after {} waiting for {what} (phase {phase:?}); the operator carries on: see `kubectl get {} {name}`",
                    crate::duration::format(wait.timeout),
                    K::kind(&()).to_lowercase(),
                )));
            }
            tokio::time::sleep(wait.poll_interval).await;
        }
    }
}

/// Exit 1 for a request that ended Failed (shown already), with its reason.
fn ended_ok<K: Phased + Resource<DynamicType = ()>>(obj: &K) -> Result<(), Exit> {
    if obj.phase() == BackupPhase::Failed {
        return Err(Exit::failed(format!(
            "{} {} failed: reason={}",
            K::kind(&()),
            obj.meta().name.as_deref().unwrap_or_default(),
            obj.why()
        )));
    }
    Ok(())
}

/// The operator verifies only a Succeeded backup of the group; the plugin also insists on
/// the profile it was asked for (a mismatch is most likely a typo).
fn check_verifiable(b: &MysqlBackup, group: &str, profile: &str) -> Result<(), Exit> {
    let name = b.metadata.name.as_deref().unwrap_or_default();
    if b.spec.failover_group_ref != group {
        return Err(Exit::bad_input(format!(
            "MysqlBackup {name} belongs to group {}, not {group}",
            b.spec.failover_group_ref
        )));
    }
    if b.spec.profile_name != profile {
        return Err(Exit::bad_input(format!(
            "MysqlBackup {name} was taken with profile {}, not {profile}",
            b.spec.profile_name
        )));
    }
    match b.phase() {
        BackupPhase::Succeeded => Ok(()),
        BackupPhase::Failed => Err(Exit::bad_input(format!(
            "MysqlBackup {name} failed ({}): nothing to verify",
            b.why()
        ))),
        p => Err(Exit::bad_input(format!(
            "MysqlBackup {name} is {p:?}: only a Succeeded backup can be verified (`kubectl bloodraven backup --wait` waits for one)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_name_leaves_room_for_the_suffix_and_the_job_name() {
        let long = "g".repeat(80);
        for (parts, job) in [
            (
                vec![long.as_str(), "nightly"],
                backup_job_name as fn(&str, u32) -> String,
            ),
            (vec!["Orders_EU", "Night.ly"], backup_job_name),
        ] {
            let m = request_name(None, &parts, |n| job(n, 1)).unwrap();
            let prefix = m.generate_name.unwrap();
            let generated = format!("{prefix}{}", "x".repeat(GENERATED_SUFFIX));
            check_job_name(&generated, &job(&generated, 1)).unwrap();
            assert!(prefix.ends_with('-'), "{prefix}");
        }
        let m = request_name(None, &["orders", "nightly", "verify"], verify_job_name).unwrap();
        assert_eq!(m.generate_name.as_deref(), Some("orders-nightly-verify-"));
        assert!(request_name(Some("UPPER"), &[], verify_job_name).is_err());
        let m = request_name(Some("mine"), &[], verify_job_name).unwrap();
        assert_eq!(m.name.as_deref(), Some("mine"));
    }
}
