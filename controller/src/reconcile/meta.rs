//! Metadata shared by every reconciled object: name, namespace, labels, owner.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// What every object built for one group needs.
#[derive(Clone, Debug)]
pub struct Owner {
    pub group: String,
    pub namespace: String,
    pub reference: OwnerReference,
}

impl Owner {
    pub fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            owner_references: Some(vec![self.reference.clone()]),
            ..Default::default()
        }
    }
}
