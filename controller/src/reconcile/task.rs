//! One reconciler per group: a full server-side-apply pass on start, on every spec change,
//! after a failure and every resync period; pod role labels and node taints whenever the
//! manager's view changes (and on every full pass, so they are level-triggered).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::crd::{self, MysqlFailoverGroup};
use crate::topology::k8s::GroupApi;
use crate::topology::{Registry, ReportedCondition};

use super::meta::Owner;
use super::ordered_update::{self, UpdateState};
use super::pod_roles::{self, PodLabels};
use super::resources::{self, Applied};
use super::secret;
use super::{node_taints, owner};

/// The condition type the reconciler reports (False names what blocks it).
pub const CONDITION: &str = "ResourcesReady";
pub const RESYNC: Duration = Duration::from_secs(30);

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassOutcome {
    /// `kind/name` of the objects whose resourceVersion moved (created or changed).
    pub changed: Vec<String>,
    pub pods_labelled: usize,
    pub nodes_changed: usize,
    pub condition: Option<ReportedCondition>,
    /// The `Updating` condition of the ordered update, when the pass got that far.
    pub updating: Option<ReportedCondition>,
}

pub struct GroupReconciler {
    pub client: kube::Client,
    pub registry: Registry,
    pub clock: SharedClock,
    pub namespace: String,
    pub name: String,
    applied: Applied,
    last_full: Option<Instant>,
    last_generation: Option<i64>,
    last_roles: Option<BTreeMap<String, PodLabels>>,
    failed: bool,
    update: UpdateState,
    update_active: bool,
}

fn cond(status: bool, reason: &str, message: String) -> ReportedCondition {
    ReportedCondition {
        type_: CONDITION.into(),
        status,
        reason: reason.into(),
        message,
    }
}

impl GroupReconciler {
    pub fn new(
        client: kube::Client,
        registry: Registry,
        clock: SharedClock,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            client,
            registry,
            clock,
            namespace: namespace.into(),
            name: name.into(),
            applied: Applied::new(),
            last_full: None,
            last_generation: None,
            last_roles: None,
            failed: false,
            update: UpdateState::default(),
            update_active: false,
        }
    }

    /// Runs until aborted, taking the latest group object from `group` (the runner sends
    /// each one it lists) and ticking every `every`.
    pub async fn run(mut self, group: watch::Receiver<MysqlFailoverGroup>, every: Duration) {
        loop {
            let g = group.borrow().clone();
            self.tick(&g).await;
            tokio::time::sleep(every).await;
        }
    }

    /// A full pass when one is due, else only the role labels and taints if the view moved.
    pub async fn tick(&mut self, group: &MysqlFailoverGroup) -> PassOutcome {
        // An update in flight is re-planned every tick (it waits on the manager's view).
        let due = self.failed
            || self.update_active
            || self.last_full.is_none_or(|t| t.elapsed() >= RESYNC)
            || self.last_generation != group.metadata.generation;
        if due {
            return self.full_pass(group).await;
        }
        let mut out = PassOutcome::default();
        self.roles_and_taints(group, false, &mut out).await;
        out
    }

    /// Applies every object, then labels pods and heals taints.
    pub async fn full_pass(&mut self, group: &MysqlFailoverGroup) -> PassOutcome {
        let mut out = PassOutcome::default();
        self.last_full = Some(Instant::now());
        self.last_generation = group.metadata.generation;
        let mut reported = vec![];
        let c = self.apply_resources(group, &mut out, &mut reported).await;
        self.failed = !c.status;
        reported.insert(0, c.clone());
        self.registry
            .report_conditions(&self.namespace, &self.name, reported.clone());
        out.condition = Some(c);
        out.updating = reported.into_iter().find(|c| c.type_ == "Updating");
        self.update_active = out.updating.as_ref().is_some_and(|c| c.status);
        self.roles_and_taints(group, true, &mut out).await;
        out
    }

    async fn apply_resources(
        &mut self,
        group: &MysqlFailoverGroup,
        out: &mut PassOutcome,
        reported: &mut Vec<ReportedCondition>,
    ) -> ReportedCondition {
        // Asked again by this pass's plan only: a pass that stops early withdraws it.
        self.registry
            .request_handoff(&self.namespace, &self.name, None);
        let secret_name = crd::operator_secret_name(&group.spec, &self.name);
        match secret::check(&self.client, &self.namespace, &secret_name).await {
            Ok(None) => {}
            Ok(Some(problem)) => {
                let msg = problem.message(&self.namespace, &secret_name);
                if !self.failed {
                    warn!(group = %self.name, secret = %secret_name, "{msg}");
                }
                return cond(false, problem.reason(), msg);
            }
            Err(e) => {
                return cond(
                    false,
                    "ApplyFailed",
                    format!("reading Secret {secret_name}: {e}"),
                )
            }
        }
        let Some(reference) = owner::owner_reference(group) else {
            return cond(false, "ApplyFailed", "the group has no uid yet".into());
        };
        let owner = Owner {
            group: self.name.clone(),
            namespace: self.namespace.clone(),
            reference,
        };
        let desired = resources::desired_deployments(group, &owner);
        let view = self.registry.get(&self.namespace, &self.name);
        let deployments = match ordered_update::plan(
            &self.client,
            group,
            view.as_ref(),
            desired,
            &mut self.update,
        )
        .await
        {
            Ok(p) => {
                reported.push(p.condition);
                self.registry
                    .request_handoff(&self.namespace, &self.name, p.handoff);
                p.deployments
            }
            Err(e) => return cond(false, "ApplyFailed", format!("reading Deployments: {e}")),
        };
        match resources::apply_all(&self.client, group, &owner, deployments).await {
            Ok(applied) => {
                out.changed = applied
                    .iter()
                    .filter(|(k, rv)| self.applied.get(*k) != Some(rv))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !out.changed.is_empty() {
                    info!(group = %self.name, objects = ?out.changed, "resources reconciled");
                }
                let n = applied.len();
                self.applied = applied;
                cond(true, "ResourcesApplied", format!("{n} objects in sync"))
            }
            Err(e) => {
                warn!(group = %self.name, error = %e, "resource reconcile failed; retrying");
                cond(false, "ApplyFailed", e.to_string())
            }
        }
    }

    async fn roles_and_taints(
        &mut self,
        group: &MysqlFailoverGroup,
        force: bool,
        out: &mut PassOutcome,
    ) {
        let Some(view) = self.registry.get(&self.namespace, &self.name) else {
            return;
        };
        let want = pod_roles::desired(&view);
        if !force && self.last_roles.as_ref() == Some(&want) {
            return;
        }
        match pod_roles::label_pods(&self.client, &self.namespace, &self.name, &want).await {
            Ok(n) => {
                out.pods_labelled = n;
                self.last_roles = Some(want);
            }
            Err(e) => {
                warn!(group = %self.name, error = %e, "listing pods for role labels failed");
                self.last_roles = None;
            }
        }
        let api = GroupApi {
            client: self.client.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            clock: self.clock.clone(),
        };
        let mut taints = node_taints::desired(&group.spec.sites, &view);
        if self
            .registry
            .hooks()
            .broken(crate::fault_hooks::Broken::SkipUntaint)
        {
            taints.retain(|(_, present)| *present);
        }
        out.nodes_changed = node_taints::heal(&api, self.registry.metrics(), &taints).await;
    }
}
