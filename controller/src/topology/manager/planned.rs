//! Planned failover (spec §4): the annotation is accepted or rejected, then the phase
//! machine advances one phase per poll, Pending → Validating → Draining → WaitingForLag →
//! [WaitingForDragonflySync → PromotingDragonfly] → Promoting → Resuming → Succeeded (or
//! Failed, or Deferred by the cooldown). The Dragonfly phases are in `planned_dragonfly`.
//!
//! Crash safety: everything the machine needs lives in `status.plannedFailover`, and the
//! two mutating phases (Draining's fence, Promoting) act only once the status write showing
//! that phase has succeeded, so a restarted controller always finds the fence (or the
//! promotion) it may have done recorded as possible, and redoes it idempotently.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{fmt_stamp, parse_stamp, Manager, PendingEvent, Recovery, PROBE_TIMEOUT};
use crate::annotations::{PlannedRequest, PLANNED_FAILOVER};
use crate::crd::{OnCooldown, PlannedFailoverStatus, PlannedPhase, SiteRole};
use crate::duration;
use crate::gtid::GtidSet;
use crate::topology::site_state::SiteState;

/// Why a request cannot go ahead: a `Failed` reason of §4.6 and a message naming the problem.
pub(super) struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

fn refuse(reason: &'static str, message: String) -> Refusal {
    Refusal { reason, message }
}

impl Manager {
    /// The per-poll hook. `annotations` is None when the object could not be read. Returns
    /// whether a planned failover is in flight (the guard that pauses the emergency
    /// evaluator, recovery, re-assert and DNS healing).
    pub(super) async fn planned_poll(
        &mut self,
        annotations: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let raw = annotations.and_then(|a| a.get(PLANNED_FAILOVER)).cloned();
        if annotations.is_some() && raw.is_none() {
            self.planned_consumed = None;
        }
        let phase = self.planned.as_ref().map(|p| p.phase);
        match (phase, raw) {
            (_, Some(raw)) if self.planned_consumed.as_deref() == Some(raw.as_str()) => {
                // Already handled; only its removal failed.
                self.planned_remove_annotation(&raw).await;
                if phase.is_some_and(PlannedPhase::in_flight) {
                    self.planned_step().await;
                }
            }
            (Some(p), raw) if p.in_flight() => {
                if let Some(raw) = raw {
                    self.planned_ignore_concurrent(&raw).await;
                }
                self.planned_step().await;
            }
            (Some(PlannedPhase::Deferred), None) if annotations.is_some() => {
                self.planned_fail(
                    "Cancelled",
                    "the planned-failover annotation was removed while deferred".into(),
                    "failed_other",
                )
                .await;
            }
            (Some(PlannedPhase::Deferred), None) => {}
            (_, Some(raw)) => self.planned_accept(&raw).await,
            (_, None) if annotations.is_some() => self.update_handoff_poll().await,
            (_, None) => {}
        }
        self.planned_in_flight()
    }

    pub(super) fn planned_in_flight(&self) -> bool {
        self.planned.as_ref().is_some_and(|p| p.phase.in_flight())
    }

    /// The phase last written to the apiserver.
    pub(super) fn planned_persisted_phase(&self) -> Option<PlannedPhase> {
        self.last_written
            .as_ref()
            .and_then(|s| s.planned_failover.as_ref())
            .map(|p| p.phase)
    }

    /// Queues an Event; `write_status` sends it once the status showing the step it
    /// reports is on the apiserver, so no Event ever announces a phase that a restarted
    /// controller would not find recorded (like the emergency path's Events).
    pub(super) fn planned_event(&mut self, warning: bool, reason: &'static str, message: &str) {
        self.pending_events.push(PendingEvent {
            warning,
            reason,
            message: message.to_string(),
        });
    }

    async fn planned_remove_annotation(&mut self, raw: &str) {
        match self.api.remove_annotation(PLANNED_FAILOVER).await {
            Ok(()) => self.planned_consumed = None,
            Err(e) => {
                warn!(error = %e, "removing the planned-failover annotation failed; retrying next poll");
                self.planned_consumed = Some(raw.to_string());
            }
        }
    }

