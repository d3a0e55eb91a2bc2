//! The fake Job controller for backup and verification Jobs. Called from the world's
//! driver loop (simulated time, deterministic): a Job runs for [`JOB_RUNTIME`] from the
//! moment it is first seen, then a backup copies its source engine consistently (rows and
//! `gtid_executed` under one lock, like a backup lock) into the object store, and a
//! verification "restores" an artifact and counts its rows. Each Job ends like a real one:
//! its result annotation, then `status.succeeded` or `status.failed`.

use std::collections::BTreeMap;
use std::time::Duration;

use bloodraven::backup::reconcile::JobResult;
use bloodraven::backup::{EXPECT_GTID, JOB_KIND, LOCATION, RESULT, SOURCE_HOST};
use serde_json::{json, Value};

use super::{Artifact, ObjectStore};
use crate::fake_k8s::ApiServer;
use crate::fake_mysql::Engine;
use crate::trace::{BackupRestored, BackupTaken, EventKind, Trace};

/// How long a backup or verification Job takes.
pub const JOB_RUNTIME: Duration = Duration::from_secs(5);

/// A site's engine as the Job pods reach it: by its internal Service host.
#[derive(Clone)]
pub struct SiteEngine {
    pub site: String,
    pub host: String,
    pub role: String,
    pub engine: Engine,
}

#[derive(Default)]
pub struct JobRunner {
    pub store: ObjectStore,
    /// Job name → (first seen, replicas fit to be a backup source at that moment).
    started: BTreeMap<String, (Duration, Vec<String>)>,
    /// Planted fault `backup-drop-rows`: the next backup silently leaves out its newest
    /// rows while still claiming its full GTID set.
    pub drop_rows: u64,
}

impl JobRunner {
    pub fn tick(
        &mut self,
        api: &ApiServer,
        ns: &str,
        sites: &[SiteEngine],
        trace: &Trace,
        now: Duration,
    ) {
        for job in api.list("jobs", Some(ns)) {
            let name = job["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let ann = |k: &str| {
                job["metadata"]["annotations"][k]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            let kind = ann(JOB_KIND);
            let done = ["succeeded", "failed"]
                .iter()
                .any(|k| job["status"][k].as_i64().unwrap_or(0) > 0);
            if kind.is_empty() || done {
                continue;
            }
            let Some((since, eligible)) = self.started.get(&name).cloned() else {
                self.started.insert(name, (now, eligible_replicas(sites)));
                continue;
            };
            if now < since + JOB_RUNTIME {
                continue;
            }
            let outcome = match kind.as_str() {
                "backup" => self.backup(
                    &name,
                    &ann(SOURCE_HOST),
                    &ann(LOCATION),
                    sites,
                    eligible,
                    trace,
                ),
                "verify" => self.verify(&name, &ann(LOCATION), &ann(EXPECT_GTID), trace),
                other => Err(format!("unknown job kind {other:?}")),
            };
            finish(api, ns, &name, outcome);
        }
    }

    fn backup(
        &mut self,
        job: &str,
        host: &str,
        location: &str,
        sites: &[SiteEngine],
        eligible_at_start: Vec<String>,
        trace: &Trace,
    ) -> Result<JobResult, String> {
        let src = sites
            .iter()
            .find(|s| s.host == host)
            .ok_or_else(|| format!("unknown source host {host:?}"))?;
        let snap = src.engine.snapshot();
        if !snap.up {
            return Err(format!("{host}: Can't connect to MySQL server"));
        }
        let mut rows = snap.rows.clone();
        let keep = rows
            .len()
            .saturating_sub(std::mem::take(&mut self.drop_rows) as usize);
        rows.truncate(keep);
        let artifact = Artifact {
            source_site: src.site.clone(),
            gtid_executed: snap.gtid_executed.clone(),
            rows,
        };
        let size = artifact.size_bytes();
        trace.record(EventKind::BackupTaken(Box::new(BackupTaken {
            job: job.into(),
            location: location.into(),
            source: src.site.clone(),
            source_role: src.role.clone(),
            source_read_only: snap.read_only,
            writable: sites
                .iter()
                .filter(|s| {
                    let x = s.engine.snapshot();
                    x.up && !x.read_only
                })
                .map(|s| s.site.clone())
                .collect(),
            eligible_at_start,
            gtid: snap.gtid_executed.clone(),
            rows: artifact.rows.len() as u64,
        })));
        self.store.put(location, artifact);
        Ok(JobResult {
            gtid_executed: Some(snap.gtid_executed),
            size_bytes: Some(size),
            ..Default::default()
        })
    }

    fn verify(
        &self,
        job: &str,
        location: &str,
        expect: &str,
        trace: &Trace,
    ) -> Result<JobResult, String> {
        let a = self
            .store
            .get(location)
            .ok_or_else(|| format!("no artifact at {location}"))?;
        trace.record(EventKind::BackupRestored(Box::new(BackupRestored {
            job: job.into(),
            location: location.into(),
            expected_gtid: expect.into(),
            gtid: a.gtid_executed.clone(),
            rows: a.rows.clone(),
        })));
        Ok(JobResult {
            gtid_executed: Some(a.gtid_executed),
            rows: Some(a.rows.len() as u64),
            ..Default::default()
        })
    }
}

/// Replicas a backup may be read from right now (ground truth): up, read-only, not a
/// reader, both threads running from the one writable site.
fn eligible_replicas(sites: &[SiteEngine]) -> Vec<String> {
    let snaps: Vec<_> = sites.iter().map(|s| (s, s.engine.snapshot())).collect();
    let writers: Vec<&str> = snaps
        .iter()
        .filter(|(_, x)| x.up && !x.read_only)
        .map(|(s, _)| s.host.as_str())
        .collect();
    let [primary] = writers.as_slice() else {
        return vec![];
    };
    snaps
        .iter()
        .filter(|(s, x)| {
            s.role != "read-only"
                && x.up
                && x.read_only
                && x.io_running
                && x.sql_running
                && x.source_host.as_deref() == Some(*primary)
        })
        .map(|(s, _)| s.site.clone())
        .collect()
}

fn finish(api: &ApiServer, ns: &str, name: &str, outcome: Result<JobResult, String>) {
    let (result, ok) = match outcome {
        Ok(r) => (r, true),
        Err(e) => (
            JobResult {
                error: Some(e),
                ..Default::default()
            },
            false,
        ),
    };
    let text = serde_json::to_string(&result).expect("serializes");
    api.modify("jobs", ns, name, |o: &mut Value| {
        if !o["metadata"]["annotations"].is_object() {
            o["metadata"]["annotations"] = json!({});
        }
        o["metadata"]["annotations"][RESULT] = json!(text);
        let (key, cond) = if ok {
            ("succeeded", "Complete")
        } else {
            ("failed", "Failed")
        };
        o["status"] = json!({ key: 1, "conditions": [{"type": cond, "status": "True"}] });
    });
}
