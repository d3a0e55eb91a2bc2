//! The DragonflyManager (spec §7.2, §7.3): every tick it reads `INFO replication` from each
//! site's Dragonfly, keeps exactly one master on the active site, points every other
//! site at it, strips traffic from stale masters and labels pods for the active Service.
//! The topology manager calls [`DragonflyManager::emergency_promote`] after a MySQL
//! failover, and the planned failover calls the sync and takeover helpers.
//!
//! Nothing here may hold MySQL back: every exchange is bounded, the emergency path runs
//! in its own task under a 10s budget, and failures only produce status, Events and
//! metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use super::client::{DfConn, DfError};
use super::info::{ReplInfo, Role};
use super::names;
use super::spec::{DragonflyConfig, DragonflySiteStatus, DragonflyStatus};
use crate::metrics::Metrics;
use crate::net::SharedDialer;
use crate::topology::k8s::GroupApi;

/// Bound of one observation or one short command.
pub const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// The emergency path's whole budget (spec §7.3).
pub const EMERGENCY_BUDGET: Duration = Duration::from_secs(10);
/// Extra I/O grace on top of a REPLTAKEOVER's own timeout.
pub const TAKEOVER_GRACE: Duration = Duration::from_secs(5);
const STALE_EVENT_DEDUP: Duration = Duration::from_secs(300);

/// What the manager was built from (one per group).
pub struct DragonflySetup {
    pub api: GroupApi,
    pub dialer: SharedDialer,
    pub metrics: Metrics,
    pub cfg: DragonflyConfig,
    pub sites: Vec<String>,
    /// Consecutive ticks without a reachable master before a replica is promoted.
    pub failure_threshold: u32,
}

pub struct DragonflyManager {
    api: GroupApi,
    dialer: SharedDialer,
    metrics: Metrics,
    cfg: DragonflyConfig,
    sites: Vec<String>,
    threshold: u32,
    /// The site whose Dragonfly is (or should be) master.
    active: String,
    last_promotion: Option<(String, String)>,
    observed: BTreeMap<String, Result<ReplInfo, String>>,
    no_master_ticks: u32,
    link_down_ticks: BTreeMap<String, u32>,
    /// Labels last written per pod: (role, traffic).
    labels: BTreeMap<String, (Option<String>, bool)>,
    stale_reported: BTreeMap<String, Instant>,
    /// The password from `spec.dragonfly.auth`'s Secret, as of the last tick.
    password: Option<String>,
    /// Why that password could not be read (published as the status message).
    auth_problem: Option<String>,
    status: Arc<Mutex<DragonflyStatus>>,
}

impl DragonflyManager {
    /// A manager resuming from the last written `status.dragonfly`, if any.
    pub fn new(setup: DragonflySetup, prior: Option<&DragonflyStatus>) -> Self {
        let mut status = prior.cloned().unwrap_or_default();
        status.enabled = true;
        if status.phase.is_empty() {
            status.phase = "Reconciling".into();
        }
        Self {
            active: status.active_site.clone(),
            last_promotion: status
                .last_promotion_time
                .clone()
                .zip(status.last_promotion_target.clone()),
            api: setup.api,
            dialer: setup.dialer,
            metrics: setup.metrics,
            cfg: setup.cfg,
            sites: setup.sites,
            threshold: setup.failure_threshold.max(1),
            observed: BTreeMap::new(),
            no_master_ticks: 0,
            link_down_ticks: BTreeMap::new(),
            labels: BTreeMap::new(),
            stale_reported: BTreeMap::new(),
            password: None,
            auth_problem: None,
            status: Arc::new(Mutex::new(status)),
        }
    }

    /// The latest status, shared with the topology manager's status writer.
    pub fn status_cell(&self) -> Arc<Mutex<DragonflyStatus>> {
        self.status.clone()
    }

    pub fn active(&self) -> &str {
        &self.active
    }

    pub fn config(&self) -> &DragonflyConfig {
        &self.cfg
    }

    fn host(&self, site: &str) -> String {
        names::host(&self.api.name, site)
    }

