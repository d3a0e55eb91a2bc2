//! The per-group topology manager (spec §3): probe every site each poll, debounce,
//! evaluate the cross-site matrix, promote, recover returning sites, converge followers,
//! heal DNS, and write status, annotations and Events.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::join_all;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::clock::SharedClock;
use crate::crd::{self, MysqlFailoverGroupStatus, SiteRole, SiteSpec, SiteStatus, TopologyConfig};
use crate::fault_hooks::Broken;
use crate::gtid::GtidSet;
use crate::sql::SharedSqlConnector;

use super::k8s::GroupApi;
use super::matrix::{self, CrossSite, Reason, SiteView};
use super::mysql_ops::{Probe, Session, PROBE_TIMEOUT};
use super::registry::{GroupView, Registry};
use super::site_state::{Debouncer, SiteState};
use super::status::{events_between, Conditions, PendingEvent};
use super::taint::{TaintOp, Tainter};

mod backup;
mod dragonfly;
mod errant;
mod planned;
mod planned_dragonfly;
mod reclone;
mod update_handoff;

/// Relay-log drain budget inside a promotion.
pub const DRAIN_BUDGET: Duration = Duration::from_secs(30);
/// How often a blocked or failed recovery is re-checked.
pub const RECOVERY_RETRY: Duration = Duration::from_secs(30);
/// Future anti-flap stamps are clamped to now + this grace.
pub const CLOCK_SKEW_GRACE: Duration = Duration::from_secs(300);
const LOG_RATE_LIMIT: Duration = Duration::from_secs(30);
/// How long `/active-site`, `/status` and DNS keep naming a just-promoted site that this
/// poll does not read writable (spec §3.5 `pendingPromotionActiveSiteTTL`): a promoted
/// primary briefly fenced (its sidecar's stale lease, a probe catching a restart) is not
/// reported as "no primary" to the sidecars that ask.
pub const PENDING_PROMOTION_TTL: Duration = Duration::from_secs(30);

/// What a topology manager needs from the outside world.
#[derive(Clone)]
pub struct Seams {
    pub kube: kube::Client,
    pub sql: SharedSqlConnector,
    pub clock: SharedClock,
    /// Plain TCP to the Dragonfly sidekicks (spec §7).
    pub dialer: crate::net::SharedDialer,
}

/// Replication credentials used for CHANGE REPLICATION SOURCE.
#[derive(Clone, Debug)]
pub struct ReplicationCredentials {
    pub user: String,
    pub password: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Recovery {
    #[default]
    None,
    InProgress,
    Blocked {
        divergent: GtidSet,
    },
}

struct Site {
    spec: SiteSpec,
    deb: Debouncer,
    probe: Option<Probe>,
    last_seen: Option<String>,
    replicating_streak: u32,
    recovery: Recovery,
    retry_after: Option<Instant>,
}

impl Site {
    fn host(&self, group: &str) -> String {
        crd::internal_service(group, &self.spec.name)
    }

    fn replicating(&self) -> bool {
        self.replicating_streak >= 2
    }
}

pub struct Manager {
    api: GroupApi,
    cfg: TopologyConfig,
    seams: Seams,
    creds: ReplicationCredentials,
    registry: Registry,
    generation: i64,
    sites: Vec<Site>,
    last_failover: Option<DateTime<Utc>>,
    last_failover_target: Option<String>,
    promotion_gtid: Option<String>,
    annotation_dirty: bool,
    last_written: Option<MysqlFailoverGroupStatus>,
    status_failed: bool,
    dns_last_applied: Option<String>,
    dns_failed: bool,
    last_writer: Option<String>,
    last_reason: Option<Reason>,
    last_cooldown_log: Option<Instant>,
    /// When the last primary re-assert was attempted (its own timer, §3.7).
    last_reassert: Option<Instant>,
    /// Consecutive polls in which no probe read a writable site. Re-assert waits for
    /// `recovery_threshold` of them: one probe can catch a sidecar's start-up safety net
    /// fencing the active site for a moment, which is no reason to unfence it again.
    no_writer_polls: u32,
    /// The last re-assert refusal logged, for rate limiting.
    last_reassert_refusal: Option<(String, Instant)>,
    tainter: Tainter,
    /// When a promotion blocked only by the cooldown becomes possible: the next poll
    /// happens then even if the adaptive interval has grown past it.
    cooldown_wake: Option<Instant>,
    bootstrap: super::bootstrap::AutoClone,
    /// `status.plannedFailover`: the planned failover in progress or the last one ended.
    planned: Option<crd::PlannedFailoverStatus>,
    /// A planned-failover annotation value already handled whose removal failed.
    planned_consumed: Option<String>,
    /// A reclone annotation value already handled whose removal failed.
    reclone_consumed: Option<String>,
    /// The accepted reclone annotation whose RecloneRequested event was sent.
    reclone_announced: Option<String>,
    reclone_running: Option<reclone::Reclone>,
    /// Day-2 Events waiting for the status write that records their step.
    pending_events: Vec<PendingEvent>,
    /// The Dragonfly sidekick's manager, when `spec.dragonfly.enabled`.
    dragonfly: Option<crate::dragonfly::DragonflyHandle>,
    /// What the Dragonfly loop follows: the MySQL active site and the planned-failover pause.
    dragonfly_view: dragonfly::SharedView,
    /// The last promoted site and when, until a later poll confirms it writable, another
    /// site becomes active, or [`PENDING_PROMOTION_TTL`] runs out.
    pending: Option<(String, Instant)>,
    /// The candidate of the emergency promotion running right now (relay drain,
    /// unfence, confirmation): reported by the `FailoverInProgress` condition.
    promoting: Option<String>,
    /// When "ordered update handoff held" was last logged (rate limit).
    handoff_held_log: Option<Instant>,
}

impl Manager {
    /// Builds a manager for `group`, rehydrating the anti-flap record and per-site
    /// recovery state from the object (status and annotations, the newer wins).
    pub fn new(
        api: GroupApi,
        cfg: TopologyConfig,
        seams: Seams,
        creds: ReplicationCredentials,
        registry: Registry,
        group: &crd::MysqlFailoverGroup,
    ) -> Self {
        let sites = cfg
            .sites
            .iter()
            .map(|s| Site {
                spec: s.clone(),
                deb: Debouncer::default(),
                probe: None,
                last_seen: None,
                replicating_streak: 0,
                recovery: Recovery::None,
                retry_after: None,
            })
            .collect();
        let tainter = Tainter::new(api.clone(), registry.metrics().clone());
        let mut m = Self {
            tainter,
            api,
            cfg,
            seams,
            creds,
            registry,
            generation: group.metadata.generation.unwrap_or(1),
            sites,
            last_failover: None,
            last_failover_target: None,
            promotion_gtid: None,
            annotation_dirty: false,
            last_written: None,
            status_failed: false,
            dns_last_applied: None,
            dns_failed: false,
            last_writer: None,
            last_reason: None,
            last_cooldown_log: None,
            last_reassert: None,
            no_writer_polls: 0,
            last_reassert_refusal: None,
            cooldown_wake: None,
            bootstrap: Default::default(),
            planned: None,
            planned_consumed: None,
            reclone_consumed: None,
            reclone_announced: None,
            reclone_running: None,
            pending_events: vec![],
            dragonfly: None,
            dragonfly_view: Default::default(),
            pending: None,
            promoting: None,
            handoff_held_log: None,
        };
        m.dragonfly = m.build_dragonfly(group);
        m.rehydrate(group);
        m
    }

