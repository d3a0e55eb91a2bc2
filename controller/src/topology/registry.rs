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
}

/// Shared map `namespace/name` → latest view. Empty until the first poll of any group.
/// It also carries the operator's [`Metrics`]: whoever builds a registry (the binary, the
/// simulator, a test) gets a fresh set, served by the aux endpoint beside the views.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<BTreeMap<String, GroupView>>>,
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

    pub fn is_empty(&self) -> bool {
        self.inner.lock().unwrap().is_empty()
    }
}