    /// A connection to `site`'s Dragonfly, authenticated when auth is configured.
    pub async fn conn(&self, site: &str) -> Result<DfConn, DfError> {
        let mut c =
            DfConn::open(&*self.dialer, &self.host(site), self.cfg.port, OP_TIMEOUT).await?;
        if let Some(pw) = &self.password {
            c.auth(pw, OP_TIMEOUT).await?;
        }
        Ok(c)
    }

    /// Reads the password when auth is configured; false (nothing may be dialled) while
    /// its Secret or key is missing.
    async fn refresh_auth(&mut self) -> bool {
        let Some(auth) = self.cfg.auth.clone() else {
            return true;
        };
        match super::auth::read_password(&self.api.client, &self.api.namespace, &auth).await {
            Ok(pw) => {
                self.password = Some(pw);
                self.auth_problem = None;
                true
            }
            Err(problem) => {
                if self.auth_problem.as_ref() != Some(&problem) {
                    warn!(problem = %problem, "Dragonfly password unavailable; not dialling Dragonfly");
                }
                self.auth_problem = Some(problem);
                self.observed.clear();
                false
            }
        }
    }

    /// `INFO replication` of one site.
    pub async fn info(&self, site: &str) -> Result<ReplInfo, DfError> {
        let mut c = self.conn(site).await?;
        c.info_replication(OP_TIMEOUT).await
    }

    async fn observe(&mut self) {
        let infos = join_all(self.sites.iter().map(|s| self.info(s))).await;
        for (site, r) in self.sites.clone().into_iter().zip(infos) {
            self.metrics
                .dragonfly_site_up(&self.api.name, &site, r.is_ok());
            self.observed.insert(site, r.map_err(|e| e.to_string()));
        }
    }

    fn seen(&self, site: &str) -> Option<&ReplInfo> {
        self.observed.get(site).and_then(|r| r.as_ref().ok())
    }

    fn is_master(&self, site: &str) -> bool {
        self.seen(site).is_some_and(|i| i.role == Role::Master)
    }

    /// Whether some reachable replica holds data: then a pristine master lost it all.
    fn replicas_hold_data(&self) -> bool {
        self.sites
            .iter()
            .filter_map(|s| self.seen(s))
            .any(|i| i.role == Role::Replica && i.offset > 0)
    }

    /// The site whose Dragonfly serves as master now, if any.
    fn current_master(&self, want: &str) -> Option<String> {
        let holds = |s: &str| {
            self.seen(s)
                .is_some_and(|i| i.role == Role::Master && !i.pristine_master())
        };
        if !self.active.is_empty() && holds(&self.active) {
            return Some(self.active.clone());
        }
        let mut order = vec![want.to_string()];
        order.extend(self.sites.iter().filter(|s| *s != want).cloned());
        if let Some(s) = order.iter().find(|s| holds(s)) {
            return Some(s.clone());
        }
        // Bootstrap: every node is fresh; the active MySQL site's becomes the master.
        (self.is_master(want) && !self.replicas_hold_data()).then(|| want.to_string())
    }

    /// The replica to promote when the master is gone: the wanted site if it can, else
    /// the one with the most data (spec order breaks ties).
    fn best_replica(&self, want: &str) -> Option<String> {
        if self.seen(want).is_some_and(|i| i.role == Role::Replica) {
            return Some(want.to_string());
        }
        let mut best: Option<(&String, u64)> = None;
        for s in &self.sites {
            if let Some(i) = self.seen(s).filter(|i| i.role == Role::Replica) {
                if best.is_none_or(|(_, o)| i.offset > o) {
                    best = Some((s, i.offset));
                }
            }
        }
        best.map(|(s, _)| s.clone())
    }

    fn takeover_secs(&self, whole: bool) -> u64 {
        let d = if whole {
            self.cfg.max_sync_wait
        } else {
            self.cfg.max_sync_wait / 2
        };
        d.as_secs_f64().ceil().max(1.0) as u64
    }

    async fn event(&self, warning: bool, reason: &str, message: &str) {
        if let Err(e) = self.api.event(warning, reason, message).await {
            warn!(reason, error = %e, "could not record the Dragonfly Event");
        }
    }

    fn stamp_promotion(&mut self, target: &str) {
        let now = crate::topology::manager::fmt_stamp(self.api.clock.now());
        self.last_promotion = Some((now, target.to_string()));
        self.active = target.to_string();
    }

