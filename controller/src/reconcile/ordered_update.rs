//! Ordered update (spec §3.9): a pod-template change (image, resources, ...) reaches the
//! followers one at a time, each waited for (rollout complete, then read-only and
//! replicating again) before the next; the active site's Deployment is held back until a
//! planned switchover has moved the writer away, after which it is updated as a follower.
//! `Recreate` applies every Deployment at once.
//!
//! The switchover itself belongs to the planned-failover controller: this module stops
//! before it, with `Updating=True` reason `Failover` naming the annotation that runs it.
//!
//! Each wait has a deadline: a follower that does not replicate again within
//! [`WAIT_REPLICA_DEADLINE`] of its update, or that comes up writable with no source for
//! [`WRITABLE_NO_SOURCE_GRACE`], fails the update (`Updating=True` reason `Failed`) and
//! holds the rest of it until that site's desired template changes again.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use tokio::time::Instant;
use tracing::warn;

use crate::crd::{MysqlFailoverGroup, UpdateStrategy};
use crate::topology::k8s::{K8sError, API_TIMEOUT};
use crate::topology::{GroupView, ReportedCondition};

use super::names;

/// How long an updated follower has to replicate again (spec §3.9).
pub const WAIT_REPLICA_DEADLINE: Duration = Duration::from_secs(300);
/// An updated follower seen writable with no replication source fails the step this soon
/// (spec §3.9 fail-fast, issue #46): it will never replicate by itself.
pub const WRITABLE_NO_SOURCE_GRACE: Duration = Duration::from_secs(30);

/// The site whose new template was applied and is awaited, and since when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateState {
    pub waiting_on: Option<String>,
    /// When the awaited site's template was applied.
    pub since: Option<Instant>,
    /// Since when the awaited site has been seen writable with no source.
    pub writable_since: Option<Instant>,
    /// A failed step: (site, its desired spec hash, message). Held until the hash moves.
    pub failed: Option<(String, String, String)>,
}

/// What to apply this pass and the `Updating` condition.
pub struct Plan {
    pub deployments: Vec<Deployment>,
    pub condition: ReportedCondition,
}

fn updating(status: bool, reason: &str, message: String) -> ReportedCondition {
    ReportedCondition {
        type_: "Updating".into(),
        status,
        reason: reason.into(),
        message,
    }
}

fn spec_hash(d: &Deployment) -> Option<&str> {
    d.metadata
        .annotations
        .as_ref()?
        .get(names::ANNOTATION_SPEC_HASH)
        .map(String::as_str)
}

/// The rollout of the live Deployment is complete (its controller reports it).
fn rolled_out(d: &Deployment) -> bool {
    let Some(st) = &d.status else {
        return false;
    };
    st.observed_generation >= d.metadata.generation
        && st.updated_replicas.unwrap_or(0) >= 1
        && st.available_replicas.unwrap_or(0) >= 1
}

