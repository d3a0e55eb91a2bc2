//! Ordered update (spec §3.9): a pod-template change (image, resources, ...) reaches the
//! followers one at a time, each waited for (rollout complete, then read-only and
//! replicating again) before the next; the active site's Deployment is held back until a
//! planned switchover has moved the writer away, after which it is updated as a follower.
//! `Recreate` applies every Deployment at once.
//!
//! The switchover itself is the topology manager's: in phase `Failover` this module asks
//! it (through the registry) to move the writer off the active site by a planned failover
//! (`triggeredBy: OrderedUpdate`). Once another site is active, the old primary is updated
//! (`UpdateOldPrimary`, `WaitOldPrimary`) and the update ends `Complete`.
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
    /// The active site the handoff moves the writer off: updated last, as the old primary.
    pub old_primary: Option<String>,
    /// The last update finished (`Updating=False` reason `Complete`) and no drift since.
    pub completed: bool,
}

/// What to apply this pass and the `Updating` condition.
pub struct Plan {
    pub deployments: Vec<Deployment>,
    pub condition: ReportedCondition,
    /// Phase `Failover`: the active site the writer must leave (the manager's handoff).
    pub handoff: Option<String>,
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

/// Whether `site` was the source of a completed handoff (status survives a restart).
fn handed_off(group: &MysqlFailoverGroup, site: &str) -> bool {
    group
        .status
        .as_ref()
        .and_then(|s| s.planned_failover.as_ref())
        .is_some_and(|p| {
            p.triggered_by.as_deref() == Some(crate::crd::TRIGGERED_BY_ORDERED_UPDATE)
                && p.phase == crate::crd::PlannedPhase::Succeeded
                && p.source_primary == site
        })
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
    let idle = |completed: bool| match completed {
        true => updating(
            false,
            "Complete",
            "Ordered update complete: every site runs the desired pod template".into(),
        ),
        false => updating(false, "NotUpdating", "No update in progress".into()),
    };
    if group.spec.update_strategy == UpdateStrategy::Recreate {
        state.waiting_on = None;
        return Ok(Plan {
            deployments: desired,
            condition: idle(false),
            handoff: None,
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
        handoff: None,
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
        let old_primary = state.old_primary.as_deref() == Some(site.as_str());
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
                    if old_primary {
                        "WaitOldPrimary"
                    } else {
                        "WaitReplica"
                    },
                    format!("Waiting for {site} to replicate after its update"),
                ),
            ));
        }
        state.waiting_on = None;
        state.since = None;
        state.writable_since = None;
        if old_primary {
            state.old_primary = None;
            state.completed = true;
        }
    }
    if drifted.is_empty() {
        return Ok(take(apply, idle(state.completed)));
    }
    state.completed = false;
    // The handoff moving the writer off the old primary is in flight: no active site for
    // a moment, or still the old one.
    if let Some(old) = state.old_primary.clone() {
        let moving = view.is_none_or(|v| v.active_site.is_empty() || v.active_site == old);
        if moving && drifted.iter().all(|&i| sites[i] == old) {
            let mut plan = take(
                apply,
                updating(
                    true,
                    "Failover",
                    format!(
                        "Followers updated; a planned switchover is moving the writer off {old}"
                    ),
                ),
            );
            plan.handoff = view.filter(|v| v.active_site == old).map(|_| old.clone());
            return Ok(plan);
        }
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
    // The old primary goes last, after every other follower.
    let is_old = |site: &str| state.old_primary.as_deref() == Some(site) || handed_off(group, site);
    let mut followers: Vec<usize> = drifted
        .iter()
        .copied()
        .filter(|&i| sites[i] != view.active_site && state_of(&sites[i]) == "read-only")
        .collect();
    followers.sort_by_key(|&i| is_old(&sites[i]));
    if let Some(&i) = followers.first() {
        let old = is_old(&sites[i]);
        if old {
            state.old_primary = Some(sites[i].clone());
        }
        apply[i] = true;
        state.waiting_on = Some(sites[i].clone());
        state.since = Some(Instant::now());
        state.writable_since = None;
        return Ok(take(
            apply,
            updating(
                true,
                if old {
                    "UpdateOldPrimary"
                } else {
                    "UpdateReplica"
                },
                format!("Updating {}", sites[i]),
            ),
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
    // Only the active site is left: the manager hands the writer off by a planned
    // switchover, then it is updated as the old primary.
    let active = view.active_site.clone();
    state.old_primary = Some(active.clone());
    let mut plan = take(
        apply,
        updating(
            true,
            "Failover",
            format!("Followers updated; a planned switchover moves the writer off {active} before its update"),
        ),
    );
    plan.handoff = Some(active);
    Ok(plan)
}