    fn rehydrate(&mut self, group: &crd::MysqlFailoverGroup) {
        let now = self.seams.clock.now();
        let status = group.status.clone();
        let from_status = status.as_ref().and_then(|s| {
            let at = parse_stamp(s.last_failover.as_deref()?)?;
            Some((at, s.last_failover_target.clone().unwrap_or_default()))
        });
        let annotations = group.metadata.annotations.clone().unwrap_or_default();
        let from_annotation = match annotations.get(crd::ANNOTATION_LAST_FAILOVER) {
            Some(raw) => match parse_stamp(raw) {
                Some(at) => Some((
                    at,
                    annotations
                        .get(crd::ANNOTATION_LAST_FAILOVER_TARGET)
                        .cloned()
                        .unwrap_or_default(),
                )),
                None => {
                    error!(annotation = crd::ANNOTATION_LAST_FAILOVER, value = %raw, "corrupt anti-flap annotation, using status");
                    None
                }
            },
            None => None,
        };
        let chosen = match (from_status, from_annotation) {
            (Some(s), Some(a)) if a.0 > s.0 => {
                warn!(at = %fmt_stamp(a.0), target = %a.1, "restored lastFailover from out-of-band annotations");
                Some(a)
            }
            (Some(s), _) => {
                info!(at = %fmt_stamp(s.0), target = %s.1, "restored lastFailover from CR status");
                Some(s)
            }
            (None, Some(a)) => {
                warn!(at = %fmt_stamp(a.0), target = %a.1, "restored lastFailover from out-of-band annotations");
                Some(a)
            }
            (None, None) => None,
        };
        if let Some((mut at, target)) = chosen {
            let limit = now + chrono::Duration::from_std(CLOCK_SKEW_GRACE).expect("grace fits");
            if at > limit {
                warn!(at = %fmt_stamp(at), "lastFailover is in the future beyond the clock-skew grace; clamping");
                at = limit;
            }
            self.last_failover = Some(at);
            self.last_failover_target = (!target.is_empty()).then_some(target);
        }
        if let Some(st) = &status {
            self.promotion_gtid = st.promotion_gtid_executed.clone();
            self.planned = st.planned_failover.clone();
            if let Some(c) = st.conditions.iter().find(|c| c.type_ == "Bootstrapping") {
                self.bootstrap.rehydrate(&c.message);
            }
            for s in &st.sites {
                if let Some(site) = self.sites.iter_mut().find(|x| x.spec.name == s.name) {
                    site.recovery = match s.recovery_state.as_str() {
                        "RecoveryInProgress" => Recovery::InProgress,
                        "RecoveryBlocked" => Recovery::Blocked {
                            divergent: GtidSet::parse(&s.divergent_gtid).unwrap_or_default(),
                        },
                        _ => Recovery::None,
                    };
                }
            }
            self.last_written = Some(st.clone());
        }
    }

