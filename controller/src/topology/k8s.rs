//! The Kubernetes writes of a topology manager: status, durable anti-flap annotations,
//! the DNSEndpoint and Events. Every call is bounded so a slow apiserver cannot freeze a poll.

use std::time::Duration;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Event, Node, ObjectReference, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::Api;
use serde_json::json;

use crate::clock::SharedClock;
use crate::crd::{self, MysqlFailoverGroup, MysqlFailoverGroupStatus};

pub const API_TIMEOUT: Duration = Duration::from_secs(10);
/// The API budget of a poll (PLV: a poll completes within interval + τ + 2s of the last
/// one, even when the apiserver hangs): its API calls share a deadline τ + 2s after the
/// poll started, each still gets at least [`POLL_API_MIN`] (a poll that spent its budget
/// on a promotion must still flip DNS and write status), and once one has timed out the
/// rest of the poll's calls are skipped. Every call is level-triggered, retried next poll.
pub const POLL_API_BUDGET: Duration = Duration::from_secs(7);
pub const POLL_API_MIN: Duration = Duration::from_secs(2);
pub const FIELD_MANAGER: &str = "bloodraven";

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("apiserver call timed out after {0:?}")]
    Timeout(Duration),
    #[error("apiserver call skipped: an earlier call of this poll timed out")]
    SkippedThisPoll,
}

/// The API budget of the poll running on this task.
struct PollApi {
    deadline: tokio::time::Instant,
    timed_out: std::cell::Cell<bool>,
}

tokio::task_local! {
    static POLL_API: PollApi;
}

/// Runs one poll under the poll API budget ([`POLL_API_BUDGET`]). `budget = false` keeps
/// the plain per-call [`API_TIMEOUT`] (the chaos harness's broken controllers).
pub async fn within_poll<F: std::future::Future>(budget: bool, poll: F) -> F::Output {
    if !budget {
        return poll.await;
    }
    let api = PollApi {
        deadline: tokio::time::Instant::now() + POLL_API_BUDGET,
        timed_out: std::cell::Cell::new(false),
    };
    POLL_API.scope(api, poll).await
}

async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, K8sError> {
    let limit = match POLL_API.try_with(|p| {
        let left = p
            .deadline
            .saturating_duration_since(tokio::time::Instant::now());
        (!p.timed_out.get()).then(|| left.clamp(POLL_API_MIN, API_TIMEOUT))
    }) {
        Ok(None) => return Err(K8sError::SkippedThisPoll),
        Ok(Some(limit)) => limit,
        Err(_) => API_TIMEOUT,
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => Ok(r?),
        Err(_) => {
            let _ = POLL_API.try_with(|p| p.timed_out.set(true));
            Err(K8sError::Timeout(limit))
        }
    }
}

/// The group's handle on the apiserver.
#[derive(Clone)]
pub struct GroupApi {
    pub client: kube::Client,
    pub namespace: String,
    pub name: String,
    pub clock: SharedClock,
}

pub fn dns_endpoint_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("externaldns.k8s.io", "v1alpha1", "DNSEndpoint"),
        "dnsendpoints",
    )
}

impl GroupApi {
    fn mfgs(&self) -> Api<MysqlFailoverGroup> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub async fn get(&self) -> Result<MysqlFailoverGroup, K8sError> {
        bounded(self.mfgs().get(&self.name)).await
    }

    pub async fn write_status(&self, status: &MysqlFailoverGroupStatus) -> Result<(), K8sError> {
        let patch = json!({ "status": status });
        bounded(self.mfgs().patch_status(
            &self.name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        ))
        .await
        .map(drop)
    }

    /// Writes both durable anti-flap annotations in one merge patch.
    pub async fn write_failover_annotations(&self, at: &str, target: &str) -> Result<(), K8sError> {
        let patch = json!({ "metadata": { "annotations": {
            crd::ANNOTATION_LAST_FAILOVER: at,
            crd::ANNOTATION_LAST_FAILOVER_TARGET: target,
        }}});
        bounded(
            self.mfgs()
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await
        .map(drop)
    }

    /// Removes one annotation (a JSON merge patch with `null`); absent is not an error.
    pub async fn remove_annotation(&self, key: &str) -> Result<(), K8sError> {
        let patch = json!({ "metadata": { "annotations": { key: null } } });
        bounded(
            self.mfgs()
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await
        .map(drop)
    }

    fn dns_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &dns_endpoint_resource(),
        )
    }