/// Decides which desired Deployments to apply. `desired` is in spec order.
pub async fn plan(
    client: &kube::Client,
    group: &MysqlFailoverGroup,
    view: Option<&GroupView>,
    desired: Vec<Deployment>,
    state: &mut UpdateState,
) -> Result<Plan, K8sError> {
    let ns = group.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let mut live = Vec::with_capacity(desired.len());
    for d in &desired {
        let name = d.metadata.name.clone().unwrap_or_default();
        let got = match tokio::time::timeout(API_TIMEOUT, api.get_opt(&name)).await {
            Ok(r) => r?,
            Err(_) => return Err(K8sError::Timeout(API_TIMEOUT)),
        };
        live.push(got);
    }
    let sites: Vec<String> = group.spec.sites.iter().map(|s| s.name.clone()).collect();
    let drifted: Vec<usize> = (0..desired.len())
        .filter(|&i| {
            live[i]
                .as_ref()
                .is_some_and(|l| spec_hash(l) != spec_hash(&desired[i]))
        })
        .collect();
    let idle = || updating(false, "NotUpdating", "No update in progress".into());
    if group.spec.update_strategy == UpdateStrategy::Recreate {
        state.waiting_on = None;
        return Ok(Plan {
            deployments: desired,
            condition: idle(),
        });
    }
    // Missing Deployments are created at once; drifted ones wait their turn.
    let mut apply = vec![false; desired.len()];
    for (i, l) in live.iter().enumerate() {
        apply[i] = l.is_none() || !drifted.contains(&i);
    }
    let take = |apply: Vec<bool>, condition: ReportedCondition| Plan {
        deployments: desired
            .iter()
            .zip(&apply)
            .filter(|(_, a)| **a)
            .map(|(d, _)| d.clone())
            .collect(),
        condition,
    };

    // A failed step holds the update until that site's desired template changes.
    if let Some((site, hash, message)) = state.failed.clone() {
        let now_hash = sites
            .iter()
            .position(|s| *s == site)
            .and_then(|i| spec_hash(&desired[i]));
        if now_hash == Some(hash.as_str()) {
            return Ok(take(apply, updating(true, "Failed", message)));
        }
        state.failed = None;
    }

    // A follower updated earlier: wait for its rollout and for it to serve again.
    if let Some(site) = state.waiting_on.clone() {
        let i = sites.iter().position(|s| *s == site);
        let done = i.is_some_and(|i| {
            live[i].as_ref().is_some_and(rolled_out)
                && view.is_some_and(|v| v.serving.contains(&site))
        });
        if !done {
            let now = Instant::now();
            let since = *state.since.get_or_insert(now);
            let writable_no_source = view.is_some_and(|v| {
                v.details
                    .iter()
                    .any(|d| d.name == site && d.state == "writable" && d.source_host.is_empty())
            });
            state.writable_since = if writable_no_source {
                Some(state.writable_since.unwrap_or(now))
            } else {
                None
            };
            let failure = if state
                .writable_since
                .is_some_and(|t| now - t >= WRITABLE_NO_SOURCE_GRACE)
            {
                Some(format!(
                    "Update failed: {site} came up writable with no replication source after its update"
                ))
            } else if now - since >= WAIT_REPLICA_DEADLINE {
                Some(format!(
                    "Update failed: {site} did not replicate again within {}s of its update",
                    WAIT_REPLICA_DEADLINE.as_secs()
                ))
            } else {
                None
            };
            if let Some(message) = failure {
                warn!(site = %site, "{message}");
                let hash = i
                    .and_then(|i| spec_hash(&desired[i]))
                    .unwrap_or_default()
                    .to_string();
                state.failed = Some((site, hash, message.clone()));
                state.waiting_on = None;
                state.since = None;
                state.writable_since = None;
                return Ok(take(apply, updating(true, "Failed", message)));
            }
            return Ok(take(
                apply,
                updating(
                    true,
                    "WaitReplica",
                    format!("Waiting for {site} to replicate after its update"),
                ),
            ));
        }
        state.waiting_on = None;
        state.since = None;
        state.writable_since = None;
    }
    if drifted.is_empty() {
        return Ok(take(apply, idle()));
    }
    let Some(view) = view.filter(|v| !v.active_site.is_empty()) else {
        return Ok(take(
            apply,
            updating(true, "UpdateReplica", "Update held: no active site".into()),
        ));
    };
    // Followers first, one at a time, each read-only before its restart.
    let state_of = |site: &str| {
        view.sites
            .iter()
            .find(|(n, _)| n == site)
            .map(|(_, s)| s.as_str())
            .unwrap_or("unknown")
    };
    if let Some(&i) = drifted
        .iter()
        .find(|&&i| sites[i] != view.active_site && state_of(&sites[i]) == "read-only")
    {
        apply[i] = true;
        state.waiting_on = Some(sites[i].clone());
        state.since = Some(Instant::now());
        state.writable_since = None;
        return Ok(take(
            apply,
            updating(true, "UpdateReplica", format!("Updating {}", sites[i])),
        ));
    }
    if drifted.iter().any(|&i| sites[i] != view.active_site) {
        return Ok(take(
            apply,
            updating(
                true,
                "UpdateReplica",
                "Update held: a drifted follower is not read-only".into(),
            ),
        ));
    }
    // Only the active site is left: the handoff is a planned switchover.
    Ok(take(
        apply,
        updating(
            true,
            "Failover",
            format!(
                "Followers updated; {} is updated once a planned switchover moves the writer (annotate bloodraven.shipstream.io/planned-failover=<site>)",
                view.active_site
            ),
        ),
    ))
}
