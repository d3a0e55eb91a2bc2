//! Pod role labels from the topology manager's view (spec §1): the active site's pod is
//! `primary`, a writable site that is not the active one is `fenced` (it matches no
//! Service, so a split-brain loser or a writable non-candidate sheds its endpoints), every
//! other pod is a `replica`; `shipstream.io/healthy=yes` marks the followers the
//! `-replicas` Service may serve.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;
use tracing::{info, warn};

use crate::topology::k8s::{label_selector, K8sError, API_TIMEOUT};
use crate::topology::GroupView;

use super::names;

/// The (role, healthy) labels wanted on a site's pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLabels {
    pub role: &'static str,
    pub healthy: &'static str,
}

/// Desired labels per site, from the manager's latest view.
pub fn desired(view: &GroupView) -> BTreeMap<String, PodLabels> {
    view.sites
        .iter()
        .map(|(site, state)| {
            let role = if !view.active_site.is_empty() && *site == view.active_site {
                "primary"
            } else if state == "writable" {
                "fenced"
            } else {
                "replica"
            };
            let healthy = if view.serving.contains(site) {
                "yes"
            } else {
                "no"
            };
            (site.clone(), PodLabels { role, healthy })
        })
        .collect()
}

/// Patches the labels of every pod of the group whose labels differ from `want`.
/// Returns the number of pods changed.
pub async fn label_pods(
    client: &kube::Client,
    namespace: &str,
    group: &str,
    want: &BTreeMap<String, PodLabels>,
) -> Result<usize, K8sError> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let lp = ListParams::default().labels(&label_selector(&names::group_selector(group)));
    let pods = bounded(api.list(&lp)).await?.items;
    let mut changed = 0;
    for pod in pods {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let Some(w) = labels.get(names::LABEL_SITE).and_then(|s| want.get(s)) else {
            continue;
        };
        let same = |k: &str, v: &str| labels.get(k).map(String::as_str) == Some(v);
        if same(names::LABEL_ROLE, w.role) && same(names::LABEL_HEALTHY, w.healthy) {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let patch = json!({"metadata": {"labels": {
            names::LABEL_ROLE: w.role, names::LABEL_HEALTHY: w.healthy }}});
        match bounded(api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))).await {
            Ok(_) => {
                info!(pod = %name, role = w.role, healthy = w.healthy, "pod role label set");
                changed += 1;
            }
            // The pod may be gone between list and patch; the next pass sees the new one.
            Err(e) => warn!(pod = %name, error = %e, "pod role label failed"),
        }
    }
    Ok(changed)
}

async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, K8sError> {
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(K8sError::Timeout(API_TIMEOUT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(active: &str, sites: &[(&str, &str)], serving: &[&str]) -> GroupView {
        GroupView {
            active_site: active.into(),
            sites: sites
                .iter()
                .map(|(n, s)| (n.to_string(), s.to_string()))
                .collect(),
            serving: serving.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn roles_follow_the_active_site_and_fence_other_writers() {
        let v = view(
            "b",
            &[
                ("a", "writable"),
                ("b", "writable"),
                ("c", "read-only"),
                ("d", "unreachable"),
            ],
            &["c"],
        );
        let d = desired(&v);
        assert_eq!(d["a"].role, "fenced");
        assert_eq!(d["b"].role, "primary");
        assert_eq!((d["c"].role, d["c"].healthy), ("replica", "yes"));
        assert_eq!((d["d"].role, d["d"].healthy), ("replica", "no"));
        // No active site: nobody is primary, every writer is fenced.
        let none = desired(&view("", &[("a", "writable"), ("b", "read-only")], &[]));
        assert_eq!(none["a"].role, "fenced");
        assert_eq!(none["b"].role, "replica");
    }
}