    /// Accept, reject or defer a new request (spec §4.4).
    async fn planned_accept(&mut self, raw: &str) {
        let req = match PlannedRequest::parse(raw) {
            Ok(r) => r,
            Err(e) => {
                self.planned_reject(raw, String::new(), "InvalidAnnotation", e.to_string())
                    .await;
                return;
            }
        };
        let source = match self.planned_validate(&req.site, false) {
            Ok(source) => source,
            Err(r)
                if r.reason == "CooldownActive"
                    && self.cfg.planned_on_cooldown == OnCooldown::Defer =>
            {
                self.planned_defer(&req.site, r.message).await;
                return;
            }
            Err(r) => {
                self.planned_reject(raw, req.site.clone(), r.reason, r.message)
                    .await;
                return;
            }
        };
        let now = fmt_stamp(self.seams.clock.now());
        let max_lag_wait = req.max_lag_wait.unwrap_or(self.cfg.planned_max_lag_wait);
        let drain_timeout = req.drain_timeout.unwrap_or(self.cfg.planned_drain_timeout);
        let source_name = self.sites[source].spec.name.clone();
        info!(target = %req.site, source = %source_name, "planned failover accepted");
        self.planned = Some(PlannedFailoverStatus {
            phase: PlannedPhase::Pending,
            target_site: req.site.clone(),
            source_primary: source_name.clone(),
            start_time: Some(now),
            max_lag_wait: Some(duration::format(max_lag_wait)),
            drain_timeout: Some(duration::format(drain_timeout)),
            ..Default::default()
        });
        self.planned_remove_annotation(raw).await;
        self.planned_event(
            false,
            "PlannedFailoverStarted",
            &format!(
                "planned failover from {source_name} to {} started (maxLagWait {}, drainTimeout {})",
                req.site,
                duration::format(max_lag_wait),
                duration::format(drain_timeout)
            ),
        );
    }

    async fn planned_reject(
        &mut self,
        raw: &str,
        target: String,
        reason: &'static str,
        message: String,
    ) {
        warn!(target = %target, reason, detail = %message, "planned failover rejected");
        let now = self.seams.clock.now();
        self.planned = Some(PlannedFailoverStatus {
            phase: PlannedPhase::Failed,
            target_site: target.clone(),
            reason: Some(reason.into()),
            message: Some(message.clone()),
            completion_time: Some(fmt_stamp(now)),
            ..Default::default()
        });
        self.registry
            .metrics()
            .planned_failover(&target, "rejected");
        self.planned_remove_annotation(raw).await;
        self.planned_event(
            true,
            "PlannedFailoverRejected",
            &format!("planned failover rejected ({reason}): {message}"),
        );
    }

    /// `onCooldown: defer`: wait for the cooldown with the annotation kept; re-checked
    /// every poll, so the request starts on the first poll after the cooldown.
    async fn planned_defer(&mut self, target: &str, message: String) {
        let already = self
            .planned
            .as_ref()
            .is_some_and(|p| p.phase == PlannedPhase::Deferred && p.target_site == target);
        let retry_after = self.in_cooldown().map(fmt_stamp);
        self.planned = Some(PlannedFailoverStatus {
            phase: PlannedPhase::Deferred,
            target_site: target.to_string(),
            retry_after: retry_after.clone(),
            reason: Some("CooldownActive".into()),
            message: Some(message.clone()),
            ..Default::default()
        });
        if !already {
            info!(target, retry_after = ?retry_after, "planned failover deferred by the failover cooldown");
            self.planned_event(
                false,
                "PlannedFailoverDeferred",
                &format!("planned failover to {target} deferred: {message}"),
            );
        }
    }