    /// Runs the poll loop forever.
    pub async fn run(mut self) {
        info!(group = %self.api.name, namespace = %self.api.namespace, sites = self.sites.len(), "topology manager started");
        let _dragonfly_loop = self.spawn_dragonfly_loop();
        loop {
            let started = Instant::now();
            let budget = !self.registry.hooks().broken(Broken::UnboundedApiCalls);
            super::k8s::within_poll(budget, self.poll()).await;
            let interval = self.interval();
            // The chaos harness's PLV oracle times poll completions from this line.
            debug!(target: "bloodraven::poll", interval_ms = interval.as_millis() as u64, "poll complete");
            let mut next = started + interval;
            if let Some(wake) = self.cooldown_wake.take() {
                next = next.min(wake.max(Instant::now()));
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// Adaptive interval: base · 2^min(k,4) when some site is k failures past the threshold, ≤30s.
    fn interval(&self) -> Duration {
        let max_fail = self
            .sites
            .iter()
            .map(|s| s.deb.fail_count)
            .max()
            .unwrap_or(0);
        let k = max_fail.saturating_sub(self.cfg.failure_threshold);
        if k == 0 {
            return self.cfg.poll_interval;
        }
        (self.cfg.poll_interval * 2u32.pow(k.min(4))).min(Duration::from_secs(30))
    }

    fn group(&self) -> &str {
        &self.api.name
    }

    fn site_index(&self, name: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.spec.name == name)
    }

    async fn session(
        &self,
        site: &str,
        timeout: Duration,
    ) -> Result<Session, crate::sql::SqlError> {
        Session::open(
            &*self.seams.sql,
            &crd::internal_service(self.group(), site),
            timeout,
        )
        .await
    }

    /// One poll cycle (spec §3.3).
    pub async fn poll(&mut self) {
        // 1. Probe every site in parallel, each bounded.
        let sql = self.seams.sql.clone();
        let hosts: Vec<String> = self.sites.iter().map(|s| s.host(self.group())).collect();
        let probes = join_all(hosts.iter().map(|h| {
            let sql = sql.clone();
            async move {
                tokio::time::timeout(PROBE_TIMEOUT, async {
                    let mut s = Session::open(&*sql, h, PROBE_TIMEOUT).await?;
                    s.probe().await
                })
                .await
                .unwrap_or_else(|_| {
                    Err(crate::sql::SqlError::transport(format!(
                        "{h}: probe timed out"
                    )))
                })
            }
        }))
        .await;

        let any_writer = probes
            .iter()
            .any(|p| p.as_ref().is_ok_and(|p| !p.read_only));
        self.no_writer_polls = if any_writer {
            0
        } else {
            self.no_writer_polls + 1
        };

        // 2. Debounce and log transitions.
        let now_wall = self.seams.clock.now();
        let (mut ft, rt) = (self.cfg.failure_threshold, self.cfg.recovery_threshold);
        if self.registry.hooks().broken(Broken::NoDebounce) {
            ft = 1;
        }
        let mut transitions = vec![];
        for (i, (site, probe)) in self.sites.iter_mut().zip(probes).enumerate() {
            let obs = probe.as_ref().ok().map(|p| p.read_only);
            let promotable = site.spec.role.is_promotable();
            if let Some((from, to)) = site.deb.observe(obs, ft, rt, promotable) {
                site.last_seen = Some(fmt_stamp(now_wall));
                transitions.push((i, from, to));
            }
            match probe {
                Ok(p) => {
                    let healthy = p.read_only && p.replica.as_ref().is_some_and(|r| r.healthy());
                    site.replicating_streak = if healthy {
                        site.replicating_streak + 1
                    } else {
                        0
                    };
                    site.probe = Some(p);
                }
                Err(e) => {
                    if site.deb.fail_count == 1 {
                        warn!(site = %site.spec.name, error = %e, "probe failed");
                    }
                    site.replicating_streak = 0;
                    site.probe = None;
                }
            }
            if site.deb.state == SiteState::Writable && site.spec.role.is_promotable() {
                self.last_writer = Some(site.spec.name.clone());
            }
        }
        for (i, from, to) in transitions {
            self.on_transition(i, from, to);
        }
        self.settle_pending();

        // Publish the debounced view before any mutation: a promotion can take seconds, and
        // sidecars must not keep learning a primary this poll already saw as lost.
        self.publish();

        // 3-5. Cross-site evaluation, level-triggered every poll.
        let views: Vec<SiteView> = self
            .sites
            .iter()
            .map(|s| SiteView {
                name: s.spec.name.clone(),
                role: s.spec.role,
                state: s.deb.state,
            })
            .collect();
        let cs = matrix::evaluate(&views, &self.cfg.site_priorities);
        if Some(cs.reason) != self.last_reason && !cs.alert.is_empty() {
            warn!(alert = %cs.alert, "ALERT {}", cs.alert);
        }
        self.last_reason = Some(cs.reason);

        // Day-2 operations asked for by annotation (§4, §5). A planned failover in flight
        // pauses the emergency evaluator, recovery, re-assert and DNS healing.
        let group = self.api.get().await.ok();
        let annotations = group
            .as_ref()
            .map(|g| g.metadata.annotations.clone().unwrap_or_default());
        let planned_in_flight = self.planned_poll(annotations.as_ref()).await;

        if !planned_in_flight {
            let seeded = self.fresh_deploy().await;
            self.fence_non_candidates(&cs).await;
            if seeded {
                // The seed is the only writer now: nothing to resolve or promote.
            } else if cs.split_brain {
                self.resolve_split_brain(&views).await;
            } else if !cs.promotion_candidates.is_empty() {
                self.try_promote(&cs).await;
            }

            // 7. Recovery and convergence of followers, re-assert, then DNS.
            self.converge_followers().await;
            self.check_primary_reassert().await;
            self.reconcile_dns().await;
            self.reclone_poll(annotations.as_ref()).await;
        }

        // 8. Auto-clone of an empty follower.
        self.auto_clone().await;
        if let Some(spec) = group.as_ref().and_then(|g| g.spec.backup.as_ref()) {
            self.backup_poll(spec).await;
        }

        // 9-10. Durable record retry, status, events, registry.
        if self.annotation_dirty {
            self.write_annotations().await;
        }
        self.write_status(&cs).await;
        self.update_gauges();
        self.publish();
        self.update_dragonfly_view(planned_in_flight);
    }

    /// Per-site gauges (spec §8.3): one-hot state and divergent transaction count.
    fn update_gauges(&self) {
        let m = self.registry.metrics();
        for s in &self.sites {
            m.set_site_state(
                &self.api.namespace,
                &self.api.name,
                &s.spec.name,
                s.spec.role.as_str(),
                s.deb.state.as_str(),
            );
            let n = match &s.recovery {
                Recovery::Blocked { divergent } => divergent.count(),
                _ => 0,
            };
            m.set_divergent_transactions(&s.spec.name, n);
        }
        for (i, s) in self.sites.iter().enumerate() {
            let replica = s.probe.as_ref().and_then(|p| p.replica.as_ref());
            let source_state = self.convergence(i).map(|(st, _)| match st {
                "Converged" => "converged",
                "Blocked" => "blocked",
                _ => "pending",
            });
            m.set_replication(
                crate::metrics::SiteLabels {
                    namespace: &self.api.namespace,
                    group: &self.api.name,
                    site: &s.spec.name,
                    role: s.spec.role.as_str(),
                },
                crate::metrics::ReplicationSample {
                    lag: replica.and_then(|r| r.seconds_behind_source),
                    io: replica.is_some_and(|r| r.io_running),
                    sql: replica.is_some_and(|r| r.sql_running),
                    source_state,
                },
            );
        }
    }

    /// Side effects of a debounced state change (spec §3.1): log, count, taint.
    fn on_transition(&mut self, i: usize, from: SiteState, to: SiteState) {
        let keep_taint = self.registry.hooks().broken(Broken::SkipUntaint);
        let site = &mut self.sites[i];
        info!(site = %site.spec.name, from = from.as_str(), to = to.as_str(), "state transition");
        if to != SiteState::ReadOnly {
            site.replicating_streak = 0;
        }
        self.registry
            .metrics()
            .state_transition(&site.spec.name, from.as_str(), to.as_str());
        // Taints follow transitions only; readers are never tainted.
        if site.spec.role != SiteRole::ReadOnly {
            let demoted = matches!(from, SiteState::Writable | SiteState::Unknown)
                && matches!(to, SiteState::ReadOnly | SiteState::Unreachable);
            let promoted = to == SiteState::Writable && !keep_taint;
            if demoted || promoted {
                let op = TaintOp {
                    site: site.spec.name.clone(),
                    selector: site.spec.taint_node_selector.clone(),
                    present: demoted,
                };
                self.tainter.submit(op);
            }
        }
    }

    /// Sets a site's state from a confirmed action (promotion, re-assert, fence) rather
    /// than a probe; a change has the same side effects as a debounced transition.
    fn set_state(&mut self, i: usize, to: SiteState) {
        let from = self.sites[i].deb.state;
        if to == SiteState::Writable {
            self.sites[i].deb.force_writable();
        } else {
            self.sites[i].deb.state = to;
        }
        if from != to {
            self.on_transition(i, from, to);
        }
    }

    async fn fence_non_candidates(&mut self, cs: &CrossSite) {
        for name in &cs.fence_sites {
            match self.session(name, PROBE_TIMEOUT).await {
                Ok(mut s) => match s.fence().await {
                    Ok(()) => warn!(site = %name, "fenced writable non-promotable site"),
                    Err(e) => {
                        warn!(site = %name, error = %e, "fencing writable non-promotable site failed")
                    }
                },
                Err(e) => {
                    warn!(site = %name, error = %e, "fencing writable non-promotable site failed")
                }
            }
        }
    }

    /// History path: the recorded target is live and writable → fence every other writable
    /// site. Policy path: no usable history, priorities set → fence the losers. Else manual.
    async fn resolve_split_brain(&mut self, views: &[SiteView]) {
        if self.registry.hooks().broken(Broken::SkipSplitBrainFence) {
            return;
        }
        let writable = |n: &str| {
            views
                .iter()
                .any(|v| v.name == n && v.state == SiteState::Writable && v.role.is_promotable())
        };
        let (winner, log, policy) = match &self.last_failover_target {
            Some(t) if writable(t) => (t.clone(), "fencing returning old primary (split brain after failover)", false),
            _ => match matrix::resolve_split_brain(views, &self.cfg.site_priorities) {
                Some(w) => (w, "split-brain auto-resolve: fencing non-preferred site per spec.splitBrainPolicy.sitePriorities", true),
                None => return,
            },
        };
        let losers: Vec<String> = views
            .iter()
            .filter(|v| v.state == SiteState::Writable && v.name != winner)
            .map(|v| v.name.clone())
            .collect();
        for loser in losers {
            let result = match self.session(&loser, PROBE_TIMEOUT).await {
                Ok(mut s) => s.fence().await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    warn!(winner = %winner, fenced = %loser, "{log}");
                    if policy {
                        self.registry.metrics().split_brain_auto_resolve(&winner);
                    }
                    if let Some(i) = self.site_index(&loser) {
                        self.set_state(i, SiteState::ReadOnly);
                    }
                }
                Err(e) => {
                    warn!(site = %loser, error = %e, "split-brain fence failed; retrying next poll")
                }
            }
        }
    }

    fn in_cooldown(&self) -> Option<DateTime<Utc>> {
        if self.registry.hooks().broken(Broken::IgnoreCooldown) {
            return None;
        }
        let last = self.last_failover?;
        let until =
            last + chrono::Duration::from_std(self.cfg.failover_cooldown).expect("cooldown fits");
        (self.seams.clock.now() < until).then_some(until)
    }

    /// Picks the freshest candidate: the first in priority order, replaced only by a
    /// strict GTID superset. Unreachable candidates are skipped.
    async fn pick_freshest(&self, candidates: &[String]) -> Option<(String, GtidSet)> {
        let reads = join_all(candidates.iter().map(|c| async move {
            let r = async {
                let mut s = self.session(c, PROBE_TIMEOUT).await?;
                s.gtid_executed().await
            };
            (
                c.clone(),
                tokio::time::timeout(PROBE_TIMEOUT, r)
                    .await
                    .ok()
                    .and_then(Result::ok),
            )
        }))
        .await;
        let fresh_first = !self.registry.hooks().broken(Broken::IgnoreGtidFreshness);
        let mut best: Option<(String, GtidSet)> = None;
        for (name, gtid) in reads {
            let Some(gtid) = gtid else { continue };
            best = match best {
                None => Some((name, gtid)),
                Some((bn, bg)) if fresh_first && gtid.is_strict_superset_of(&bg) => {
                    let _ = bn;
                    Some((name, gtid))
                }
                keep => keep,
            };
        }
        best
    }

    async fn try_promote(&mut self, cs: &CrossSite) {
        if let Some(until) = self.in_cooldown() {
            let left = (until - self.seams.clock.now())
                .to_std()
                .unwrap_or_default();
            self.cooldown_wake = Some(Instant::now() + left);
            let due = self
                .last_cooldown_log
                .is_none_or(|t| t.elapsed() >= LOG_RATE_LIMIT);
            if due {
                self.last_cooldown_log = Some(Instant::now());
                info!(until = %fmt_stamp(until), candidates = ?cs.promotion_candidates, "failover blocked by anti-flap cooldown");
            }
            return;
        }
        let Some((candidate, _)) = self.pick_freshest(&cs.promotion_candidates).await else {
            warn!(candidates = ?cs.promotion_candidates, "no reachable promotion candidate");
            return;
        };
        let old_primary = self
            .last_failover_target
            .clone()
            .filter(|t| t != &candidate)
            .or_else(|| self.last_writer.clone().filter(|w| w != &candidate));
        info!(candidate = %candidate, old_primary = ?old_primary, "initiating failover");
        // Say so before the relay drain (up to 30s): status must not keep naming the lost
        // primary while the promotion runs.
        self.promoting = Some(candidate.clone());
        self.write_status(cs).await;
        let promoted = self.promote_site(&candidate, old_primary.as_deref()).await;
        self.promoting = None;
        if let Err(e) = promoted {
            error!(candidate = %candidate, error = %e, "failover failed");
            self.write_status(cs).await;
            return;
        }
        self.registry.metrics().failover(&candidate);
        self.dragonfly_after_failover(&candidate, old_primary);
        // activeSite names the new primary as soon as it is confirmed and recorded.
        self.write_status(cs).await;
    }

    /// Clears the pending promotion (spec §3.5) once a poll reads the promoted site
    /// writable, once another site is active, or when its TTL runs out.
    fn settle_pending(&mut self) {
        let Some((site, at)) = self.pending.clone() else {
            return;
        };
        let active = self.active_site().map(|i| self.sites[i].spec.name.clone());
        let read_writable = self
            .site_index(&site)
            .and_then(|i| self.sites[i].probe.as_ref())
            .is_some_and(|p| !p.read_only);
        if active.as_deref() == Some(site.as_str()) && read_writable {
            info!(site = %site, "pending promotion cleared: a poll read the site writable");
        } else if let Some(other) = active.filter(|a| *a != site) {
            info!(site = %site, active = %other, "pending promotion cleared: another site is active");
        } else if at.elapsed() >= PENDING_PROMOTION_TTL {
            warn!(site = %site, "pending promotion expired before a poll read the site writable");
        } else {
            return;
        }
        self.pending = None;
    }

    /// The pending promoted site while its TTL runs and no other site is writable.
    fn fresh_pending(&self) -> Option<usize> {
        let (site, at) = self.pending.as_ref()?;
        if at.elapsed() >= PENDING_PROMOTION_TTL {
            return None;
        }
        let i = self.site_index(site)?;
        let other_writable = self
            .sites
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && s.deb.state == SiteState::Writable);
        (!other_writable).then_some(i)
    }

