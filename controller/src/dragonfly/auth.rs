//! `spec.dragonfly.auth`: the Dragonfly password lives in a Secret the user creates. It is
//! read every manager tick (so a rotated or late-created Secret is picked up), and a
//! missing Secret or key is a status message naming both, never a panic.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::spec::DragonflyAuth;
use crate::topology::k8s::API_TIMEOUT;

/// The password `auth` points at, or why it cannot be had.
pub async fn read_password(
    client: &kube::Client,
    namespace: &str,
    auth: &DragonflyAuth,
) -> Result<String, String> {
    let name = &auth.secret_name;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let got = match tokio::time::timeout(API_TIMEOUT, api.get_opt(name)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("reading Secret {namespace}/{name}: {e}; retrying")),
        Err(_) => {
            return Err(format!(
                "reading Secret {namespace}/{name} timed out after {API_TIMEOUT:?}; retrying"
            ))
        }
    };
    let Some(secret) = got else {
        return Err(format!(
            "Secret {namespace}/{name} (spec.dragonfly.auth.secretName) not found: create it with key {:?}; retrying",
            auth.password_key
        ));
    };
    let key = &auth.password_key;
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|s| s.clone().into_bytes())
        });
    match value {
        None => Err(format!(
            "Secret {namespace}/{name} has no key {key:?} (spec.dragonfly.auth.passwordKey); retrying"
        )),
        Some(v) if v.is_empty() => Err(format!(
            "Secret {namespace}/{name} key {key:?} is empty: expected the Dragonfly password; retrying"
        )),
        Some(v) => String::from_utf8(v).map_err(|_| {
            format!("Secret {namespace}/{name} key {key:?} is not UTF-8 text; retrying")
        }),
    }
}
