//! The ordered update's handoff (spec §3.9). Once every follower runs the new pod
//! template, the group reconciler asks, through the registry, for the writer to leave the
//! active site so its Deployment can be updated as a follower. The manager runs that as a
//! planned failover (fence, drain, wait until the target holds every transaction of the
//! fenced source, promote: no acknowledged write is lost) to the best healthy standby,
//! marked `triggeredBy: OrderedUpdate`. The anti-flap cooldown does not gate it (§3.11),
//! but it is recorded like every promotion and counted in `failovers_total`.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use super::planned::elapsed;
use super::{fmt_stamp, Manager, Recovery};
use crate::crd::{PlannedFailoverStatus, PlannedPhase, SiteRole, TRIGGERED_BY_ORDERED_UPDATE};
use crate::duration;
use crate::topology::site_state::SiteState;

/// A failed handoff (rolled back, the old writer writable again) is retried this long after.
pub const HANDOFF_RETRY: Duration = Duration::from_secs(30);
const HELD_LOG_EVERY: Duration = Duration::from_secs(30);

/// Whether `p` is the ordered update's handoff rather than an annotated planned failover.
pub(super) fn is_handoff(p: &PlannedFailoverStatus) -> bool {
    p.triggered_by.as_deref() == Some(TRIGGERED_BY_ORDERED_UPDATE)
}

impl Manager {
    /// `status.updatePhase` as the group reconciler reports it (None: no update running).
    pub(super) fn update_phase(&self) -> Option<String> {
        self.registry
            .reported_conditions(&self.api.namespace, &self.api.name)
            .into_iter()
            .find(|c| c.type_ == "Updating" && c.status)
            .map(|c| c.reason)
    }

    /// Starts the handoff when the reconciler asks for it, the writer is still on the
    /// site it names, and no other day-2 operation runs. Called with no planned failover
    /// in flight and no planned-failover annotation present.
    pub(super) async fn update_handoff_poll(&mut self) {
        let Some(from) = self
            .registry
            .handoff_request(&self.api.namespace, &self.api.name)
        else {
            return;
        };
        let Some(active) = self.active_site() else {
            return;
        };
        if self.sites[active].spec.name != from
            || self.bootstrap.job.is_some()
            || self.reclone_running.is_some()
        {
            return; // already moved, or a clone is running
        }
        let now = self.seams.clock.now();
        if let Some(p) = self.planned.as_ref().filter(|p| is_handoff(p)) {
            if p.phase == PlannedPhase::Failed
                && elapsed(p.completion_time.as_deref(), now) < HANDOFF_RETRY
            {
                return;
            }
        }
        let Some(target) = self.handoff_target(active) else {
            let due = self
                .handoff_held_log
                .is_none_or(|t| t.elapsed() >= HELD_LOG_EVERY);
            if due {
                self.handoff_held_log = Some(Instant::now());
                warn!(source = %from, "ordered update handoff held: no healthy primary-candidate standby (read-only, replicating, not blocked)");
            }
            return;
        };
        let (max_lag_wait, drain_timeout) = (
            self.cfg.planned_max_lag_wait,
            self.cfg.planned_drain_timeout,
        );
        info!(source = %from, target = %target, "ordered update handoff: planned switchover started");
        self.planned = Some(PlannedFailoverStatus {
            phase: PlannedPhase::Pending,
            target_site: target.clone(),
            source_primary: from.clone(),
            start_time: Some(fmt_stamp(now)),
            max_lag_wait: Some(duration::format(max_lag_wait)),
            drain_timeout: Some(duration::format(drain_timeout)),
            triggered_by: Some(TRIGGERED_BY_ORDERED_UPDATE.into()),
            ..Default::default()
        });
        self.planned_event(
            false,
            "PlannedFailoverStarted",
            &format!(
                "ordered update: planned failover from {from} to {target} started so {from} can be updated (maxLagWait {}, drainTimeout {})",
                duration::format(max_lag_wait),
                duration::format(drain_timeout)
            ),
        );
    }

    /// The standby the writer moves to: a primary-candidate that is read-only, replicating
    /// (the debounced streak, issue #46), not blocked by divergence and not being cloned;
    /// the first in `sitePriorities` order, then in declared order.
    fn handoff_target(&self, active: usize) -> Option<String> {
        let healthy = |i: usize| {
            let s = &self.sites[i];
            i != active
                && s.spec.role == SiteRole::PrimaryCandidate
                && s.deb.state == SiteState::ReadOnly
                && s.replicating()
                && s.recovery == Recovery::None
                && !self.recloning(&s.spec.name)
        };
        let by_priority = self
            .cfg
            .site_priorities
            .iter()
            .filter_map(|p| self.site_index(p));
        by_priority
            .chain(0..self.sites.len())
            .find(|&i| healthy(i))
            .map(|i| self.sites[i].spec.name.clone())
    }
}