    /// What `/active-site`, `/status` and DNS name: the fresh pending promotion, else the
    /// confirmed active site.
    fn reported_active(&self) -> Option<usize> {
        self.fresh_pending().or_else(|| self.active_site())
    }

    /// Execute, confirm writability, record the failover, then flip DNS: the promotion
    /// shared by the emergency path and the planned failover. `Err` says what failed.
    async fn promote_site(
        &mut self,
        candidate: &str,
        old_primary: Option<&str>,
    ) -> Result<(), String> {
        let candidate = candidate.to_string();
        if self.registry.hooks().broken(Broken::DnsBeforeConfirm) {
            self.point_dns_early(&candidate).await;
        }
        let gtid = self
            .execute_promotion(&candidate, old_primary)
            .await
            .map_err(|e| e.to_string())?;
        // Confirm writability synchronously, then record, then DNS.
        let confirmed = async {
            let mut s = self.session(&candidate, PROBE_TIMEOUT).await?;
            s.read_only().await
        };
        match tokio::time::timeout(PROBE_TIMEOUT, confirmed).await {
            Ok(Ok(false)) => info!(site = %candidate, "promotion confirmed: site is writable"),
            other => {
                let result = other.map(|r| r.map(|ro| if ro { "read-only" } else { "writable" }));
                error!(site = %candidate, result = ?result, "promotion succeeded but writable confirmation failed; DNS not flipped");
                return Err(format!(
                    "writable confirmation of {candidate} failed: {result:?}"
                ));
            }
        }
        self.registry.hooks().mutation("record-failover").await;
        self.record_failover(&candidate, gtid).await;
        self.pending = Some((candidate.clone(), Instant::now()));
        if let Some(i) = self.site_index(&candidate) {
            self.set_state(i, SiteState::Writable);
            self.sites[i].recovery = Recovery::None;
        }
        self.last_writer = Some(candidate.clone());
        // Publish at once: a sidecar asking /active-site between the unfence and the end
        // of this poll must not learn the old primary and fence the new one (audit H17).
        self.publish();
        self.registry.hooks().mutation("dns").await;
        self.reconcile_dns().await;
        Ok(())
    }

    /// The DNS-before-confirmation bug, for the DNS-W oracle's broken-controller test.
    async fn point_dns_early(&self, candidate: &str) {
        let Some(ip) = self
            .site_index(candidate)
            .and_then(|i| self.sites[i].spec.lb_ip.clone())
        else {
            return;
        };
        let _ = self
            .api
            .apply_dns(&self.cfg.dns_hostname, self.cfg.dns_ttl, &ip)
            .await;
    }

    /// Execute (spec §3.4): fence old, kill its app sessions, drain, stop, reset, unfence.
    async fn execute_promotion(
        &self,
        candidate: &str,
        old_primary: Option<&str>,
    ) -> Result<Option<String>, crate::sql::SqlError> {
        let hooks = self.registry.hooks();
        let old_primary = old_primary.filter(|_| !hooks.broken(Broken::SkipFenceOldPrimary));
        let late_fence = hooks.broken(Broken::UnfenceBeforeFence);
        if let Some(old) = old_primary.filter(|_| !late_fence) {
            self.fence_old_primary(old).await;
        }
        let mut s = self.session(candidate, PROBE_TIMEOUT).await?;
        match s.wait_for_relay_log_drain(DRAIN_BUDGET).await {
            Ok(true) => {}
            Ok(false) => {
                warn!(site = %candidate, "relay log drain did not complete cleanly, proceeding with promotion")
            }
            Err(e) => {
                warn!(site = %candidate, error = %e, "relay log drain did not complete cleanly, proceeding with promotion")
            }
        }
        hooks.mutation("stop-replica").await;
        s.stop_replica().await?;
        hooks.mutation("reset-replica").await;
        s.reset_replica_all().await?;
        let gtid = match s.gtid_executed().await {
            Ok(g) => Some(g.to_string()),
            Err(e) => {
                warn!(site = %candidate, error = %e, "could not read promotion GTID");
                None
            }
        };
        hooks.mutation("unfence").await;
        s.unfence().await?;
        if let Some(old) = old_primary.filter(|_| late_fence) {
            self.fence_old_primary(old).await;
        }
        info!(promoted_site = %candidate, promotion_gtid = ?gtid, "failover complete");
        Ok(gtid)
    }