    /// Writes a pod's Dragonfly labels (`role` None leaves the role as is). Cached, so
    /// a tick only writes what changed; a failed write is retried next tick.
    async fn set_labels(&mut self, site: &str, role: Option<&str>, traffic: bool) {
        let want = (role.map(String::from), traffic);
        if self.labels.get(site) == Some(&want) {
            return;
        }
        let pod = names::pod(&self.api.name, site);
        let mut labels =
            json!({ names::LABEL_TRAFFIC: if traffic { json!("enabled") } else { json!(null) } });
        if let Some(r) = role {
            labels[names::LABEL_ROLE] = json!(r);
        }
        let api: Api<Pod> = Api::namespaced(self.api.client.clone(), &self.api.namespace);
        let patch = json!({"metadata": {"labels": labels}});
        match tokio::time::timeout(
            OP_TIMEOUT,
            api.patch(&pod, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .await
        {
            Ok(Ok(_)) => {
                self.labels.insert(site.into(), want);
            }
            Ok(Err(kube::Error::Api(e))) if e.code == 404 => {
                // No pod yet (the StatefulSet is still creating it): nothing to steer.
                self.labels.remove(site);
            }
            other => {
                warn!(pod = %pod, result = ?other.map(|r| r.map(drop).map_err(|e| e.to_string())).ok(), "labelling the Dragonfly pod failed; retrying next tick");
                self.labels.remove(site);
            }
        }
    }

    /// One manager tick. `mysql_active` is the MySQL active site; `paused` holds while a
    /// planned failover is in flight (observe, never mutate).
    pub async fn tick(&mut self, mysql_active: Option<&str>, paused: bool) {
        if !self.refresh_auth().await {
            self.publish(None);
            return;
        }
        self.observe().await;
        if paused {
            self.publish(None);
            return;
        }
        let want = mysql_active
            .filter(|s| self.sites.iter().any(|x| x == s))
            .map(String::from)
            .or_else(|| (!self.active.is_empty()).then(|| self.active.clone()));
        let Some(want) = want else {
            self.publish(None);
            return;
        };
        let mut cur = self.current_master(&want);
        if cur.is_some() {
            self.no_master_ticks = 0;
        } else {
            self.no_master_ticks += 1;
            if self.no_master_ticks >= self.threshold {
                cur = self.promote_lost_master(&want).await;
            }
        }
        // Drift: the Dragonfly master belongs on the MySQL active site. A ready replica
        // there takes over (sessions kept).
        if let Some(c) = cur.clone().filter(|c| *c != want) {
            let host = self.host(&c);
            if self
                .seen(&want)
                .is_some_and(|i| i.replica_ready() && i.master_host == host)
            {
                info!(from = %c, to = %want, "Dragonfly master is off the MySQL active site; taking over");
                match self.takeover(&want, false).await {
                    Ok(()) => {
                        self.metrics
                            .dragonfly_promotion(&self.api.name, &want, "success");
                        self.event(false, "DragonflyPromotionCompleted", &format!("Dragonfly on {want} took over from {c} (REPLTAKEOVER) to follow the MySQL active site")).await;
                        cur = Some(want.clone());
                        self.observe().await;
                    }
                    Err(e) => {
                        warn!(site = %want, error = %e, "Dragonfly takeover to the MySQL active site failed; retrying next tick")
                    }
                }
            }
        }
        let Some(cur) = cur else {
            self.publish(None);
            return;
        };
        if self.active != cur {
            info!(from = %self.active, to = %cur, "Dragonfly active site updated");
            self.active = cur.clone();
        }
        self.converge_followers(&cur).await;
        self.level_labels(&cur).await;
        self.publish(None);
    }

    /// The master is unreachable (or lost its data): promote a replica without touching
    /// MySQL (spec §7.2 newer code).
    async fn promote_lost_master(&mut self, want: &str) -> Option<String> {
        let target = self.best_replica(want)?;
        let lost = self.active.clone();
        warn!(lost = %lost, target = %target, "Dragonfly master lost; promoting a replica");
        match self.replicaof_no_one(&target).await {
            Ok(()) => {
                self.metrics
                    .dragonfly_promotion(&self.api.name, &target, "success");
                self.stamp_promotion(&target);
                self.event(
                    true,
                    "DragonflyPromotionCompleted",
                    &format!(
                        "Dragonfly master on {lost} lost; promoted {target} (REPLICAOF NO ONE)"
                    ),
                )
                .await;
                self.no_master_ticks = 0;
                self.observe().await;
                Some(target)
            }
            Err(e) => {
                self.metrics
                    .dragonfly_promotion(&self.api.name, &target, "failed");
                self.event(
                    true,
                    "DragonflyPromotionFailed",
                    &format!("promoting {target}: {e}"),
                )
                .await;
                None
            }
        }
    }

    async fn converge_followers(&mut self, cur: &str) {
        let host = self.host(cur);
        for site in self.sites.clone() {
            if site == cur {
                continue;
            }
            let Some(i) = self.seen(&site).cloned() else {
                continue;
            };
            let repoint = match i.role {
                Role::Master if i.pristine_master() => {
                    info!(site = %site, master = %cur, "unconfigured Dragonfly; replicating from the active site");
                    true
                }
                Role::Master => {
                    self.stale_master(&site, cur).await;
                    false
                }
                Role::Replica if i.master_host != host => true,
                Role::Replica if !i.link_up => {
                    let n = self.link_down_ticks.entry(site.clone()).or_default();
                    *n += 1;
                    *n >= self.threshold
                }
                Role::Replica => {
                    self.link_down_ticks.remove(&site);
                    false
                }
            };
            if repoint {
                self.link_down_ticks.remove(&site);
                let port = self.cfg.port;
                let r = async {
                    let mut c = self.conn(&site).await?;
                    c.replicaof(&host, port, OP_TIMEOUT).await
                }
                .await;
                match r {
                    Ok(()) => {
                        if i.role == Role::Master {
                            self.event(
                                false,
                                "DragonflyOldSiteReconfigured",
                                &format!("Dragonfly on {site} now replicates from {cur}"),
                            )
                            .await;
                        }
                    }
                    Err(e) => {
                        warn!(site = %site, error = %e, "REPLICAOF failed; retrying next tick")
                    }
                }
            }
        }
    }

    /// A second master holding data: never rejoined automatically (its writes would be
    /// thrown away); its traffic is stripped and a human is told.
    async fn stale_master(&mut self, site: &str, cur: &str) {
        self.set_labels(site, None, false).await;
        let due = self
            .stale_reported
            .get(site)
            .is_none_or(|t| t.elapsed() >= STALE_EVENT_DEDUP);
        if due {
            self.stale_reported.insert(site.into(), Instant::now());
            warn!(site = %site, active = %cur, "stale Dragonfly master detected");
            self.event(true, "DragonflyStaleMasterDetected", &format!("Dragonfly on {site} is a master holding data while {cur} is active; traffic stripped, rejoin it by hand (REPLICAOF) after checking its data")).await;
        }
    }

    async fn level_labels(&mut self, cur: &str) {
        for site in self.sites.clone() {
            let want = match self.seen(&site) {
                _ if site == cur => (Some("master"), true),
                Some(i) if i.role == Role::Replica => (Some("replica"), true),
                Some(_) => (None, false),
                None => (None, false),
            };
            self.set_labels(&site, want.0, want.1).await;
        }
    }

    async fn replicaof_no_one(&self, site: &str) -> Result<(), DfError> {
        let mut c = self.conn(site).await?;
        c.replicaof_no_one(OP_TIMEOUT).await
    }

    /// REPLTAKEOVER on `site` (half of maxSyncWait, or all of it on the planned path).
    async fn takeover(&mut self, site: &str, whole: bool) -> Result<(), DfError> {
        let secs = self.takeover_secs(whole);
        let mut c = self.conn(site).await?;
        c.repltakeover(secs, Duration::from_secs(secs) + TAKEOVER_GRACE)
            .await?;
        self.stamp_promotion(site);
        Ok(())
    }

    async fn kill_clients(&self, site: &str) {
        let r = async {
            let mut c = self.conn(site).await?;
            c.kill_normal_clients(OP_TIMEOUT).await
        };
        if let Err(e) = r.await {
            warn!(site = %site, error = %e, "CLIENT KILL on the old Dragonfly master failed");
        }
    }

    /// The emergency path (spec §7.3), after MySQL promoted `target`. The caller bounds
    /// it by [`EMERGENCY_BUDGET`].
    pub async fn emergency_promote(&mut self, target: &str, old: Option<&str>) {
        let old = old.filter(|o| *o != target).map(String::from);
        if self.password.is_none() {
            // A restarted controller may fail over before its first tick read the Secret.
            self.refresh_auth().await;
        }
        if let Some(o) = &old {
            self.set_labels(o, None, false).await;
        }
        let seen = match self.info(target).await {
            Ok(i) => i,
            Err(e) => {
                self.metrics
                    .dragonfly_promotion(&self.api.name, target, "failed");
                self.event(
                    true,
                    "DragonflyPromotionFailed",
                    &format!("Dragonfly on {target} is unreachable: {e}"),
                )
                .await;
                return;
            }
        };
        // The manager's own tick may have seen the master die before MySQL did and
        // promoted the target already: nothing to hand over, and no second promotion.
        if self.active == target && seen.role == Role::Master && !seen.pristine_master() {
            self.metrics
                .dragonfly_promotion(&self.api.name, target, "skipped");
            self.set_labels(target, Some("master"), true).await;
            info!(target = %target, "Dragonfly already serves from the MySQL failover target");
            self.publish(None);
            return;
        }
        let method = match self.takeover(target, false).await {
            Ok(()) => "REPLTAKEOVER",
            Err(e) => {
                warn!(site = %target, error = %e, "REPLTAKEOVER failed; falling back to REPLICAOF NO ONE (sessions lost)");
                match self.replicaof_no_one(target).await {
                    Ok(()) => {
                        self.stamp_promotion(target);
                        "REPLICAOF NO ONE"
                    }
                    Err(e2) => {
                        self.metrics
                            .dragonfly_promotion(&self.api.name, target, "failed");
                        self.event(true, "DragonflyPromotionFailed", &format!("promoting Dragonfly on {target}: REPLTAKEOVER: {e}; REPLICAOF NO ONE: {e2}")).await;
                        return;
                    }
                }
            }
        };
        self.metrics
            .dragonfly_promotion(&self.api.name, target, "success");
        self.set_labels(target, Some("master"), true).await;
        if let Some(o) = &old {
            // Demote before restoring traffic; a failed demote keeps it stripped.
            self.set_labels(o, Some("replica"), false).await;
            if self.labels.contains_key(o.as_str()) {
                self.set_labels(o, Some("replica"), true).await;
            }
            self.kill_clients(o).await;
        }
        info!(target = %target, method, "Dragonfly promoted after the MySQL failover");
        self.event(
            false,
            "DragonflyPromotionCompleted",
            &format!("Dragonfly on {target} promoted ({method}) after the MySQL failover"),
        )
        .await;
        self.publish(None);
    }

    /// Planned path, PromotingDragonfly (spec §7.4): strip the source's traffic,
    /// REPLTAKEOVER on the target with the whole maxSyncWait, label it master, and drop
    /// the old master's client connections. No REPLICAOF NO ONE fallback here.
    /// Returns the target's offset after the takeover.
    pub async fn planned_takeover(&mut self, target: &str, source: &str) -> Result<u64, DfError> {
        self.set_labels(source, None, false).await;
        self.takeover(target, true).await?;
        self.metrics
            .dragonfly_promotion(&self.api.name, target, "success");
        self.set_labels(target, Some("master"), true).await;
        self.kill_clients(source).await;
        let offset = self.info(target).await.map(|i| i.offset).unwrap_or(0);
        self.publish(Some("Promoting"));
        Ok(offset)
    }

    pub fn record_failed_promotion(&self, target: &str) {
        self.metrics
            .dragonfly_promotion(&self.api.name, target, "failed");
    }

    /// Rebuilds `status.dragonfly` from the last observation.
    fn publish(&mut self, phase: Option<&str>) {
        let host = (!self.active.is_empty()).then(|| self.host(&self.active));
        let mut sites = vec![];
        let (mut all_ready, mut degraded) = (true, false);
        for s in &self.sites {
            let mut st = DragonflySiteStatus {
                name: s.clone(),
                service_name: names::site_object(&self.api.name, s),
                pod_name: names::pod(&self.api.name, s),
                last_io_seconds_ago: -1,
                ..Default::default()
            };
            match self.observed.get(s) {
                None => st.role = "unknown".into(),
                Some(Err(e)) => {
                    st.role = "unreachable".into();
                    st.message = Some(e.clone());
                    degraded = true;
                }
                Some(Ok(i)) => {
                    st.reachable = true;
                    st.offset = i.offset;
                    st.role = match i.role {
                        Role::Master if *s == self.active => "master",
                        Role::Master if i.pristine_master() => "unconfigured",
                        Role::Master => {
                            degraded = true;
                            "stale-master"
                        }
                        Role::Replica => "replica",
                    }
                    .into();
                    if i.role == Role::Replica {
                        st.replication_state = if i.sync_in_progress {
                            "syncing"
                        } else {
                            "stable"
                        }
                        .into();
                        st.link_status = if i.link_up { "up" } else { "down" }.into();
                        st.sync_in_progress = i.sync_in_progress;
                        st.last_io_seconds_ago = i.last_io_seconds_ago;
                        st.ready = i.replica_ready() && Some(&i.master_host) == host.as_ref();
                    } else {
                        st.ready = *s == self.active;
                    }
                }
            }
            all_ready &= st.ready;
            sites.push(st);
        }
        let phase = match phase {
            Some(p) => p.to_string(),
            None if self.auth_problem.is_some() => "Degraded".into(),
            None if self.active.is_empty() || !self.is_master(&self.active) => {
                "ConfiguringReplication".into()
            }
            None if all_ready => "Ready".into(),
            None if degraded => "Degraded".into(),
            None => "Reconciling".into(),
        };
        let status = DragonflyStatus {
            enabled: true,
            active_site: self.active.clone(),
            message: self.auth_problem.clone().or_else(|| {
                (phase != "Ready").then(|| {
                    sites
                        .iter()
                        .filter(|s| !s.ready)
                        .map(|s| format!("{}: {}", s.name, s.role))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
            }),
            phase,
            last_promotion_time: self.last_promotion.as_ref().map(|p| p.0.clone()),
            last_promotion_target: self.last_promotion.as_ref().map(|p| p.1.clone()),
            sites,
        };
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }
}

/// The shared handle the topology manager keeps: the manager behind an async lock (one
/// operation at a time), its status readable without waiting.
#[derive(Clone)]
pub struct DragonflyHandle {
    inner: Arc<tokio::sync::Mutex<DragonflyManager>>,
    status: Arc<Mutex<DragonflyStatus>>,
    metrics: Metrics,
}

impl DragonflyHandle {
    pub fn new(m: DragonflyManager) -> Self {
        Self {
            status: m.status_cell(),
            metrics: m.metrics.clone(),
            inner: Arc::new(tokio::sync::Mutex::new(m)),
        }
    }

    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, DragonflyManager> {
        self.inner.lock().await
    }

    pub fn status(&self) -> DragonflyStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One tick in its own task, so a panic is counted and the loop goes on.
    pub async fn guarded_tick(&self, mysql_active: Option<String>, paused: bool) {
        let inner = self.inner.clone();
        let r = tokio::spawn(async move {
            inner
                .lock()
                .await
                .tick(mysql_active.as_deref(), paused)
                .await;
        })
        .await;
        if let Err(e) = r {
            if e.is_panic() {
                self.metrics.dragonfly_manager_panic();
                warn!("Dragonfly manager tick panicked; skipped");
            }
        }
    }

    /// Starts the emergency path in the background, bounded by [`EMERGENCY_BUDGET`]: the
    /// MySQL failover never waits for it.
    pub fn spawn_emergency(
        &self,
        target: String,
        old: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let run = async {
                inner
                    .lock()
                    .await
                    .emergency_promote(&target, old.as_deref())
                    .await
            };
            if tokio::time::timeout(EMERGENCY_BUDGET, run).await.is_err() {
                warn!(target = %target, "Dragonfly emergency promotion exceeded its 10s budget; abandoned");
            }
        })
    }
}
