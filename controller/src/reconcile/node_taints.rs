//! Level-triggered node taints (spec §1 Taint, §3.1 transition side effects): on every
//! pass the nodes of each candidate or dr-only site whose last observed state is read-only
//! or unreachable carry `shipstream.io/db-readonly-<group>` NoExecute, and a writable
//! site's nodes do not (in a split brain both writers stay untainted, as the transition
//! rules leave them). The topology manager taints on transitions; this pass heals a taint
//! lost to a failed write or removed by hand. Readers are never tainted; a site not yet
//! observed is left alone.

use tracing::{info, warn};

use crate::crd::{SiteRole, SiteSpec};
use crate::metrics::Metrics;
use crate::topology::k8s::{taint_key, GroupApi};
use crate::topology::GroupView;

/// (site, taint wanted) for the sites a taint applies to. Nothing before the first poll.
pub fn desired<'a>(sites: &'a [SiteSpec], view: &GroupView) -> Vec<(&'a SiteSpec, bool)> {
    if view.sites.is_empty() {
        return vec![];
    }
    sites
        .iter()
        .filter(|s| s.role != SiteRole::ReadOnly && !s.taint_node_selector.is_empty())
        .filter_map(|s| {
            let state = view.sites.iter().find(|(n, _)| *n == s.name)?;
            match state.1.as_str() {
                "writable" => Some((s, false)),
                "read-only" | "unreachable" => Some((s, true)),
                _ => None,
            }
        })
        .collect()
}

/// Applies `desired`; returns the number of nodes changed.
pub async fn heal(api: &GroupApi, metrics: &Metrics, want: &[(&SiteSpec, bool)]) -> usize {
    let key = taint_key(&api.name);
    let mut changed = 0;
    for (site, present) in want {
        let nodes = match api.list_nodes(&site.taint_node_selector).await {
            Ok(n) => n,
            Err(e) => {
                warn!(site = %site.name, error = %e, "node taint reconcile failed: listing nodes");
                continue;
            }
        };
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            match api.set_node_taint(node, &key, *present).await {
                Ok(true) => {
                    changed += 1;
                    let action = if *present { "apply" } else { "remove" };
                    metrics.taint_operation(&site.name, action);
                    info!(site = %site.name, node = %name, taint = %key, action, "node taint reconciled");
                }
                Ok(false) => {}
                Err(e) => {
                    warn!(site = %site.name, node = %name, error = %e, "node taint reconcile failed")
                }
            }
        }
    }
    changed
}
