//! The Deployment controller and kubelet for pod-template changes (the ordered update,
//! spec §3.9). When a site's Deployment gets a new template (its spec-hash annotation
//! moves), the pod is replaced as `strategy: Recreate` does: it dies, comes back after the
//! kubelet's restart delay with its data, mysqld starting fenced (the boot-fence init
//! container, the data directory being initialised), and the Deployment reports the
//! rollout complete once mysqld answers. Engaged only by scenarios that patch the spec, so
//! other runs' traces stay as they were.

use std::collections::BTreeMap;
use std::time::Duration;

use bloodraven::reconcile::names::ANNOTATION_SPEC_HASH;
use serde_json::json;

use crate::fake_k8s::ApiServer;
use crate::fake_mysql::Engine;
use crate::trace::{EventKind, Trace};

use super::site::SiteCtl;
use super::{GROUP, MYSQLD_BOOT_DELAY, NAMESPACE, POD_RESTART_DELAY};

#[derive(Default)]
struct SiteRollout {
    /// The template hash the running pod was made from.
    hash: Option<String>,
    /// The replaced pod starts then.
    up_at: Option<Duration>,
    /// Its mysqld answers then: the rollout is reported complete.
    ready_at: Option<Duration>,
}

#[derive(Default)]
pub struct Rollouts {
    sites: BTreeMap<String, SiteRollout>,
}

/// What a finished rollout of the Deployment's current generation looks like.
fn mark_ready(api: &ApiServer, name: &str) {
    api.modify("deployments", NAMESPACE, name, |d| {
        let generation = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": 1,
                             "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1});
    });
}

impl Rollouts {
    pub fn tick(
        &mut self,
        sim: &mut turmoil::Sim,
        api: &ApiServer,
        sites: &[(String, String, Engine, SiteCtl)],
        trace: &Trace,
        now: Duration,
    ) {
        for (site, host, engine, ctl) in sites {
            let name = format!("mysql-{GROUP}-{site}");
            let Some(d) = api.get("deployments", NAMESPACE, &name) else {
                continue;
            };
            let hash = d["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
                .as_str()
                .map(String::from);
            let st = self.sites.entry(site.clone()).or_default();
            if st.hash.is_none() {
                // The pod running at the start was made from the first template.
                st.hash = hash;
                mark_ready(api, &name);
                continue;
            }
            if st.up_at.is_some_and(|t| now >= t) {
                st.up_at = None;
                ctl.restart(true, MYSQLD_BOOT_DELAY);
                sim.bounce(host.as_str());
                trace.record(EventKind::Host {
                    host: host.clone(),
                    up: true,
                });
            }
            if st.up_at.is_none() && st.ready_at.is_some_and(|t| now >= t) {
                st.ready_at = None;
                mark_ready(api, &name);
            }
            if hash != st.hash && st.up_at.is_none() && st.ready_at.is_none() {
                st.hash = hash;
                sim.crash(host.as_str());
                engine.shutdown();
                trace.record(EventKind::Host {
                    host: host.clone(),
                    up: false,
                });
                st.up_at = Some(now + POD_RESTART_DELAY);
                st.ready_at = Some(now + POD_RESTART_DELAY + MYSQLD_BOOT_DELAY);
            }
        }
    }
}