    /// A second request while one runs is removed with a Warning; the running one goes on.
    async fn planned_ignore_concurrent(&mut self, raw: &str) {
        let current = self.planned.clone().unwrap_or_default();
        let same = PlannedRequest::parse(raw).is_ok_and(|r| r.site == current.target_site);
        self.planned_remove_annotation(raw).await;
        if same {
            return; // our own request, whose removal had failed
        }
        warn!(annotation = %raw, "planned failover already in progress; annotation removed");
        self.registry.metrics().planned_failover(
            &PlannedRequest::parse(raw)
                .map(|r| r.site)
                .unwrap_or_default(),
            "rejected",
        );
        self.planned_event(
            true,
            "PlannedFailoverRejected",
            &format!(
                "planned failover rejected (ConcurrentOperation): a planned failover to {} is in progress (phase {:?}); annotation {raw:?} removed",
                current.target_site, current.phase
            ),
        );
    }

    /// The checks of §4.3 in order; Ok is the index of the source (the active primary).
    /// `handoff`: the ordered update's own switchover, which an update in progress does
    /// not refuse and the anti-flap cooldown does not gate (§3.9, §3.11).
    pub(super) fn planned_validate(&self, target: &str, handoff: bool) -> Result<usize, Refusal> {
        let names = || {
            self.sites
                .iter()
                .map(|s| s.spec.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some(ti) = self.site_index(target) else {
            return Err(refuse(
                "UnknownSite",
                format!(
                    "site {target:?} is not a site of this group (sites: {})",
                    names()
                ),
            ));
        };
        let site = &self.sites[ti];
        if site.spec.role != SiteRole::PrimaryCandidate {
            return Err(refuse(
                "UnknownSite",
                format!(
                    "site {target} has role {}: only primary-candidate sites may be promoted",
                    site.spec.role.as_str()
                ),
            ));
        }
        let active = self.active_site();
        if active == Some(ti) {
            return Err(refuse(
                "AlreadyActive",
                format!("site {target} is already the active primary"),
            ));
        }
        if let Recovery::Blocked { divergent } = &site.recovery {
            return Err(refuse(
                "TargetUnhealthy",
                format!(
                    "target {target} has {} divergent transactions ({divergent}) the active primary lacks: reclone it before promoting it",
                    divergent.count()
                ),
            ));
        }
        if self.recloning(target) {
            return Err(refuse(
                "ConcurrentOperation",
                format!("target {target} is being recloned"),
            ));
        }
        if site.deb.state != SiteState::ReadOnly || !site.replicating() {
            return Err(refuse(
                "TargetUnhealthy",
                format!(
                    "target {target} is {}{}: it must be a read-only replica with healthy replication",
                    site.deb.state.as_str(),
                    if site.deb.state == SiteState::ReadOnly { " and not replicating" } else { "" }
                ),
            ));
        }
        let Some(source) = active else {
            return Err(refuse(
                "SourceCrashed",
                "no writable active primary to switch over from".into(),
            ));
        };
        if !handoff {
            if let Some(phase) = self.update_phase() {
                return Err(refuse(
                    "ConcurrentOperation",
                    format!("an ordered update is in progress (updatePhase {phase}); it moves the writer itself"),
                ));
            }
        }
        if let Some(until) = self.in_cooldown().filter(|_| !handoff) {
            return Err(refuse(
                "CooldownActive",
                format!(
                    "inside the failover cooldown; retry after {}",
                    fmt_stamp(until)
                ),
            ));
        }
        Ok(source)
    }

    /// Ends the operation as Failed (after acceptance), with its Event and counter.
    async fn planned_fail(&mut self, reason: &'static str, message: String, result: &str) {
        let now = self.seams.clock.now();
        let mut p = self.planned.clone().unwrap_or_default();
        warn!(target = %p.target_site, reason, detail = %message, "planned failover failed");
        p.phase = PlannedPhase::Failed;
        p.reason = Some(reason.into());
        p.message = Some(message.clone());
        p.completion_time = Some(fmt_stamp(now));
        p.duration_seconds = since(p.start_time.as_deref(), now);
        p.retry_after = None;
        self.registry
            .metrics()
            .planned_failover(&p.target_site, result);
        self.planned = Some(p);
        self.planned_event(
            true,
            "PlannedFailoverFailed",
            &format!("planned failover failed ({reason}): {message}"),
        );
    }

    pub(super) fn planned_set(&mut self, f: impl FnOnce(&mut PlannedFailoverStatus)) {
        if let Some(p) = self.planned.as_mut() {
            f(p);
        }
    }

    /// Advances an in-flight operation by one phase.
    async fn planned_step(&mut self) {
        let Some(p) = self.planned.clone() else {
            return;
        };
        match p.phase {
            PlannedPhase::Pending => self.planned_set(|p| p.phase = PlannedPhase::Validating),
            PlannedPhase::Validating => self.planned_validating(&p).await,
            PlannedPhase::Draining => self.planned_draining(&p).await,
            PlannedPhase::WaitingForLag => self.planned_waiting_for_lag(&p).await,
            PlannedPhase::WaitingForDragonflySync => self.planned_dragonfly_sync(&p).await,
            PlannedPhase::PromotingDragonfly => self.planned_promoting_dragonfly(&p).await,
            PlannedPhase::Promoting => self.planned_promoting(&p).await,
            PlannedPhase::Resuming => self.planned_resuming(&p).await,
            PlannedPhase::Succeeded | PlannedPhase::Failed | PlannedPhase::Deferred => {}
        }
    }

    async fn planned_validating(&mut self, p: &PlannedFailoverStatus) {
        // A restarted manager has not yet observed the sites: wait rather than judge.
        if self.sites.iter().any(|s| s.deb.state == SiteState::Unknown) {
            return;
        }
        let handoff = super::update_handoff::is_handoff(p);
        match self.planned_validate(&p.target_site, handoff) {
            Ok(source) => {
                let source = self.sites[source].spec.name.clone();
                self.planned_set(|p| {
                    p.phase = PlannedPhase::Draining;
                    p.source_primary = source;
                });
            }
            Err(r) => self.planned_fail(r.reason, r.message, "failed_other").await,
        }
    }

    /// Fence the source, stamp its GTID set, then kill application sessions once a poll
    /// until none is left or drainTimeout is spent.
    async fn planned_draining(&mut self, p: &PlannedFailoverStatus) {
        if self.planned_persisted_phase() != Some(PlannedPhase::Draining) {
            return; // fence only once a restart would know it may have happened
        }
        let source = p.source_primary.clone();
        let now = self.seams.clock.now();
        if p.source_gtid_at_fence.is_none() {
            let fenced = async {
                let mut s = self.session(&source, PROBE_TIMEOUT).await?;
                s.fence().await?;
                match s.gtid_executed().await {
                    Ok(g) => Ok(g),
                    Err(e) => {
                        let _ = s.unfence().await;
                        Err(e)
                    }
                }
            };
            match tokio::time::timeout(PROBE_TIMEOUT * 2, fenced).await {
                Ok(Ok(g)) => {
                    info!(source = %source, gtid = %g, "planned failover: source fenced");
                    self.planned_set(|p| {
                        p.source_gtid_at_fence = Some(g.to_string());
                        p.drain_start_time = Some(fmt_stamp(now));
                    });
                    self.planned_event(
                        false,
                        "PlannedFailoverDraining",
                        &format!("fenced {source} at GTID {g}; draining application connections"),
                    );
                }
                other => {
                    let e = match other {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".into(),
                    };
                    self.planned_fail(
                        "SourceCrashed",
                        format!("fencing source {source} and reading its GTID set failed: {e}"),
                        "failed_other",
                    )
                    .await;
                }
            }
            return;
        }
        let budget = p
            .drain_timeout
            .as_deref()
            .and_then(|d| duration::parse(d).ok())
            .unwrap_or(self.cfg.planned_drain_timeout);
        let spent = elapsed(p.drain_start_time.as_deref(), now) >= budget;
        let killed = async {
            let mut s = self.session(&source, PROBE_TIMEOUT).await?;
            s.fence().await?; // idempotent; keeps the fence if something lifted it
            s.kill_app_connections().await
        };
        let done = match tokio::time::timeout(PROBE_TIMEOUT * 2, killed).await {
            Ok(Ok(0)) => true,
            Ok(Ok(n)) => {
                info!(source = %source, killed = n, "planned failover: killed application connections");
                false
            }
            // The source is fenced and its GTID set is stamped: an unreachable source
            // cannot take writes, so waiting on it buys nothing.
            other => {
                warn!(source = %source, result = ?other.map(|r| r.map_err(|e| e.to_string())).ok(), "planned failover: draining the source failed; moving on");
                true
            }
        };
        if done || spent {
            self.planned_set(|p| {
                p.phase = PlannedPhase::WaitingForLag;
                p.lag_wait_start_time = Some(fmt_stamp(now));
            });
        }
    }

    /// Wait until the target has executed everything the fenced source had.
    async fn planned_waiting_for_lag(&mut self, p: &PlannedFailoverStatus) {
        let now = self.seams.clock.now();
        let fence = match GtidSet::parse(p.source_gtid_at_fence.as_deref().unwrap_or_default()) {
            Ok(g) => g,
            Err(e) => {
                self.planned_rollback(
                    "InvalidGTID",
                    format!("sourceGtidAtFence: {e}"),
                    "failed_other",
                )
                .await;
                return;
            }
        };
        let target = p.target_site.clone();
        let read = async {
            let mut s = self.session(&target, PROBE_TIMEOUT).await?;
            s.gtid_executed().await
        };
        let got = tokio::time::timeout(PROBE_TIMEOUT, read).await;
        if let Ok(Ok(g)) = &got {
            if g.is_superset_of(&fence)
                || self
                    .registry
                    .hooks()
                    .broken(crate::fault_hooks::Broken::SkipPlannedCatchUp)
            {
                let waited = elapsed(p.lag_wait_start_time.as_deref(), now);
                self.registry.metrics().observe(
                    crate::metrics::PLANNED_FAILOVER_LAG_WAIT,
                    &target,
                    waited.as_secs_f64(),
                );
                info!(target = %target, gtid = %g, waited_ms = waited.as_millis() as u64, "planned failover: target caught up");
                let g = g.to_string();
                let dragonfly = self.dragonfly.is_some();
                self.planned_set(|p| {
                    p.target_gtid_at_promotion = Some(g);
                    p.phase = if dragonfly {
                        p.dragonfly = Some(crate::dragonfly::PlannedDragonflyStatus {
                            enabled: true,
                            ..Default::default()
                        });
                        PlannedPhase::WaitingForDragonflySync
                    } else {
                        PlannedPhase::Promoting
                    };
                });
                self.planned_event(
                    false,
                    "PlannedFailoverLagOK",
                    &format!("{target} has applied every transaction of the fenced source"),
                );
                return;
            }
        }
        let budget = p
            .max_lag_wait
            .as_deref()
            .and_then(|d| duration::parse(d).ok())
            .unwrap_or(self.cfg.planned_max_lag_wait);
        if elapsed(p.lag_wait_start_time.as_deref(), now) >= budget {
            let why = match got {
                Ok(Ok(g)) => format!("it still lacks {}", fence.subtract(&g)),
                Ok(Err(e)) => format!("reading its GTID set failed: {e}"),
                Err(_) => "reading its GTID set timed out".into(),
            };
            self.planned_rollback(
                "LagTimeout",
                format!(
                    "target {target} did not catch up with the fenced source within maxLagWait {}: {why}",
                    duration::format(budget)
                ),
                "failed_timeout",
            )
            .await;
        }
    }

    /// Before the target is promoted: unfence the source again (best effort), then fail.
    pub(super) async fn planned_rollback(
        &mut self,
        reason: &'static str,
        message: String,
        result: &str,
    ) {
        let source = self
            .planned
            .as_ref()
            .map(|p| p.source_primary.clone())
            .unwrap_or_default();
        let unfence = async {
            let mut s = self.session(&source, PROBE_TIMEOUT).await?;
            s.unfence().await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), unfence).await {
            Ok(Ok(())) => {
                info!(source = %source, "planned failover rolled back: source writable again")
            }
            other => {
                warn!(source = %source, result = ?other.map(|r| r.map_err(|e| e.to_string())).ok(), "planned failover rollback could not unfence the source")
            }
        }
        self.planned_fail(reason, message, result).await;
    }

    /// Promote the target. The source is fenced again and its GTID set re-read first: if
    /// it moved (a rollback that a crash interrupted unfenced it), wait for lag again.
    async fn planned_promoting(&mut self, p: &PlannedFailoverStatus) {
        if self.planned_persisted_phase() != Some(PlannedPhase::Promoting) {
            return;
        }
        let (source, target) = (p.source_primary.clone(), p.target_site.clone());
        let recheck = async {
            let mut s = self.session(&source, PROBE_TIMEOUT).await?;
            s.fence().await?;
            let src = s.gtid_executed().await?;
            let mut t = self.session(&target, PROBE_TIMEOUT).await?;
            Ok::<_, crate::sql::SqlError>((src, t.gtid_executed().await?))
        };
        if let Ok(Ok((src, tgt))) = tokio::time::timeout(PROBE_TIMEOUT * 2, recheck).await {
            let skip = self
                .registry
                .hooks()
                .broken(crate::fault_hooks::Broken::SkipPlannedCatchUp);
            if !tgt.is_superset_of(&src) && !skip {
                warn!(source = %source, target = %target, missing = %src.subtract(&tgt), "planned failover: the source moved since its fence; waiting for lag again");
                let now = fmt_stamp(self.seams.clock.now());
                self.planned_set(|p| {
                    p.phase = PlannedPhase::WaitingForLag;
                    p.source_gtid_at_fence = Some(src.to_string());
                    p.lag_wait_start_time = Some(now);
                });
                return;
            }
        }
        match self.promote_site(&target, Some(&source)).await {
            Ok(()) => {
                if self.dns_failed {
                    self.planned_event(
                        true,
                        "PlannedFailoverDNSFailed",
                        &format!("{target} is the new primary but the DNS write failed; DNS is retried every poll"),
                    );
                }
                if super::update_handoff::is_handoff(p) {
                    // The handoff counts as a failover (spec §3.9), unlike an annotated one.
                    self.registry.metrics().failover(&target);
                }
                self.planned_set(|p| p.phase = PlannedPhase::Resuming);
            }
            Err(e) => {
                self.planned_fail(
                    "ExecuteFailed",
                    format!("promoting {target} failed: {e}"),
                    "failed_other",
                )
                .await
            }
        }
    }

    async fn planned_resuming(&mut self, p: &PlannedFailoverStatus) {
        // The crash point of a controller dying with Resuming recorded.
        self.registry.hooks().mutation("planned-complete").await;
        let now = self.seams.clock.now();
        let parse = |s: Option<&str>| GtidSet::parse(s.unwrap_or_default()).unwrap_or_default();
        let lost = parse(p.source_gtid_at_fence.as_deref())
            .subtract(&parse(p.target_gtid_at_promotion.as_deref()))
            .count();
        let secs = since(p.start_time.as_deref(), now);
        self.planned_set(|p| {
            p.phase = PlannedPhase::Succeeded;
            p.completion_time = Some(fmt_stamp(now));
            p.duration_seconds = secs;
            p.transactions_lost = Some(lost);
            p.reason = None;
            p.message = None;
        });
        self.registry
            .metrics()
            .planned_failover(&p.target_site, "success");
        self.registry.metrics().observe(
            crate::metrics::PLANNED_FAILOVER_DURATION,
            &p.target_site,
            elapsed(p.start_time.as_deref(), now).as_secs_f64(),
        );
        info!(target = %p.target_site, source = %p.source_primary, transactions_lost = lost, "planned failover complete");
        self.planned_event(
            false,
            "PlannedFailoverCompleted",
            &format!(
                "planned failover from {} to {} completed in {}s; {lost} transactions lost",
                p.source_primary,
                p.target_site,
                secs.unwrap_or(0)
            ),
        );
    }
}

pub(super) fn elapsed(from: Option<&str>, now: DateTime<Utc>) -> std::time::Duration {
    from.and_then(parse_stamp)
        .and_then(|t| (now - t).to_std().ok())
        .unwrap_or_default()
}

fn since(from: Option<&str>, now: DateTime<Utc>) -> Option<i64> {
    from.and_then(parse_stamp).map(|t| (now - t).num_seconds())
}
