//! Names and labels of the objects the reconciler owns (spec §1 "Per site", "Per group").

use std::collections::BTreeMap;

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_GROUP: &str = "shipstream.io/failover-group";
pub const LABEL_SITE: &str = "shipstream.io/site";
/// Pod role: `primary`, `replica` or `fenced` (matches no Service selector).
pub const LABEL_ROLE: &str = "shipstream.io/role";
/// `yes` on a pod the `-replicas` Service may serve.
pub const LABEL_HEALTHY: &str = "shipstream.io/healthy";
/// The hash of the desired pod template, read by the ordered update (§3.9).
pub const ANNOTATION_SPEC_HASH: &str = "bloodraven.shipstream.io/spec-hash";

pub fn deployment(group: &str, site: &str) -> String {
    format!("mysql-{group}-{site}")
}
pub fn pvc(group: &str, site: &str) -> String {
    format!("mysql-{group}-{site}-data")
}
pub fn client_service(group: &str, site: &str) -> String {
    format!("mysql-{group}-{site}")
}
pub fn internal_service(group: &str, site: &str) -> String {
    crate::crd::internal_service(group, site)
}
pub fn config_map(group: &str) -> String {
    format!("mysql-{group}-config")
}
pub fn primary_service(group: &str) -> String {
    format!("mysql-{group}-primary")
}
pub fn replicas_service(group: &str) -> String {
    format!("mysql-{group}-replicas")
}
pub fn pdb(group: &str) -> String {
    format!("mysql-{group}")
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Labels every object of the group carries.
pub fn group_labels(group: &str) -> BTreeMap<String, String> {
    map(&[
        (LABEL_NAME, "mysql"),
        (LABEL_INSTANCE, group),
        (LABEL_MANAGED_BY, "bloodraven"),
        (LABEL_GROUP, group),
    ])
}

/// Labels of one site's objects and pods.
pub fn site_labels(group: &str, site: &str) -> BTreeMap<String, String> {
    let mut l = group_labels(group);
    l.insert(LABEL_SITE.into(), site.into());
    l
}

/// The selector of one site's pods (stable: a Deployment selector is immutable).
pub fn site_selector(group: &str, site: &str) -> BTreeMap<String, String> {
    map(&[(LABEL_INSTANCE, group), (LABEL_SITE, site)])
}

/// The selector of every pod of the group.
pub fn group_selector(group: &str) -> BTreeMap<String, String> {
    map(&[(LABEL_INSTANCE, group)])
}
