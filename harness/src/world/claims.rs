//! The observer's second half: what the controller claims through the apiserver (status,
//! anti-flap annotations, Events, node taints), sampled on the observer's beat and recorded
//! only when it changes, so STATUS, EVENTS, FLAP-D and TAINT judge the controller's words
//! against ground truth.

use std::collections::BTreeMap;

use bloodraven::crd;
use serde_json::{json, Value};

use crate::fake_k8s::ApiServer;
use crate::trace::{EventKind, SiteClaim, StatusClaim, Trace};

use super::{GROUP, NAMESPACE};

/// The label every site's `taintNodeSelector` uses (see `group_object`).
pub const SITE_LABEL: &str = "shipstream.io/site";

/// The node of a site (one per site).
pub fn node_name(site: &str) -> String {
    format!("node-{site}")
}

/// Seeds one node per site, labelled for its `taintNodeSelector`, so taints are observable.
pub fn seed_nodes(api: &ApiServer, sites: &[String]) -> anyhow::Result<()> {
    for site in sites {
        api.put_raw(
            "nodes",
            json!({"apiVersion": "v1", "kind": "Node",
                   "metadata": {"name": node_name(site), "labels": {SITE_LABEL: site}},
                   "spec": {}}),
        )
        .map_err(|e| anyhow::anyhow!("seeding node of {site}: {e:?}"))?;
    }
    Ok(())
}

/// What the observer last saw.
#[derive(Default)]
pub struct ClaimsSeen {
    status: Option<StatusClaim>,
    /// Event name → count last seen.
    events: BTreeMap<String, u32>,
    /// (node, taint key) present.
    taints: BTreeMap<(String, String), bool>,
    canaries: super::canaries::Seen,
}

/// Samples the claims and records what changed.
pub fn observe_claims(api: &ApiServer, trace: &Trace, seen: &mut ClaimsSeen) {
    if let Some(group) = api.get("mysqlfailovergroups", NAMESPACE, GROUP) {
        let claim = status_claim(&group);
        if seen.status.as_ref() != Some(&claim) {
            trace.record(EventKind::GroupStatus(Box::new(claim.clone())));
            seen.status = Some(claim);
        }
    }
    // Events in creation order (resourceVersion), so the trace order is the write order.
    let mut events = api.list_shared("events", Some(NAMESPACE));
    events.sort_by_key(|e| {
        e["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    });
    for e in events {
        let name = e["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let count = e["count"].as_u64().unwrap_or(1) as u32;
        if seen.events.get(&name) == Some(&count) {
            continue;
        }
        seen.events.insert(name, count);
        trace.record(EventKind::KubeEvent {
            reason: e["reason"].as_str().unwrap_or_default().into(),
            warning: e["type"] == "Warning",
            message: e["message"].as_str().unwrap_or_default().into(),
            count,
        });
    }
    let key = bloodraven::topology::k8s::taint_key(GROUP);
    for node in api.list_shared("nodes", None) {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let site = node["metadata"]["labels"][SITE_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let taints = node["spec"]["taints"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Our group's key, and any other group's db-readonly key (TAINT: never foreign).
        let mut present: BTreeMap<String, bool> = BTreeMap::new();
        present.insert(key.clone(), false);
        for t in &taints {
            let k = t["key"].as_str().unwrap_or_default();
            if k.starts_with("shipstream.io/db-readonly-") && t["effect"] == "NoExecute" {
                present.insert(k.to_string(), true);
            }
        }
        for (k, p) in present {
            let was = seen.taints.get(&(name.clone(), k.clone())).copied();
            if was != Some(p) && (was.is_some() || p) {
                trace.record(EventKind::Taint {
                    node: name.clone(),
                    site: site.clone(),
                    key: k.clone(),
                    present: p,
                });
            }
            seen.taints.insert((name.clone(), k), p);
        }
    }
    // After the taints: an eviction is recorded after the taint that caused it.
    super::canaries::observe(api, trace, &mut seen.canaries);
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(String::from)
}

/// The claim part of a group object.
pub fn status_claim(group: &Value) -> StatusClaim {
    let st = &group["status"];
    let ann = &group["metadata"]["annotations"];
    StatusClaim {
        active_site: st["activeSite"].as_str().unwrap_or_default().into(),
        sites: st["sites"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| SiteClaim {
                        name: s["name"].as_str().unwrap_or_default().into(),
                        state: s["state"].as_str().unwrap_or_default().into(),
                        replicating: s["replicating"].as_bool().unwrap_or(false),
                        recovery_state: s["recoveryState"].as_str().unwrap_or_default().into(),
                        divergent_count: s["divergentTransactionCount"].as_u64(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        conditions: st["conditions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        format!(
                            "{}={}/{}",
                            c["type"].as_str().unwrap_or_default(),
                            c["status"].as_str().unwrap_or_default(),
                            c["reason"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        last_failover: opt_str(&st["lastFailover"]),
        last_failover_target: opt_str(&st["lastFailoverTarget"]),
        annotated_failover: opt_str(&ann[crd::ANNOTATION_LAST_FAILOVER]),
        annotated_target: opt_str(&ann[crd::ANNOTATION_LAST_FAILOVER_TARGET]),
    }
}
