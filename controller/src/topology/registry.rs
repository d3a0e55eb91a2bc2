//! What the running topology managers publish for the aux HTTP endpoints and sidecars.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::fault_hooks::FaultHooks;
use crate::metrics::Metrics;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    pub active_site: String,
    /// (site, state) in spec order.
    pub sites: Vec<(String, String)>,
    pub poll_time: String,
    pub promotion_gtid_executed: String,
    /// Followers the `-replicas` Service may serve: replicating with a known lag within
    /// the limit of their role (spec §1).
    #[serde(skip)]
    pub serving: Vec<String>,
    /// Per site, what `/status` reports (spec §1), in spec order.
    #[serde(skip)]
    pub details: Vec<SiteDetail>,
}

/// One site as `/status` reports it (spec §1).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteDetail {
    pub name: String,
    pub role: String,
    pub state: String,
    pub source_host: String,
    /// `Converged`, `Pending`, `Blocked`, or "" for the active site.
    pub source_convergence_state: String,
    /// `DirectSource`, `SourceMismatch`, `ProbeFailed`, `GTIDDiverged`, or "".
    pub source_convergence_reason: String,
    pub serving_healthy: bool,
    pub recovery_state: String,
    pub divergent_gtid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divergent_transaction_count: Option<u64>,
}

/// A condition the group reconciler reports; the topology manager writes it into status
/// with its own, so the status has one writer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedCondition {
    pub type_: String,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

/// Shared map `namespace/name` → latest view. Empty until the first poll of any group.
/// It also carries the operator's [`Metrics`]: whoever builds a registry (the binary, the
/// simulator, a test) gets a fresh set, served by the aux endpoint beside the views.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<String, GroupView>>>,
    reported: Arc<Mutex<BTreeMap<String, Vec<ReportedCondition>>>>,
    /// The ordered update's handoff request per group: the active site it wants moved.
    handoffs: Arc<Mutex<BTreeMap<String, String>>>,
    metrics: Metrics,
    /// Test-only broken behaviours of this controller instance (empty in production).
    hooks: FaultHooks,
}

impl Registry {
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn hooks(&self) -> &FaultHooks {
        &self.hooks
    }

    /// A registry whose controller consults `hooks` (the chaos harness's broken controllers).
    #[cfg(feature = "fault-hooks")]
    pub fn with_fault_hooks(hooks: FaultHooks) -> Self {
        Self {
            hooks,
            ..Self::default()
        }
    }

    pub fn publish(&self, namespace: &str, name: &str, view: GroupView) {
        self.inner
            .lock()
            .unwrap()
            .insert(format!("{namespace}/{name}"), view);
    }

    pub fn remove(&self, namespace: &str, name: &str) {
        self.inner
            .lock()
            .unwrap()
            .remove(&format!("{namespace}/{name}"));
        self.reported
            .lock()
            .unwrap()
            .remove(&format!("{namespace}/{name}"));
        self.handoffs
            .lock()
            .unwrap()
            .remove(&format!("{namespace}/{name}"));
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<GroupView> {
        self.inner
            .lock()
            .unwrap()
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    pub fn all(&self) -> BTreeMap<String, GroupView> {
        self.inner.lock().unwrap().clone()
    }

    /// Replaces the conditions reported for a group by its reconciler.
    pub fn report_conditions(&self, namespace: &str, name: &str, conds: Vec<ReportedCondition>) {
        self.reported
            .lock()
            .unwrap()
            .insert(format!("{namespace}/{name}"), conds);
    }

    pub fn reported_conditions(&self, namespace: &str, name: &str) -> Vec<ReportedCondition> {
        self.reported
            .lock()
            .unwrap()
            .get(&format!("{namespace}/{name}"))
            .cloned()
            .unwrap_or_default()
    }

    /// The ordered update asks for (`Some(active site)`) or withdraws (`None`) the planned
    /// switchover that moves the writer off `from` so its Deployment can be updated.
    pub fn request_handoff(&self, namespace: &str, name: &str, from: Option<String>) {
        let key = format!("{namespace}/{name}");
        let mut h = self.handoffs.lock().unwrap();
        match from {
            Some(site) => h.insert(key, site),
            None => h.remove(&key),
        };
    }

    /// The site the ordered update wants the writer moved off, if any.
    pub fn handoff_request(&self, namespace: &str, name: &str) -> Option<String> {
        self.handoffs
            .lock()
            .unwrap()
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().is_empty()
    }
}
