//! Server-side apply of one object, bounded in time, reporting whether the live object
//! changed: a no-op apply keeps the resourceVersion.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::topology::k8s::{K8sError, API_TIMEOUT, FIELD_MANAGER};

/// Applies `obj` as field manager `bloodraven` (forced: the operator owns these objects).
/// Returns the live resourceVersion, which an unchanged object keeps.
pub async fn apply<K>(api: &Api<K>, obj: &K) -> Result<String, K8sError>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    K::DynamicType: Default,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    let mut body = serde_json::to_value(obj).expect("a typed object serializes");
    body["apiVersion"] = K::api_version(&Default::default()).into();
    body["kind"] = K::kind(&Default::default()).into();
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let live = bounded(api.patch(&name, &pp, &Patch::Apply(&body))).await?;
    Ok(live.meta().resource_version.clone().unwrap_or_default())
}

async fn bounded<T>(
    fut: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, K8sError> {
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(K8sError::Timeout(API_TIMEOUT)),
    }
}
