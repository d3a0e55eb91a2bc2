//! Owner references to the group: deleting the group garbage-collects what it owns.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use crate::crd::MysqlFailoverGroup;

/// The controller owner reference to `group`; None until the group has a uid.
pub fn owner_reference(group: &MysqlFailoverGroup) -> Option<OwnerReference> {
    group.controller_owner_ref(&())
}
