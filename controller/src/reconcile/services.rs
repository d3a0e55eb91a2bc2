//! The Services of a group (spec §1): per site a client Service and an internal one
//! (`publishNotReadyAddresses`, 3306 and 8080: what the operator dials and the canonical
//! replication source), per group `-primary` and `-replicas` selecting by pod role.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::Owner;
use super::names;

fn port(name: &str, port: i32) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port,
        target_port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn service(
    owner: &Owner,
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    selector: std::collections::BTreeMap<String, String>,
    ports: Vec<ServicePort>,
    publish_not_ready: bool,
) -> Service {
    Service {
        metadata: owner.meta(name, labels),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports),
            publish_not_ready_addresses: publish_not_ready.then_some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn client(owner: &Owner, site: &str) -> Service {
    let g = &owner.group;
    service(
        owner,
        names::client_service(g, site),
        names::site_labels(g, site),
        names::site_selector(g, site),
        vec![port("mysql", 3306)],
        false,
    )
}

pub fn internal(owner: &Owner, site: &str) -> Service {
    let g = &owner.group;
    service(
        owner,
        names::internal_service(g, site),
        names::site_labels(g, site),
        names::site_selector(g, site),
        vec![port("mysql", 3306), port("sidecar", 8080)],
        true,
    )
}

pub fn primary(owner: &Owner) -> Service {
    let g = &owner.group;
    let mut selector = names::group_selector(g);
    selector.insert(names::LABEL_ROLE.into(), "primary".into());
    service(
        owner,
        names::primary_service(g),
        names::group_labels(g),
        selector,
        vec![port("mysql", 3306)],
        false,
    )
}

pub fn replicas(owner: &Owner) -> Service {
    let g = &owner.group;
    let mut selector = names::group_selector(g);
    selector.insert(names::LABEL_ROLE.into(), "replica".into());
    selector.insert(names::LABEL_HEALTHY.into(), "yes".into());
    service(
        owner,
        names::replicas_service(g),
        names::group_labels(g),
        selector,
        vec![port("mysql", 3306)],
        false,
    )
}
