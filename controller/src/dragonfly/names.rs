//! Names and labels of a group's Dragonfly objects (spec §1, §7): per site a StatefulSet,
//! a Service and a PDB named `mysql-<group>-dragonfly-<site>`; per group the active
//! Service `mysql-<group>-dragonfly` selecting the master that carries traffic.

use std::collections::BTreeMap;

use crate::reconcile::names::{LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, LABEL_SITE};

/// `master` or `replica`, as the manager last set it.
pub const LABEL_ROLE: &str = "shipstream.io/dragonfly-role";
/// `enabled` when the pod may take application traffic; absent when stripped.
pub const LABEL_TRAFFIC: &str = "shipstream.io/dragonfly-traffic";

pub fn site_object(group: &str, site: &str) -> String {
    format!("mysql-{group}-dragonfly-{site}")
}

/// The host the controller dials: the site's Dragonfly Service.
pub fn host(group: &str, site: &str) -> String {
    site_object(group, site)
}

/// The StatefulSet's single pod.
pub fn pod(group: &str, site: &str) -> String {
    format!("{}-0", site_object(group, site))
}

pub fn active_service(group: &str) -> String {
    format!("mysql-{group}-dragonfly")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The instance label of a group's Dragonfly objects. Not the group's own: the MySQL
/// selectors (`-primary`, `-replicas`, the group PDB, pod role labelling) select on
/// `instance=<group>` and must never pick a Dragonfly pod.
pub fn instance(group: &str) -> String {
    format!("{group}-dragonfly")
}

pub fn group_labels(group: &str) -> BTreeMap<String, String> {
    labels(&[
        (LABEL_NAME, "dragonfly"),
        (LABEL_INSTANCE, &instance(group)),
        (LABEL_MANAGED_BY, "bloodraven"),
    ])
}

pub fn site_labels(group: &str, site: &str) -> BTreeMap<String, String> {
    let mut l = group_labels(group);
    l.insert(LABEL_SITE.into(), site.into());
    l
}

/// Immutable StatefulSet selector of one site's Dragonfly pod.
pub fn site_selector(group: &str, site: &str) -> BTreeMap<String, String> {
    labels(&[
        (LABEL_NAME, "dragonfly"),
        (LABEL_INSTANCE, &instance(group)),
        (LABEL_SITE, site),
    ])
}

/// What the active Service selects: the master that carries traffic.
pub fn active_selector(group: &str) -> BTreeMap<String, String> {
    labels(&[
        (LABEL_NAME, "dragonfly"),
        (LABEL_INSTANCE, &instance(group)),
        (LABEL_ROLE, "master"),
        (LABEL_TRAFFIC, "enabled"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::names as mysql;

    /// A Dragonfly pod must match no MySQL selector, or the `-primary` Service, the group
    /// PDB and the pod role labelling would take it for a MySQL pod.
    #[test]
    fn dragonfly_pods_match_no_mysql_selector() {
        let pod = site_labels("g", "a");
        let matches =
            |sel: &BTreeMap<String, String>| sel.iter().all(|(k, v)| pod.get(k) == Some(v));
        assert!(!matches(&mysql::group_selector("g")));
        assert!(!matches(&mysql::site_selector("g", "a")));
        assert!(matches(&site_selector("g", "a")));
        assert_eq!(pod.get(LABEL_SITE).map(String::as_str), Some("a"));
    }
}