    /// Targets of the live DNSEndpoint record (`Ok(None)` when it does not exist).
    pub async fn read_dns_targets(&self) -> Result<Option<Vec<String>>, K8sError> {
        let name = crd::dns_endpoint_name(&self.name);
        let obj = bounded(self.dns_api().get_opt(&name)).await?;
        Ok(obj.map(|o| {
            o.data["spec"]["endpoints"][0]["targets"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    /// Server-side applies the DNSEndpoint with one A record.
    pub async fn apply_dns(
        &self,
        hostname: &str,
        ttl: u32,
        target_ip: &str,
    ) -> Result<(), K8sError> {
        let name = crd::dns_endpoint_name(&self.name);
        let body = json!({
            "apiVersion": "externaldns.k8s.io/v1alpha1",
            "kind": "DNSEndpoint",
            "metadata": { "name": name, "namespace": self.namespace,
                          "labels": { "app.kubernetes.io/managed-by": "bloodraven", "shipstream.io/failover-group": self.name } },
            "spec": { "endpoints": [ { "dnsName": hostname, "recordType": "A", "targets": [target_ip], "recordTTL": ttl } ] }
        });
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        bounded(self.dns_api().patch(&name, &pp, &Patch::Apply(&body)))
            .await
            .map(drop)
    }

    /// Records a Kubernetes Event on the group.
    pub async fn event(&self, warning: bool, reason: &str, message: &str) -> Result<(), K8sError> {
        let group = ObjectReference {
            api_version: Some(format!("{}/{}", crd::GROUP, crd::VERSION)),
            kind: Some("MysqlFailoverGroup".into()),
            name: Some(self.name.clone()),
            namespace: Some(self.namespace.clone()),
            ..Default::default()
        };
        self.event_on(group, warning, reason, message).await
    }

    /// Records a Kubernetes Event on `involved`, an object of the group's namespace (a
    /// MysqlBackup's outcome belongs on the MysqlBackup, where `kubectl describe` shows it).
    pub async fn event_on(
        &self,
        involved: ObjectReference,
        warning: bool,
        reason: &str,
        message: &str,
    ) -> Result<(), K8sError> {
        let now = self.clock.now();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let ev = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!(
                    "{}.",
                    involved.name.as_deref().unwrap_or(&self.name)
                )),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(if warning { "Warning" } else { "Normal" }.into()),
            first_timestamp: Some(Time(jiff_ts(now))),
            last_timestamp: Some(Time(jiff_ts(now))),
            event_time: Some(MicroTime(jiff_ts(now))),
            count: Some(1),
            reporting_component: Some("bloodraven".into()),
            reporting_instance: Some("bloodraven".into()),
            action: Some(reason.into()),
            source: Some(k8s_openapi::api::core::v1::EventSource {
                component: Some("bloodraven".into()),
                host: None,
            }),
            ..Default::default()
        };
        bounded(api.create(&PostParams::default(), &ev))
            .await
            .map(drop)
    }
}

/// The node taint of a group (spec §1 Taint): `shipstream.io/db-readonly-<group>`.
pub fn taint_key(group: &str) -> String {
    format!("shipstream.io/db-readonly-{group}")
}
pub const TAINT_VALUE: &str = "true";
pub const TAINT_EFFECT: &str = "NoExecute";

/// A label selector string (`k=v,k2=v2`) from a site's `taintNodeSelector`.
pub fn label_selector(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `taints` with the group taint present or absent; None when already so.
pub fn with_taint(taints: &[Taint], key: &str, present: bool) -> Option<Vec<Taint>> {
    let ours = |t: &Taint| t.key == key && t.effect == TAINT_EFFECT;
    let has = taints.iter().any(ours);
    if has == present {
        return None;
    }
    let mut out: Vec<Taint> = taints.iter().filter(|t| !ours(t)).cloned().collect();
    if present {
        out.push(Taint {
            key: key.to_string(),
            value: Some(TAINT_VALUE.into()),
            effect: TAINT_EFFECT.into(),
            time_added: None,
        });
    }
    Some(out)
}

impl GroupApi {
    /// Names of the nodes matching `selector` (never every node: an empty selector
    /// matches nothing here).
    pub async fn list_nodes(
        &self,
        selector: &BTreeMap<String, String>,
    ) -> Result<Vec<Node>, K8sError> {
        if selector.is_empty() {
            return Ok(vec![]);
        }
        let api: Api<Node> = Api::all(self.client.clone());
        let lp = ListParams::default().labels(&label_selector(selector));
        let mut nodes = bounded(api.list(&lp)).await?.items;
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(nodes)
    }

    /// Adds (`present`) or removes the group taint on one node, keeping its other taints.
    /// The write carries the node's resourceVersion; a conflict re-reads and retries.
    /// Returns whether the node changed.
    pub async fn set_node_taint(
        &self,
        node: &Node,
        key: &str,
        present: bool,
    ) -> Result<bool, K8sError> {
        let api: Api<Node> = Api::all(self.client.clone());
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut current = node.clone();
        for attempt in 0..3 {
            let taints = current
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let Some(next) = with_taint(&taints, key, present) else {
                return Ok(false);
            };
            let patch = json!({
                "metadata": { "resourceVersion": current.metadata.resource_version },
                "spec": { "taints": next },
            });
            match bounded(api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))).await {
                Ok(_) => return Ok(true),
                Err(K8sError::Kube(kube::Error::Api(s))) if s.code == 409 && attempt < 2 => {
                    current = bounded(api.get(&name)).await?;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the last attempt returns")
    }
}

/// chrono → the `jiff` timestamp k8s-openapi uses.
pub fn jiff_ts(t: chrono::DateTime<chrono::Utc>) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).expect("timestamp in range")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: Some("v".into()),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn taint_edits_keep_other_taints_and_are_idempotent() {
        let key = taint_key("g");
        assert_eq!(key, "shipstream.io/db-readonly-g");
        let other = taint("example.com/x", "NoSchedule");
        let added = with_taint(std::slice::from_ref(&other), &key, true).expect("changes");
        assert_eq!(added.len(), 2);
        assert_eq!(added[0], other);
        assert_eq!(added[1].key, key);
        assert_eq!(added[1].value.as_deref(), Some("true"));
        assert_eq!(added[1].effect, "NoExecute");
        assert_eq!(with_taint(&added, &key, true), None, "already present");
        assert_eq!(with_taint(&added, &key, false), Some(vec![other.clone()]));
        assert_eq!(with_taint(std::slice::from_ref(&other), &key, false), None);
        // Same key, another effect: not ours.
        let same_key = taint(&key, "NoSchedule");
        assert_eq!(
            with_taint(std::slice::from_ref(&same_key), &key, false),
            None
        );
    }

    #[test]
    fn selector_renders_sorted_pairs() {
        let sel: BTreeMap<String, String> = [("zone", "b"), ("app", "db")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(label_selector(&sel), "app=db,zone=b");
    }
}
