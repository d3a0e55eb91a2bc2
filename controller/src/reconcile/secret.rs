//! The operator Secret the pods read: its absence is reported, never papered over.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::topology::k8s::{K8sError, API_TIMEOUT};

use super::deployment::{KEY_PASSWORD, KEY_ROOT_PASSWORD, KEY_USERNAME};

pub const REQUIRED_KEYS: &[&str] = &[KEY_USERNAME, KEY_PASSWORD, KEY_ROOT_PASSWORD];

/// Why the Secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretProblem {
    NotFound,
    MissingKeys(Vec<&'static str>),
}

impl SecretProblem {
    pub fn reason(&self) -> &'static str {
        match self {
            SecretProblem::NotFound => "SecretNotFound",
            SecretProblem::MissingKeys(_) => "SecretMissingKey",
        }
    }

    pub fn message(&self, namespace: &str, name: &str) -> String {
        match self {
            SecretProblem::NotFound => format!(
                "Secret {namespace}/{name} not found: create it with keys {}; retrying",
                REQUIRED_KEYS.join(", ")
            ),
            SecretProblem::MissingKeys(k) => format!(
                "Secret {namespace}/{name} lacks key(s) {}; retrying",
                k.join(", ")
            ),
        }
    }
}

/// Checks that the Secret exists and holds every required key.
pub async fn check(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Option<SecretProblem>, K8sError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let got = match tokio::time::timeout(API_TIMEOUT, api.get_opt(name)).await {
        Ok(r) => r?,
        Err(_) => return Err(K8sError::Timeout(API_TIMEOUT)),
    };
    let Some(secret) = got else {
        return Ok(Some(SecretProblem::NotFound));
    };
    let data = secret.data.unwrap_or_default();
    let string_data = secret.string_data.unwrap_or_default();
    let missing: Vec<&'static str> = REQUIRED_KEYS
        .iter()
        .copied()
        .filter(|k| !data.contains_key(*k) && !string_data.contains_key(*k))
        .collect();
    Ok((!missing.is_empty()).then_some(SecretProblem::MissingKeys(missing)))
}
