//! The Kubernetes objects of a group's Dragonfly sidekick (spec §1, §7.1): a one-replica
//! StatefulSet, a Service and a PodDisruptionBudget per site, and the active Service.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec,
    TCPSocketAction,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::names;
use super::spec::DragonflySpec;
use crate::reconcile::meta::Owner;

fn args(spec: &DragonflySpec) -> Vec<String> {
    let mut a = vec![
        format!("--port={}", spec.port),
        format!("--admin_port={}", spec.admin_port),
    ];
    if let Some(mb) = spec.max_memory_mb {
        a.push(format!("--maxmemory={mb}mb"));
    }
    if let Some(n) = spec.proactor_threads {
        a.push(format!("--proactor_threads={n}"));
    }
    a.extend(spec.args.iter().cloned());
    a
}

pub fn statefulset(owner: &Owner, spec: &DragonflySpec, site: &str) -> StatefulSet {
    let g = &owner.group;
    let name = names::site_object(g, site);
    // The same password guards clients (requirepass) and a replica's link to its master
    // (masterauth), since any site may become the master.
    let env = spec.auth.as_ref().map(|a| {
        ["DFLY_requirepass", "DFLY_masterauth"]
            .into_iter()
            .map(|name| k8s_openapi::api::core::v1::EnvVar {
                name: name.into(),
                value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
                    secret_key_ref: Some(k8s_openapi::api::core::v1::SecretKeySelector {
                        name: a.secret_name.clone(),
                        key: a.password_key.clone(),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect()
    });
    let container = Container {
        name: "dragonfly".into(),
        image: Some(spec.image.clone()),
        args: Some(args(spec)),
        env,
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: i32::from(spec.port),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::Int(i32::from(spec.port)),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    StatefulSet {
        metadata: owner.meta(name.clone(), names::site_labels(g, site)),
        spec: StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(name),
            selector: LabelSelector {
                match_labels: Some(names::site_selector(g, site)),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(names::site_labels(g, site)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn service(
    owner: &Owner,
    name: String,
    selector: std::collections::BTreeMap<String, String>,
    port: u16,
    labels: std::collections::BTreeMap<String, String>,
) -> Service {
    Service {
        metadata: owner.meta(name, labels),
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: i32::from(port),
                target_port: Some(IntOrString::Int(i32::from(port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Service the controller dials and replicas follow.
pub fn site_service(owner: &Owner, spec: &DragonflySpec, site: &str) -> Service {
    let g = &owner.group;
    service(
        owner,
        names::site_object(g, site),
        names::site_selector(g, site),
        spec.port,
        names::site_labels(g, site),
    )
}

/// What applications use: whichever master carries traffic.
pub fn active_service(owner: &Owner, spec: &DragonflySpec) -> Service {
    let g = &owner.group;
    service(
        owner,
        names::active_service(g),
        names::active_selector(g),
        spec.port,
        names::group_labels(g),
    )
}

/// One PDB per site: a voluntary eviction never takes a site's only Dragonfly.
pub fn pdb(owner: &Owner, site: &str) -> PodDisruptionBudget {
    let g = &owner.group;
    PodDisruptionBudget {
        metadata: owner.meta(names::site_object(g, site), names::site_labels(g, site)),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(names::site_selector(g, site)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
