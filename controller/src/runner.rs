//! The topology manager runner (spec §1): lists the groups every resync period and keeps
//! one manager task per valid group, restarting it when its configuration changes.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::crd::{MysqlFailoverGroup, TopologyConfig};
use crate::reconcile::GroupReconciler;
use crate::topology::k8s::GroupApi;
use crate::topology::{Manager, Registry, ReplicationCredentials, Seams};

pub const RESYNC: Duration = Duration::from_secs(30);

pub struct Runner {
    pub seams: Seams,
    pub creds: ReplicationCredentials,
    pub registry: Registry,
    /// Watch one namespace, or all when None.
    pub namespace: Option<String>,
}

struct Running {
    cfg: TopologyConfig,
    task: JoinHandle<()>,
}

/// The group reconciler of one group and the channel feeding it the latest object.
struct Reconciling {
    group: watch::Sender<MysqlFailoverGroup>,
    task: JoinHandle<()>,
}

impl Runner {
    pub async fn run(self) {
        let mut running: BTreeMap<(String, String), Running> = BTreeMap::new();
        let mut invalid_reported: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut reconciling: BTreeMap<(String, String), Reconciling> = BTreeMap::new();
        loop {
            self.sync(&mut running, &mut invalid_reported).await;
            self.sync_reconcilers(&running, &mut reconciling).await;
            tokio::time::sleep(RESYNC).await;
        }
    }

    async fn sync(
        &self,
        running: &mut BTreeMap<(String, String), Running>,
        invalid: &mut BTreeMap<(String, String), String>,
    ) {
        let api: Api<MysqlFailoverGroup> = match &self.namespace {
            Some(ns) => Api::namespaced(self.seams.kube.clone(), ns),
            None => Api::all(self.seams.kube.clone()),
        };
        let list = match tokio::time::timeout(
            Duration::from_secs(10),
            api.list(&ListParams::default()),
        )
        .await
        {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                warn!(error = %e, "listing MysqlFailoverGroups failed; keeping current managers");
                return;
            }
            Err(_) => {
                warn!("listing MysqlFailoverGroups timed out; keeping current managers");
                return;
            }
        };
        let mut seen = std::collections::BTreeSet::new();
        for group in list.items {
            let ns = group.metadata.namespace.clone().unwrap_or_default();
            let name = group.metadata.name.clone().unwrap_or_default();
            let key = (ns.clone(), name.clone());
            seen.insert(key.clone());
            let cfg = match group.spec.validate() {
                Ok(c) => c,
                Err(e) => {
                    if invalid.get(&key) != Some(&e.to_string()) {
                        error!(namespace = %ns, group = %name, error = %e, "invalid MysqlFailoverGroup spec; not managing it");
                        self.report_invalid(&ns, &name, &e.to_string()).await;
                        invalid.insert(key.clone(), e.to_string());
                    }
                    if let Some(r) = running.remove(&key) {
                        r.task.abort();
                    }
                    continue;
                }
            };
            invalid.remove(&key);
            if running
                .get(&key)
                .is_some_and(|r| r.cfg == cfg && !r.task.is_finished())
            {
                continue;
            }
            if let Some(r) = running.remove(&key) {
                info!(namespace = %ns, group = %name, "topology configuration changed; restarting manager");
                r.task.abort();
            }
            let gapi = GroupApi {
                client: self.seams.kube.clone(),
                namespace: ns.clone(),
                name: name.clone(),
                clock: self.seams.clock.clone(),
            };
            let manager = Manager::new(
                gapi,
                cfg.clone(),
                self.seams.clone(),
                self.creds.clone(),
                self.registry.clone(),
                &group,
            );
            running.insert(
                key,
                Running {
                    cfg,
                    task: tokio::spawn(manager.run()),
                },
            );
        }
        running.retain(|key, r| {
            let keep = seen.contains(key);
            if !keep {
                r.task.abort();
                self.registry.remove(&key.0, &key.1);
                self.registry.metrics().remove_group(&key.0, &key.1);
            }
            keep
        });
    }

    /// Keeps one group reconciler per managed group, fed the latest object.
    async fn sync_reconcilers(
        &self,
        running: &BTreeMap<(String, String), Running>,
        reconciling: &mut BTreeMap<(String, String), Reconciling>,
    ) {
        reconciling.retain(|key, r| {
            let keep = running.contains_key(key) && !r.task.is_finished();
            if !keep {
                r.task.abort();
            }
            keep
        });
        for ((ns, name), r) in running {
            let api: Api<MysqlFailoverGroup> = Api::namespaced(self.seams.kube.clone(), ns);
            let group = match tokio::time::timeout(Duration::from_secs(10), api.get(name)).await {
                Ok(Ok(g)) => g,
                _ => continue,
            };
            let key = (ns.clone(), name.clone());
            if let Some(existing) = reconciling.get(&key) {
                existing.group.send_replace(group);
                continue;
            }
            let (tx, rx) = watch::channel(group);
            let rec = GroupReconciler::new(
                self.seams.kube.clone(),
                self.registry.clone(),
                self.seams.clock.clone(),
                ns,
                name,
            );
            let task = tokio::spawn(rec.run(rx, r.cfg.poll_interval));
            reconciling.insert(key, Reconciling { group: tx, task });
        }
    }

    /// Puts the validation error where an operator looks: the Ready condition.
    async fn report_invalid(&self, ns: &str, name: &str, message: &str) {
        let api: Api<MysqlFailoverGroup> = Api::namespaced(self.seams.kube.clone(), ns);
        let now = crate::topology::manager::fmt_stamp(self.seams.clock.now());
        let patch = json!({"status": {"conditions": [{
            "type": "Ready", "status": "False", "reason": "InvalidSpec", "message": message,
            "lastTransitionTime": now
        }]}});
        if let Err(e) = api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            warn!(error = %e, "could not report the invalid spec in status");
        }
    }
}
