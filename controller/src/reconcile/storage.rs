//! The data volume of a site: PVC `mysql-<group>-<site>-data`, ReadWriteOnce.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::crd::SiteSpec;

use super::meta::Owner;
use super::names;

pub const DEFAULT_SIZE: &str = "10Gi";

pub fn pvc(owner: &Owner, site: &SiteSpec) -> PersistentVolumeClaim {
    let g = &owner.group;
    let size = site
        .storage
        .as_ref()
        .map(|s| s.size.clone())
        .unwrap_or_else(|| DEFAULT_SIZE.into());
    PersistentVolumeClaim {
        metadata: owner.meta(names::pvc(g, &site.name), names::site_labels(g, &site.name)),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: site
                .storage
                .as_ref()
                .and_then(|s| s.storage_class_name.clone()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), Quantity(size))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
