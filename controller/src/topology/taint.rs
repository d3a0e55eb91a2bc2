//! Node taints (spec §1 Taint, §3.1 transition side effects): a candidate or dr-only
//! site's nodes carry `shipstream.io/db-readonly-<group>=true:NoExecute` while the site is
//! not the writer, so workloads that do not tolerate it leave a read-only site.
//!
//! Taint writes run on a per-manager worker task, in submission order, so a slow or
//! failing apiserver never holds up a poll (the transition that taints an old primary is
//! the very poll that promotes its successor). Errors are logged; the
//! `taint_operations_total` counter counts successes only.

use std::collections::BTreeMap;

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::metrics::Metrics;

use super::k8s::{taint_key, GroupApi};

/// One taint change for every node of a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaintOp {
    pub site: String,
    pub selector: BTreeMap<String, String>,
    /// true: add the taint; false: remove it.
    pub present: bool,
}

impl TaintOp {
    pub fn action(&self) -> &'static str {
        if self.present {
            "apply"
        } else {
            "remove"
        }
    }
}

/// Submits taint changes to a worker task started on first use.
pub struct Tainter {
    api: GroupApi,
    metrics: Metrics,
    tx: Option<mpsc::UnboundedSender<TaintOp>>,
}

impl Tainter {
    pub fn new(api: GroupApi, metrics: Metrics) -> Self {
        Self {
            api,
            metrics,
            tx: None,
        }
    }

    /// Queues `op`; must be called inside a tokio runtime. The worker ends once this
    /// tainter is dropped and the queue is drained.
    pub fn submit(&mut self, op: TaintOp) {
        if op.selector.is_empty() {
            return;
        }
        let tx = self.tx.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(worker(self.api.clone(), self.metrics.clone(), rx));
            tx
        });
        if tx.send(op).is_err() {
            warn!("node taint worker is gone; taint change dropped");
        }
    }
}

async fn worker(api: GroupApi, metrics: Metrics, mut rx: mpsc::UnboundedReceiver<TaintOp>) {
    while let Some(op) = rx.recv().await {
        apply(&api, &metrics, &op).await;
    }
}

async fn apply(api: &GroupApi, metrics: &Metrics, op: &TaintOp) {
    let key = taint_key(&api.name);
    let action = op.action();
    let nodes = match api.list_nodes(&op.selector).await {
        Ok(n) => n,
        Err(e) => {
            warn!(site = %op.site, action, error = %e, "node taint failed: listing nodes");
            return;
        }
    };
    let mut failed = false;
    let mut changed = vec![];
    for node in &nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        match api.set_node_taint(node, &key, op.present).await {
            Ok(true) => changed.push(name),
            Ok(false) => {}
            Err(e) => {
                failed = true;
                warn!(site = %op.site, node = %name, action, error = %e, "node taint failed");
            }
        }
    }
    if failed {
        return;
    }
    metrics.taint_operation(&op.site, action);
    if !changed.is_empty() {
        let msg = if op.present {
            "node taint applied"
        } else {
            "node taint removed"
        };
        info!(site = %op.site, nodes = ?changed, taint = %key, "{msg}");
    }
}
