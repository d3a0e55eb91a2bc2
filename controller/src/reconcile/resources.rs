//! Applies every object of a group (spec §1) by server-side apply, in dependency order:
//! ConfigMap and PVCs before the Deployments that mount them, Services, then the PDB;
//! then, when enabled, the Dragonfly StatefulSets, Services and PDBs (spec §7).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Api;

use crate::crd::{self, MysqlFailoverGroup};
use crate::topology::k8s::K8sError;

use super::apply::apply;
use super::meta::Owner;
use super::{config_map, deployment, pdb, services, storage};

/// A failed apply, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("applying {kind} {name}: {source}")]
pub struct ApplyError {
    pub kind: &'static str,
    pub name: String,
    #[source]
    pub source: K8sError,
}

/// `kind/name` → live resourceVersion of every object applied.
pub type Applied = BTreeMap<String, String>;

struct Applier {
    client: kube::Client,
    namespace: String,
    applied: Applied,
}

impl Applier {
    async fn put<K>(&mut self, kind: &'static str, obj: K) -> Result<(), ApplyError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + std::fmt::Debug
            + serde::Serialize
            + serde::de::DeserializeOwned,
        K::DynamicType: Default,
    {
        let name = obj.meta().name.clone().unwrap_or_default();
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let rv = apply(&api, &obj).await.map_err(|source| ApplyError {
            kind,
            name: name.clone(),
            source,
        })?;
        self.applied.insert(format!("{kind}/{name}"), rv);
        Ok(())
    }
}

/// The Deployment each site should run now (the ordered update may hold some back).
pub type Deployments = Vec<Deployment>;

/// The desired Deployment of every site, in spec order.
pub fn desired_deployments(group: &MysqlFailoverGroup, owner: &Owner) -> Deployments {
    let spec = &group.spec;
    let secret = crd::operator_secret_name(spec, &owner.group);
    spec.sites
        .iter()
        .enumerate()
        .map(|(i, site)| {
            let t = deployment::pod_template(spec, &owner.group, i + 1, site, &secret);
            deployment::deployment(owner, &site.name, t)
        })
        .collect()
}

/// Applies every object; `deployments` are the Deployments to apply this pass.
pub async fn apply_all(
    client: &kube::Client,
    group: &MysqlFailoverGroup,
    owner: &Owner,
    deployments: Deployments,
) -> Result<Applied, ApplyError> {
    let mut a = Applier {
        client: client.clone(),
        namespace: owner.namespace.clone(),
        applied: Applied::new(),
    };
    let spec = &group.spec;
    a.put::<ConfigMap>("ConfigMap", config_map::config_map(owner, &spec.mysql_conf))
        .await?;
    for site in &spec.sites {
        a.put::<PersistentVolumeClaim>("PersistentVolumeClaim", storage::pvc(owner, site))
            .await?;
    }
    for d in deployments {
        a.put::<Deployment>("Deployment", d).await?;
    }
    for site in &spec.sites {
        a.put::<Service>("Service", services::client(owner, &site.name))
            .await?;
        a.put::<Service>("Service", services::internal(owner, &site.name))
            .await?;
    }
    a.put::<Service>("Service", services::primary(owner))
        .await?;
    a.put::<Service>("Service", services::replicas(owner))
        .await?;
    a.put::<PodDisruptionBudget>("PodDisruptionBudget", pdb::pdb(owner))
        .await?;
    if let Some(df) = spec.dragonfly.as_ref().filter(|d| d.enabled) {
        use crate::dragonfly::objects;
        for site in &spec.sites {
            a.put::<StatefulSet>("StatefulSet", objects::statefulset(owner, df, &site.name))
                .await?;
            a.put::<Service>("Service", objects::site_service(owner, df, &site.name))
                .await?;
            a.put::<PodDisruptionBudget>("PodDisruptionBudget", objects::pdb(owner, &site.name))
                .await?;
        }
        a.put::<Service>("Service", objects::active_service(owner, df))
            .await?;
    }
    Ok(a.applied)
}