    /// Fence the old primary and kill its app sessions, best effort: an unreachable old
    /// primary is left to its sidecar.
    async fn fence_old_primary(&self, old: &str) {
        let hooks = self.registry.hooks();
        match self.session(old, PROBE_TIMEOUT).await {
            Ok(mut s) => {
                hooks.mutation("fence-old-primary").await;
                if let Err(e) = s.fence().await {
                    warn!(site = %old, error = %e, "could not fence old primary");
                } else if let Err(e) = async {
                    hooks.mutation("kill-app-connections").await;
                    s.kill_app_connections().await
                }
                .await
                {
                    warn!(site = %old, error = %e, "could not kill app connections on old primary");
                }
            }
            Err(e) => warn!(site = %old, error = %e, "old primary unreachable; not fenced"),
        }
    }

    async fn record_failover(&mut self, target: &str, gtid: Option<String>) {
        let now = truncate_to_second(self.seams.clock.now());
        if self.last_failover.is_some_and(|prev| prev > now) {
            warn!("ignored out-of-order local failover record");
        } else {
            self.last_failover = Some(now);
            self.last_failover_target = Some(target.to_string());
        }
        self.promotion_gtid = gtid;
        self.write_annotations().await;
    }

    async fn write_annotations(&mut self) {
        let (Some(at), Some(target)) = (self.last_failover, self.last_failover_target.clone())
        else {
            return;
        };
        match self
            .api
            .write_failover_annotations(&fmt_stamp(at), &target)
            .await
        {
            Ok(()) => self.annotation_dirty = false,
            Err(e) => {
                if !self.annotation_dirty {
                    warn!(error = %e, "anti-flap annotation write failed; retrying every poll");
                }
                self.annotation_dirty = true;
            }
        }
    }

