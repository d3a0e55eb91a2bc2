//! The Kubernetes writes of a topology manager: status, durable anti-flap annotations,
//! the DNSEndpoint and Events. Every call is bounded so a slow apiserver cannot freeze a poll.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::clock::SharedClock;
use crate::crd::{self, MysqlFailoverGroup, MysqlFailoverGroupStatus};

pub const API_TIMEOUT: Duration = Duration::from_secs(10);
pub const FIELD_MANAGER: &str = "bloodraven";

#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("apiserver call timed out after {0:?}")]
    Timeout(Duration),
}

async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, K8sError> {
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(K8sError::Timeout(API_TIMEOUT)),
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
        let now = self.clock.now();
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let ev = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", self.name)),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some(format!("{}/{}", crd::GROUP, crd::VERSION)),
                kind: Some("MysqlFailoverGroup".into()),
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
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

/// chrono → the `jiff` timestamp k8s-openapi uses.
pub fn jiff_ts(t: chrono::DateTime<chrono::Utc>) -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::from_second(t.timestamp()).expect("timestamp in range")
}
