//! Taint-isolation canaries (SCENARIOS `taint-eviction-isolation`): on every site's node a
//! workload pod that tolerates the group's NoExecute taint and one that does not, plus
//! another group's (`inventory`) NoExecute taint on the active site's node, which both
//! canaries tolerate. The observer records when a canary leaves, so TAINT can judge that
//! our taint evicts exactly the intolerant pods and never touches the foreign one.

use std::collections::BTreeMap;

use serde_json::json;

use crate::fake_k8s::ApiServer;
use crate::trace::{EventKind, Trace};

use super::claims::node_name;
use super::{GROUP, NAMESPACE};

/// The other group sharing the active site's node.
pub const FOREIGN_GROUP: &str = "inventory";

fn toleration(key: &str) -> serde_json::Value {
    json!({"key": key, "operator": "Exists", "effect": "NoExecute"})
}

/// `canary-<site>-tolerant` / `canary-<site>-intolerant`.
pub fn canary_name(site: &str, tolerant: bool) -> String {
    format!(
        "canary-{site}-{}",
        if tolerant { "tolerant" } else { "intolerant" }
    )
}

/// Seeds the canaries and the foreign taint.
pub fn seed(api: &ApiServer, sites: &[String], active: &str) -> anyhow::Result<()> {
    let ours = bloodraven::topology::k8s::taint_key(GROUP);
    let foreign = bloodraven::topology::k8s::taint_key(FOREIGN_GROUP);
    api.modify("nodes", "", &node_name(active), |n| {
        n["spec"]["taints"] = json!([{"key": foreign, "value": "true", "effect": "NoExecute"}]);
    })
    .ok_or_else(|| anyhow::anyhow!("no node for the active site {active}"))?;
    for site in sites {
        for tolerant in [true, false] {
            let mut tolerations = vec![toleration(&foreign)];
            if tolerant {
                tolerations.push(toleration(&ours));
            }
            api.put_raw(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": canary_name(site, tolerant), "namespace": NAMESPACE,
                                    "labels": {"app": "canary", "shipstream.io/site": site}},
                       "spec": {"nodeName": node_name(site), "tolerations": tolerations,
                                "containers": [{"name": "canary", "image": "busybox"}]}}),
            )
            .map_err(|e| anyhow::anyhow!("seeding canary on {site}: {e:?}"))?;
        }
    }
    Ok(())
}

/// Canary pod name → present, as last seen.
#[derive(Default)]
pub struct Seen(BTreeMap<String, bool>);

/// Records every canary that appeared or left since the last sample.
pub fn observe(api: &ApiServer, trace: &Trace, seen: &mut Seen) {
    let mut now: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
    for p in api.list_shared("pods", Some(NAMESPACE)) {
        if p["metadata"]["labels"]["app"] != "canary" {
            continue;
        }
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        let site = p["metadata"]["labels"]["shipstream.io/site"]
            .as_str()
            .unwrap_or_default();
        now.insert(
            name.to_string(),
            (
                site.to_string(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                name.ends_with("-tolerant"),
            ),
        );
    }
    for (pod, (site, node, tolerates)) in &now {
        if seen.0.insert(pod.clone(), true) != Some(true) {
            trace.record(EventKind::Canary {
                pod: pod.clone(),
                node: node.clone(),
                site: site.clone(),
                tolerates: *tolerates,
                present: true,
            });
        }
    }
    let gone: Vec<String> = seen
        .0
        .iter()
        .filter(|(p, present)| **present && !now.contains_key(*p))
        .map(|(p, _)| p.clone())
        .collect();
    for pod in gone {
        seen.0.insert(pod.clone(), false);
        let site = pod
            .trim_start_matches("canary-")
            .rsplit_once('-')
            .map(|(s, _)| s.to_string())
            .unwrap_or_default();
        trace.record(EventKind::Canary {
            node: node_name(&site),
            tolerates: pod.ends_with("-tolerant"),
            pod,
            site,
            present: false,
        });
    }
}