    /// The unique writable promotable site, confirmed by this poll's probe.
    fn active_site(&self) -> Option<usize> {
        let writable: Vec<usize> = self
            .sites
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.deb.state == SiteState::Writable && s.spec.role != SiteRole::ReadOnly
            })
            .map(|(i, _)| i)
            .collect();
        match writable.as_slice() {
            [i] if self.sites[*i].spec.role.is_promotable() => Some(*i),
            _ => None,
        }
    }

    /// Old-primary recovery (§3.7) and direct source convergence (§3.8): every read-only
    /// follower replicates directly from the active site, and only when its GTID set is
    /// contained in the active's. At most one recovery mutation per poll.
    async fn converge_followers(&mut self) {
        let Some(active) = self.active_site() else {
            return;
        };
        let Some(active_gtid) = self.sites[active]
            .probe
            .as_ref()
            .map(|p| p.gtid_executed.clone())
        else {
            return;
        };
        let active_name = self.sites[active].spec.name.clone();
        let active_host = self.sites[active].host(self.group());
        let now = Instant::now();
        for i in 0..self.sites.len() {
            if i == active {
                continue;
            }
            let site = &self.sites[i];
            let Some(probe) = site.probe.clone() else {
                continue;
            };
            if site.deb.state != SiteState::ReadOnly {
                continue;
            }
            if self.recloning(&site.spec.name) {
                continue; // its data is being replaced by a clone
            }
            let direct = probe
                .replica
                .as_ref()
                .is_some_and(|r| r.source_host == active_host && r.healthy());
            if direct {
                if self.errant_suspect(i, &active_gtid) {
                    if self.stop_errant(i, &active_name).await {
                        return; // one recovery mutation per poll
                    }
                    continue;
                }
                let site = &self.sites[i];
                if site.recovery == Recovery::InProgress && site.replicating() {
                    info!(site = %site.spec.name, "recovery state cleared (site is now replicating)");
                    self.sites[i].recovery = Recovery::None;
                }
                continue;
            }
            if site.retry_after.is_some_and(|t| now < t) {
                continue;
            }
            if probe.gtid_executed.is_empty() || self.bootstrap.owns(&site.spec.name) {
                continue; // an empty datadir belongs to bootstrap (clone), not to recovery
            }
            let divergent = probe.gtid_executed.subtract(&active_gtid);
            let name = site.spec.name.clone();
            if !divergent.is_empty() && !self.registry.hooks().broken(Broken::RepointDivergent) {
                self.block(i, divergent, &probe.gtid_executed, &active_gtid);
                continue;
            }
            let is_old_primary = probe.replica.is_none();
            let result = if is_old_primary {
                self.recover_old_primary(i, &active_name, &active_host)
                    .await
            } else {
                self.repoint(i, &active_name, &active_host).await
            };
            if let Err(e) = result {
                warn!(site = %name, error = %e, "replication source convergence failed");
                self.sites[i].retry_after = Some(now + RECOVERY_RETRY);
            }
            return; // one recovery mutation per poll
        }
    }

    fn block(&mut self, i: usize, divergent: GtidSet, old: &GtidSet, new: &GtidSet) {
        let site = &mut self.sites[i];
        let changed = site.recovery
            != Recovery::Blocked {
                divergent: divergent.clone(),
            };
        if changed {
            warn!(
                site = %site.spec.name,
                divergent_transactions = divergent.count(),
                divergent_gtid = %divergent,
                old_primary_gtid = %old,
                new_primary_gtid = %new,
                "divergence detected"
            );
        }
        site.recovery = Recovery::Blocked { divergent };
        site.retry_after = Some(Instant::now() + RECOVERY_RETRY);
    }

    /// Re-reads both GTID sets right before a repoint: the follower on its open session `s`,
    /// the active site on a fresh one. Marks the follower blocked and returns false when it
    /// holds transactions the active site lacks.
    async fn still_contained(
        &mut self,
        i: usize,
        s: &mut Session,
        active: &str,
    ) -> Result<bool, crate::sql::SqlError> {
        let own = s.gtid_executed().await?;
        let new = {
            let mut a = self.session(active, PROBE_TIMEOUT).await?;
            a.gtid_executed().await?
        };
        let divergent = own.subtract(&new);
        if divergent.is_empty() || self.registry.hooks().broken(Broken::RepointDivergent) {
            return Ok(true);
        }
        self.block(i, divergent, &own, &new);
        Ok(false)
    }

    /// Fence, drain application sessions, re-check containment, then rejoin as a replica.
    async fn recover_old_primary(
        &mut self,
        i: usize,
        active: &str,
        active_host: &str,
    ) -> Result<(), crate::sql::SqlError> {
        let name = self.sites[i].spec.name.clone();
        info!(site = %name, new_primary = %active, "initiating old primary recovery");
        let mut s = self.session(&name, PROBE_TIMEOUT).await?;
        s.fence().await?;
        s.kill_app_connections().await?;
        if !self.still_contained(i, &mut s, active).await? {
            return Ok(());
        }
        info!(site = %name, "no GTID divergence, auto-recovering old primary as replica");
        self.sites[i].recovery = Recovery::InProgress;
        self.sites[i].retry_after = Some(Instant::now() + RECOVERY_RETRY);
        let r = async {
            s.fence().await?;
            s.stop_replica().await?;
            s.reset_replica_all().await?;
            s.change_source(active_host, &self.creds.user, &self.creds.password)
                .await?;
            s.start_replica().await
        }
        .await;
        match &r {
            Ok(()) => info!(site = %name, source = %active_host, "old primary recovery complete"),
            Err(e) => warn!(site = %name, error = %e, "old primary recovery failed"),
        }
        r
    }

    /// Direct source convergence: STOP, re-check containment, CHANGE SOURCE, START.
    async fn repoint(
        &mut self,
        i: usize,
        active: &str,
        active_host: &str,
    ) -> Result<(), crate::sql::SqlError> {
        let name = self.sites[i].spec.name.clone();
        info!(site = %name, stage = "stop", source = %active_host, "replication source convergence started");
        let mut s = self.session(&name, PROBE_TIMEOUT).await?;
        s.stop_replica().await?;
        if !self.still_contained(i, &mut s, active).await? {
            warn!(site = %name, stage = "containment", "replication source convergence blocked");
            return Ok(());
        }
        s.change_source(active_host, &self.creds.user, &self.creds.password)
            .await?;
        s.start_replica().await?;
        info!(site = %name, source = %active_host, "replication source convergence complete");
        self.sites[i].retry_after = Some(Instant::now() + Duration::from_secs(10));
        Ok(())
    }

    fn bootstrap_inputs(&self) -> Vec<super::bootstrap::SiteInput<'_>> {
        let group = self.group();
        self.sites
            .iter()
            .map(|s| super::bootstrap::SiteInput {
                name: &s.spec.name,
                host: s.host(group),
                role: s.spec.role,
                state: s.deb.state,
                probe: s.probe.as_ref(),
                in_recovery: s.recovery != Recovery::None,
            })
            .collect()
    }

    /// Fresh-deploy bootstrap (spec §3.10, §3.4 step 2): with no failover history and
    /// every core site answering with an empty data directory, make the seed the only
    /// writer; auto-clone then copies it into every other site. Never runs with history,
    /// so a failover can not be reverted by re-cloning. True when the seed was made.
    async fn fresh_deploy(&mut self) -> bool {
        if self.last_failover.is_some()
            || self.last_failover_target.is_some()
            || self.bootstrap.job.is_some()
        {
            return false;
        }
        let Some(seed) = super::bootstrap::fresh_deploy_seed(
            &self.bootstrap_inputs(),
            &self.cfg.site_priorities,
        ) else {
            return false;
        };
        let seed_name = self.sites[seed].spec.name.clone();
        info!(site = %seed_name, source = "fresh-deploy", "starting bootstrap");
        self.bootstrap.fresh = true;
        self.bootstrap.last = None;
        let hosts: Vec<(String, String)> = self
            .sites
            .iter()
            .map(|s| (s.spec.name.clone(), s.host(self.group())))
            .collect();
        match super::bootstrap::seed_fresh_deploy(&*self.seams.sql, seed, &hosts).await {
            Ok(()) => {
                info!(site = %seed_name, "fresh-deploy seed is writable");
                for i in 0..self.sites.len() {
                    let to = if i == seed {
                        SiteState::Writable
                    } else {
                        SiteState::ReadOnly
                    };
                    self.set_state(i, to);
                }
                self.last_writer = Some(seed_name);
                true
            }
            Err(e) => {
                warn!(site = %seed_name, error = %e, "bootstrap failed");
                self.bootstrap.last = Some(super::bootstrap::Finished::Failed(e));
                false
            }
        }
    }

    /// Auto-clone (spec §3.10): one step per poll, only next to a confirmed active site.
    async fn auto_clone(&mut self) {
        let Some(active) = self.active_site() else {
            return;
        };
        let group = self.api.name.clone();
        // Built from the fields (not `bootstrap_inputs`): `self.bootstrap` is borrowed
        // mutably beside it.
        let inputs: Vec<super::bootstrap::SiteInput<'_>> = self
            .sites
            .iter()
            .map(|s| super::bootstrap::SiteInput {
                name: &s.spec.name,
                host: s.host(&group),
                role: s.spec.role,
                state: s.deb.state,
                probe: s.probe.as_ref(),
                in_recovery: s.recovery != Recovery::None,
            })
            .collect();
        let creds = (self.creds.user.as_str(), self.creds.password.as_str());
        self.bootstrap
            .step(&self.seams.sql, creds, active, &inputs)
            .await;
    }

    /// Primary re-assert (spec §3.7): when no site is writable, every other site is
    /// reachable and read-only, and the last failover target is read-only and GTID-complete
    /// (⊇ promotionGtidExecuted and ⊇ every peer), restore its writability. This heals a
    /// promoted primary fenced by its own sidecar's stale lease, and a total loss after
    /// which every site came back fenced. Its own timer (the cooldown length) spaces
    /// attempts; the anti-flap cooldown does not gate it.
    ///
    /// It waits while a promotion is pending (spec §3.7): the promoted site may be read
    /// read-only for a moment right after its promotion.
    async fn check_primary_reassert(&mut self) {
        let Some(target) = self.last_failover_target.clone() else {
            return;
        };
        let Some(ti) = self.site_index(&target) else {
            return;
        };
        if self
            .sites
            .iter()
            .any(|s| s.deb.state == SiteState::Writable)
        {
            // Normal operation (or split brain / fencing, handled elsewhere).
            self.last_reassert_refusal = None;
            return;
        }
        if self.no_writer_polls < self.cfg.recovery_threshold {
            return; // not yet confirmed: may be a safety-net blip
        }
        if self.fresh_pending().is_some() {
            return; // a promotion is pending (spec §3.7): let it settle first
        }
        match self.reassert_preconditions(ti).await {
            Ok(()) => {}
            Err(reason) => {
                self.refuse_reassert(reason);
                return;
            }
        }
        let cooldown = self.cfg.failover_cooldown;
        if let Some(at) = self.last_reassert {
            let since = at.elapsed();
            if since < cooldown {
                self.refuse_reassert(format!(
                    "last re-assert was {}s ago, within the {}s cooldown",
                    since.as_secs(),
                    cooldown.as_secs()
                ));
                return;
            }
        }
        self.last_reassert = Some(Instant::now());
        self.last_reassert_refusal = None;
        warn!(site = %target, "re-asserting fenced promoted primary: no site is writable and the last failover target is GTID-complete; restoring writability");
        let unfenced = async {
            let mut s = self.session(&target, PROBE_TIMEOUT).await?;
            s.unfence().await?;
            s.read_only().await
        };
        match tokio::time::timeout(PROBE_TIMEOUT * 2, unfenced).await {
            Ok(Ok(false)) => {
                info!(site = %target, "primary re-assert confirmed: site is writable")
            }
            other => {
                error!(site = %target, result = ?other.map(|r| r.map(|ro| if ro { "read-only" } else { "writable" })), "primary re-assert failed; DNS not flipped");
                return;
            }
        }
        self.registry.metrics().primary_reassert(&target);
        self.set_state(ti, SiteState::Writable);
        self.last_writer = Some(target);
        self.publish();
        self.reconcile_dns().await;
    }

    /// Every re-assert condition but its timer; `Err` carries the refusal reason.
    async fn reassert_preconditions(&self, ti: usize) -> Result<(), String> {
        let target = &self.sites[ti];
        let name = target.spec.name.clone();
        if !target.spec.role.is_promotable() {
            return Err(format!("target {name} is not a primary-candidate"));
        }
        if target.deb.state != SiteState::ReadOnly || target.probe.is_none() {
            return Err(format!(
                "target {name} is {}, not reachable and read-only",
                target.deb.state.as_str()
            ));
        }
        for (i, s) in self.sites.iter().enumerate() {
            if i != ti && (s.deb.state != SiteState::ReadOnly || s.probe.is_none()) {
                return Err(format!(
                    "site {} is {}, not reachable and read-only",
                    s.spec.name,
                    s.deb.state.as_str()
                ));
            }
        }
        let promotion = match self.promotion_gtid.as_deref() {
            None => GtidSet::new(),
            Some(raw) => GtidSet::parse(raw)
                .map_err(|e| format!("promotionGtidExecuted {raw:?} is unparseable: {e}"))?,
        };
        // Fresh GTID reads of every site, in parallel, each bounded.
        let reads = join_all(self.sites.iter().map(|s| {
            let site = s.spec.name.clone();
            async move {
                let r = tokio::time::timeout(PROBE_TIMEOUT, async {
                    let mut sess = self.session(&site, PROBE_TIMEOUT).await?;
                    sess.gtid_executed().await
                })
                .await;
                match r {
                    Ok(Ok(g)) => Ok(g),
                    Ok(Err(e)) => Err(format!("reading GTID_EXECUTED of {site} failed: {e}")),
                    Err(_) => Err(format!("reading GTID_EXECUTED of {site} timed out")),
                }
            }
        }))
        .await;
        let mut sets = Vec::with_capacity(reads.len());
        for r in reads {
            sets.push(r?);
        }
        let own = &sets[ti];
        let missing = promotion.subtract(own);
        if !missing.is_empty() {
            return Err(format!(
                "target {name} lacks {missing} of promotionGtidExecuted"
            ));
        }
        for (i, peer) in sets.iter().enumerate() {
            let missing = peer.subtract(own);
            if i != ti && !missing.is_empty() {
                return Err(format!(
                    "target {name} lacks {missing} present on {}",
                    self.sites[i].spec.name
                ));
            }
        }
        Ok(())
    }

    fn refuse_reassert(&mut self, reason: String) {
        let due = match &self.last_reassert_refusal {
            Some((last, at)) => last != &reason || at.elapsed() >= LOG_RATE_LIMIT,
            None => true,
        };
        if due {
            warn!("primary re-assert refused: {reason}");
            self.last_reassert_refusal = Some((reason, Instant::now()));
        }
    }

    /// Level-triggered DNS: make the record name the active site, every poll.
    async fn reconcile_dns(&mut self) {
        let Some(active) = self.reported_active() else {
            return;
        };
        let site = &self.sites[active];
        let Some(ip) = site.spec.lb_ip.clone() else {
            return;
        };
        let name = site.spec.name.clone();
        let (needs_write, live) = match self.api.read_dns_targets().await {
            Ok(Some(targets)) => (targets != [ip.clone()], targets.first().cloned()),
            Ok(None) => (true, None),
            Err(_) => (
                self.dns_failed || self.dns_last_applied.as_deref() != Some(ip.as_str()),
                self.dns_last_applied.clone(),
            ),
        };
        if !needs_write {
            return;
        }
        // The API calls of this poll may have taken long enough (an apiserver that hangs
        // until our timeouts) for this poll's probe to be stale: confirm the target still
        // reads writable right before pointing clients at it.
        let confirmed = match self.session(&name, PROBE_TIMEOUT).await {
            Ok(mut s) => s.read_only().await.map(|ro| !ro),
            Err(e) => Err(e),
        };
        match confirmed {
            Ok(true) => {}
            Ok(false) => {
                warn!(site = %name, "DNS reconcile deferred: active site reads read-only");
                return;
            }
            Err(e) => {
                warn!(site = %name, error = %e, "DNS reconcile deferred: could not confirm the active site is writable");
                return;
            }
        }
        match self
            .api
            .apply_dns(&self.cfg.dns_hostname, self.cfg.dns_ttl, &ip)
            .await
        {
            Ok(()) => {
                info!(site = %name, target = %ip, "DNS reconciled to active site");
                if live.as_deref() != Some(ip.as_str()) {
                    self.registry.metrics().dns_flip(&name);
                }
                self.dns_failed = false;
                self.dns_last_applied = Some(ip);
            }
            Err(e) => {
                if !self.dns_failed {
                    warn!(site = %name, error = %e, "DNS reconcile failed");
                }
                self.dns_failed = true;
            }
        }
    }

    fn build_status(&self, cs: &CrossSite) -> MysqlFailoverGroupStatus {
        let now = self.seams.clock.now();
        let mut active = self.active_site();
        if active.is_none() && self.registry.hooks().broken(Broken::ReportLastWriter) {
            active = self.last_writer.as_deref().and_then(|w| self.site_index(w));
        }
        let previous = self
            .last_written
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        let sites: Vec<SiteStatus> = self
            .sites
            .iter()
            .map(|s| {
                let probe = s.probe.as_ref();
                let (recovery_state, divergent_gtid, divergent_count) = match &s.recovery {
                    Recovery::None => (String::new(), String::new(), None),
                    Recovery::InProgress => ("RecoveryInProgress".into(), String::new(), None),
                    Recovery::Blocked { divergent } => (
                        "RecoveryBlocked".into(),
                        divergent.to_string(),
                        Some(divergent.count()),
                    ),
                };
                SiteStatus {
                    name: s.spec.name.clone(),
                    state: s.deb.state.as_str().into(),
                    last_seen: s.last_seen.clone(),
                    gtid_executed: probe
                        .map(|p| p.gtid_executed.to_string())
                        .unwrap_or_default(),
                    replicating: s.replicating(),
                    seconds_behind_source: probe
                        .and_then(|p| p.replica.as_ref())
                        .and_then(|r| r.seconds_behind_source),
                    recovery_state,
                    divergent_gtid,
                    divergent_transaction_count: divergent_count,
                    source_host: probe
                        .and_then(|p| p.replica.as_ref())
                        .map(|r| r.source_host.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        let mut conds = Conditions {
            list: vec![],
            previous: &previous,
            generation: self.generation,
            now,
        };
        let followers_ok = self.sites.iter().enumerate().all(|(i, s)| {
            Some(i) == active || s.spec.role == SiteRole::ReadOnly || s.replicating()
        });
        let (ready, ready_msg) = match (active, followers_ok) {
            (None, _) => (false, "No site is writable"),
            (Some(_), false) => (false, "Replication is not healthy"),
            (Some(_), true) => (
                true,
                "At least one site is writable and replication is healthy",
            ),
        };
        conds.set("Ready", ready, "TopologyPolled", ready_msg);
        let (degraded, reason, msg) = match cs.reason {
            Reason::Healthy => (false, "Healthy", "No cross-site alerts".to_string()),
            r => (true, r.as_str(), cs.alert.clone()),
        };
        let (degraded, reason, msg) = match self.follower_degradation(cs.reason) {
            Some((r, m)) => (true, r, m),
            None => (degraded, reason, msg),
        };
        conds.set("Degraded", degraded, reason, &msg);
        let blocked = self.sites.iter().find_map(|s| match &s.recovery {
            Recovery::Blocked { divergent } => Some((s.spec.name.clone(), divergent.count())),
            _ => None,
        });
        let in_progress = self
            .sites
            .iter()
            .find(|s| s.recovery == Recovery::InProgress)
            .map(|s| s.spec.name.clone());
        let (rp, rp_reason, rp_msg) = match (blocked, in_progress) {
            (Some((site, n)), _) => (
                true,
                "DivergentTransactions",
                format!("Old primary {site} has {n} divergent transactions — annotate with bloodraven.shipstream.io/reclone-site={site} to recover"),
            ),
            (None, Some(site)) => (true, "RecoveryInProgress", format!("Old primary {site} is being reconfigured as a replica")),
            (None, None) => (false, "NoRecoveryPending", "No recovery pending".to_string()),
        };
        conds.set("RecoveryPending", rp, rp_reason, &rp_msg);
        let (b, b_reason, b_msg) = self.bootstrap.condition();
        conds.set("Bootstrapping", b, &b_reason, &b_msg);
        conds.set("Updating", false, "NotUpdating", "No update in progress");
        match &self.promoting {
            Some(c) => conds.set(
                "FailoverInProgress",
                true,
                "Promoting",
                &format!("Promoting {c}: relay log drain, unfence, then writability confirmation"),
            ),
            None => conds.set(
                "FailoverInProgress",
                false,
                "NoFailoverInProgress",
                "No failover in progress",
            ),
        }
        // What the group reconciler reports (resources, Secret, update): one status writer.
        let reported = self
            .registry
            .reported_conditions(&self.api.namespace, &self.api.name);
        for c in &reported {
            conds.set(&c.type_, c.status, &c.reason, &c.message);
        }
        let update_phase = reported
            .iter()
            .find(|c| c.type_ == "Updating" && c.status)
            .map(|c| c.reason.clone());
        MysqlFailoverGroupStatus {
            active_site: active
                .map(|i| self.sites[i].spec.name.clone())
                .unwrap_or_default(),
            sites,
            conditions: conds.list,
            last_failover: self.last_failover.map(fmt_stamp),
            last_failover_target: self.last_failover_target.clone(),
            promotion_gtid_executed: self.promotion_gtid.clone(),
            observed_generation: Some(self.generation),
            planned_failover: self.planned.clone(),
            dragonfly: self.dragonfly.as_ref().map(|d| d.status()),
            update_phase,
        }
    }

    async fn write_status(&mut self, cs: &CrossSite) {
        let status = self.build_status(cs);
        if !self.status_failed && self.last_written.as_ref() == Some(&status) {
            // Already recorded: Events about it may go now.
            let events = std::mem::take(&mut self.pending_events);
            self.send_events(events).await;
            return;
        }
        match self.api.write_status(&status).await {
            Ok(()) => {
                if self.status_failed {
                    info!("status write succeeded after earlier failures");
                }
                self.status_failed = false;
                let mut events = events_between(self.last_written.as_ref(), &status);
                events.append(&mut self.pending_events);
                self.last_written = Some(status);
                self.send_events(events).await;
            }
            Err(e) => {
                if !self.status_failed {
                    warn!(error = %e, "status write failed; retrying every poll");
                }
                self.status_failed = true;
            }
        }
    }

    async fn send_events(&self, events: Vec<PendingEvent>) {
        for ev in events {
            if let Err(e) = self.api.event(ev.warning, ev.reason, &ev.message).await {
                warn!(reason = ev.reason, error = %e, "event write failed");
            }
        }
    }

    /// Followers fit to serve reads (spec §1): replicating, lag known and within the
    /// limit of their role.
    fn serving_followers(&self) -> Vec<String> {
        let active = self.active_site();
        self.sites
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                let limit = match s.spec.role {
                    SiteRole::ReadOnly => self
                        .cfg
                        .read_only_max_lag_seconds
                        .unwrap_or(self.cfg.max_lag_seconds),
                    _ => self.cfg.max_lag_seconds,
                };
                let lag = s
                    .probe
                    .as_ref()
                    .and_then(|p| p.replica.as_ref())
                    .and_then(|r| r.seconds_behind_source);
                Some(*i) != active
                    && s.replicating()
                    && lag.is_some_and(|l| l >= 0 && l as u64 <= limit)
            })
            .map(|(_, s)| s.spec.name.clone())
            .collect()
    }

    /// Per-follower reasons that override the matrix's Degraded reason (spec §8.1), the
    /// last follower in spec order winning; readers are excluded.
    fn follower_degradation(&self, topology: Reason) -> Option<(&'static str, String)> {
        let active = self.active_site()?;
        let mut out = None;
        for (i, s) in self.sites.iter().enumerate() {
            if i == active
                || s.spec.role == SiteRole::ReadOnly
                || s.deb.state != SiteState::ReadOnly
            {
                continue;
            }
            let Some(p) = s.probe.as_ref() else {
                continue;
            };
            let name = &s.spec.name;
            if topology == Reason::Healthy
                && self.convergence(i).is_some_and(|(st, _)| st != "Converged")
            {
                out = Some((
                    "ReplicationSourceMismatch",
                    format!("{name} does not replicate directly from the active site"),
                ));
            }
            let Some(r) = p.replica.as_ref() else {
                continue;
            };
            if !r.io_running || !r.sql_running {
                let t = match (r.io_running, r.sql_running) {
                    (false, false) => "IO/SQL",
                    (false, true) => "IO",
                    _ => "SQL",
                };
                out = Some((
                    "ReplicationBroken",
                    format!("Replication {t} thread not running on {name}"),
                ));
            }
            if let Some(lag) = r.seconds_behind_source {
                if lag > 0 && lag as u64 > self.cfg.max_lag_seconds {
                    out = Some((
                        "ReplicationLagging",
                        format!(
                            "{name} is {lag}s behind its source (maxLagSeconds {})",
                            self.cfg.max_lag_seconds
                        ),
                    ));
                }
            }
            if !r.last_error.is_empty() {
                out = Some(("ReplicationError", format!("{name}: {}", r.last_error)));
            }
        }
        out
    }

    /// (state, reason) of a follower's source convergence (spec §3.8); None for the
    /// active site and when there is no active site to converge on.
    fn convergence(&self, i: usize) -> Option<(&'static str, &'static str)> {
        let active = self.active_site()?;
        if i == active {
            return None;
        }
        let s = &self.sites[i];
        if matches!(s.recovery, Recovery::Blocked { .. }) {
            return Some(("Blocked", "GTIDDiverged"));
        }
        let Some(p) = s.probe.as_ref() else {
            return Some(("Pending", "ProbeFailed"));
        };
        let active_host = self.sites[active].host(self.group());
        let direct = p
            .replica
            .as_ref()
            .is_some_and(|r| r.source_host == active_host && r.healthy());
        Some(if direct {
            ("Converged", "DirectSource")
        } else {
            ("Pending", "SourceMismatch")
        })
    }

    fn site_details(&self) -> Vec<super::SiteDetail> {
        let serving = self.serving_followers();
        self.sites
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (conv_state, conv_reason) = self.convergence(i).unwrap_or(("", ""));
                let (recovery_state, divergent_gtid, count) = match &s.recovery {
                    Recovery::None => ("", String::new(), None),
                    Recovery::InProgress => ("RecoveryInProgress", String::new(), None),
                    Recovery::Blocked { divergent } => (
                        "RecoveryBlocked",
                        divergent.to_string(),
                        Some(divergent.count()),
                    ),
                };
                super::SiteDetail {
                    name: s.spec.name.clone(),
                    role: s.spec.role.as_str().into(),
                    state: s.deb.state.as_str().into(),
                    source_host: s
                        .probe
                        .as_ref()
                        .and_then(|p| p.replica.as_ref())
                        .map(|r| r.source_host.clone())
                        .unwrap_or_default(),
                    source_convergence_state: conv_state.into(),
                    source_convergence_reason: conv_reason.into(),
                    serving_healthy: serving.contains(&s.spec.name),
                    recovery_state: recovery_state.into(),
                    divergent_gtid,
                    divergent_transaction_count: count,
                }
            })
            .collect()
    }

    fn publish(&self) {
        let active = self
            .reported_active()
            .map(|i| self.sites[i].spec.name.clone())
            .unwrap_or_default();
        let view = GroupView {
            active_site: active,
            sites: self
                .sites
                .iter()
                .map(|s| (s.spec.name.clone(), s.deb.state.as_str().to_string()))
                .collect(),
            poll_time: fmt_stamp(self.seams.clock.now()),
            promotion_gtid_executed: self.promotion_gtid.clone().unwrap_or_default(),
            serving: self.serving_followers(),
            details: self.site_details(),
        };
        self.registry
            .publish(&self.api.namespace, &self.api.name, view);
    }
}

pub fn fmt_stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("in range")
}
