//! PodDisruptionBudget `mysql-<group>` (minAvailable 1) over every pod of the group.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::Owner;
use super::names;

pub fn pdb(owner: &Owner) -> PodDisruptionBudget {
    let g = &owner.group;
    PodDisruptionBudget {
        metadata: owner.meta(names::pdb(g), names::group_labels(g)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(names::group_selector(g)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
