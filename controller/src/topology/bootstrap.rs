//! Auto-clone (spec §3.10): a follower whose data directory is empty (a lost PVC) is
//! cloned from the confirmed active site and set up to replicate from it. One step per
//! poll: `Cloning` → `WaitingForRestart` → `SetupReplication` → `Done` (or `Failed`,
//! retried after a backoff). The `Bootstrapping` condition reports the phase.
//!
//! A fresh deploy (every site's data directory empty, no failover history) is the same job
//! after one seeding step: the seed site (first promotable `sitePriorities` entry, else
//! the first candidate) is made the only writer, then every other site is cloned from it,
//! candidates first, then dr-only sites, then readers. Its label is `Bootstrap`. Being
//! level-triggered, it survives a controller restart: the seed is writable by then, the
//! remaining empty sites are found again, and the label is restored from status.
//!
//! The copy itself runs in a task beside the poll loop: a clone can take minutes, and the
//! group keeps being probed, failed over and DNS-healed meanwhile (level-triggered).

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::crd::SiteRole;
use crate::gtid::GtidSet;
use crate::sql::{SharedSqlConnector, SqlConnector};

use super::mysql_ops::{Probe, Session};
use super::site_state::SiteState;

pub const LABEL: &str = "Auto-clone";
/// The label of a fresh-deploy bootstrap.
pub const FRESH_LABEL: &str = "Bootstrap";
/// Probes after the clone before giving up on the recipient coming back.
const RESTART_TRIES: u32 = 10;
/// How long a failed clone waits before the site is considered again.
const FAILED_BACKOFF: Duration = Duration::from_secs(30);
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// A clone copies the whole data directory: its own, longer bound (the spec's
/// `cloneTimeout` minimum). The poll does not wait for it.
const CLONE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Cloning,
    /// `want`: the donor's GTID set when the clone started, which the recipient must hold.
    WaitingForRestart {
        tries: u32,
        want: GtidSet,
    },
    SetupReplication,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::Cloning => "Cloning",
            Phase::WaitingForRestart { .. } => "WaitingForRestart",
            Phase::SetupReplication => "SetupReplication",
        }
    }
}

/// The last finished run, for the condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finished {
    Done,
    Failed(String),
}

/// What the manager tells the bootstrap about one site this poll.
pub struct SiteInput<'a> {
    pub name: &'a str,
    pub host: String,
    pub role: SiteRole,
    pub state: SiteState,
    pub probe: Option<&'a Probe>,
    /// Old-primary recovery owns the site (§3.7): not a bootstrap recipient.
    pub in_recovery: bool,
}

#[derive(Default)]
pub struct AutoClone {
    /// (recipient, phase) of the run in flight.
    pub job: Option<(String, Phase)>,
    pub last: Option<Finished>,
    retry_after: Option<(String, Instant)>,
    /// The copy in flight, started by the `Cloning` step and collected once finished.
    copy: Option<JoinHandle<Result<GtidSet, String>>>,
    /// A fresh-deploy bootstrap is running (or was the last run): label `Bootstrap`.
    pub fresh: bool,
}

/// An empty data dir: no GTIDs and no replication configuration.
fn is_empty(p: &Probe) -> bool {
    p.gtid_executed.is_empty() && p.replica.as_ref().is_none_or(|r| r.source_host.is_empty())
}

impl AutoClone {
    /// Whether `site` is being cloned (convergence leaves it alone meanwhile).
    pub fn owns(&self, site: &str) -> bool {
        self.job.as_ref().is_some_and(|(s, _)| s == site)
    }

    fn label(&self) -> &'static str {
        if self.fresh {
            FRESH_LABEL
        } else {
            LABEL
        }
    }

    /// Restores the label of a fresh-deploy bootstrap a previous controller reported in
    /// progress (the sites it still has to clone are found again from their probes).
    pub fn rehydrate(&mut self, condition_message: &str) {
        self.fresh = condition_message.starts_with(&format!("{FRESH_LABEL} in progress"));
    }

    /// The `Bootstrapping` condition: (status, reason, message).
    pub fn condition(&self) -> (bool, String, String) {
        let label = self.label();
        match (&self.job, &self.last) {
            (Some((_, p)), _) => (
                true,
                p.as_str().into(),
                format!("{label} in progress: {}", p.as_str()),
            ),
            (None, None) if self.fresh => (
                true,
                "Seeding".into(),
                format!("{label} in progress: Seeding"),
            ),
            (None, Some(Finished::Failed(e))) => {
                (true, "Failed".into(), format!("{label} failed: {e}"))
            }
            (None, Some(Finished::Done)) => (
                false,
                "Done".into(),
                format!("{label} completed successfully"),
            ),
            (None, None) => (
                false,
                "NotBootstrapping".into(),
                "No bootstrap in progress".into(),
            ),
        }
    }

    /// Picks a recipient: needs a confirmed active site and every core site answering;
    /// candidates first, then dr-only sites, then readers. `except`: a site just done.
    fn detect(
        &self,
        active: usize,
        sites: &[SiteInput<'_>],
        except: Option<&str>,
    ) -> Option<String> {
        // Confirmed: this poll's probe read it writable (the debounced state lags a loss).
        if sites[active].probe.is_none_or(|p| p.read_only) {
            return None;
        }
        let core_reachable = sites
            .iter()
            .filter(|s| s.role != SiteRole::ReadOnly)
            .all(|s| {
                s.probe.is_some() && matches!(s.state, SiteState::Writable | SiteState::ReadOnly)
            });
        if !core_reachable {
            return None;
        }
        let now = Instant::now();
        let order = [
            SiteRole::PrimaryCandidate,
            SiteRole::DrOnly,
            SiteRole::ReadOnly,
        ];
        order.iter().find_map(|role| {
            sites.iter().enumerate().find_map(|(i, s)| {
                let backing_off = self
                    .retry_after
                    .as_ref()
                    .is_some_and(|(n, t)| n == s.name && now < *t);
                (i != active
                    && Some(s.name) != except
                    && s.role == *role
                    && s.state == SiteState::ReadOnly
                    && !s.in_recovery
                    && !backing_off
                    && s.probe.is_some_and(is_empty))
                .then(|| s.name.to_string())
            })
        })
    }

    /// One step. `active` indexes the confirmed writable active site in `sites`.
    pub async fn step(
        &mut self,
        sql: &SharedSqlConnector,
        creds: (&str, &str),
        active: usize,
        sites: &[SiteInput<'_>],
    ) {
        let donor = &sites[active];
        let Some((site, phase)) = self.job.clone() else {
            if let Some(site) = self.detect(active, sites, None) {
                if self.last.is_some() || !self.fresh {
                    // A new run after a finished one is an auto-clone (a lost volume).
                    self.fresh = false;
                    info!(site = %site, source = "auto-clone", donor = %donor.name, "starting bootstrap");
                } else {
                    info!(site = %site, donor = %donor.name, "fresh-deploy bootstrap: cloning the next site");
                }
                self.job = Some((site, Phase::Cloning));
            } else if self.fresh
                && self.last.is_none()
                && sites
                    .iter()
                    .enumerate()
                    .all(|(i, s)| i == active || s.probe.is_some_and(|p| !is_empty(p)))
            {
                info!(seed = %donor.name, "bootstrap completed successfully");
                self.last = Some(Finished::Done);
            }
            return;
        };
        let Some(recipient) = sites.iter().find(|s| s.name == site) else {
            self.job = None;
            return;
        };
        let next = match phase {
            Phase::Cloning => match self.copy.take() {
                None => {
                    self.copy = Some(tokio::spawn(clone(
                        sql.clone(),
                        (creds.0.to_string(), creds.1.to_string()),
                        (donor.name.to_string(), donor.host.clone()),
                        (recipient.name.to_string(), recipient.host.clone()),
                    )));
                    return;
                }
                Some(task) if !task.is_finished() => {
                    self.copy = Some(task);
                    return;
                }
                Some(task) => match task.await {
                    Ok(r) => r.map(|want| Phase::WaitingForRestart { tries: 0, want }),
                    Err(e) => Err(format!("clone task of {site} ended abnormally: {e}")),
                },
            },
            Phase::WaitingForRestart { tries, want } => match recipient.probe {
                Some(p) if want.is_subset_of(&p.gtid_executed) => Ok(Phase::SetupReplication),
                _ if tries + 1 >= RESTART_TRIES => Err(format!(
                    "{site} did not come back with the cloned data after {RESTART_TRIES} polls"
                )),
                _ => Ok(Phase::WaitingForRestart {
                    tries: tries + 1,
                    want,
                }),
            },
            Phase::SetupReplication => {
                match setup_replication(&**sql, creds, &donor.host, &recipient.host).await {
                    Ok(()) => {
                        self.job = None;
                        if self.fresh && self.last.is_none() {
                            info!(site = %site, source = %donor.host, "fresh-deploy bootstrap: site replicating");
                            if let Some(next) = self.detect(active, sites, Some(&site)) {
                                self.job = Some((next, Phase::Cloning));
                                return;
                            }
                        }
                        info!(site = %site, source = %donor.host, "bootstrap completed successfully");
                        self.last = Some(Finished::Done);
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match next {
            Ok(p) => self.job = Some((site, p)),
            Err(e) => {
                warn!(site = %site, error = %e, "bootstrap failed");
                self.retry_after = Some((site, Instant::now() + FAILED_BACKOFF));
                self.job = None;
                self.last = Some(Finished::Failed(e));
            }
        }
    }
}

/// Re-confirms the donor's authority, fences the recipient, clones. `donor` and
/// `recipient` are (site, host). Returns the donor's GTID set as the clone started.
async fn clone(
    sql: SharedSqlConnector,
    (user, password): (String, String),
    (donor, donor_host): (String, String),
    (recipient, recipient_host): (String, String),
) -> Result<GtidSet, String> {
    let mut d = Session::open(&*sql, &donor_host, STEP_TIMEOUT)
        .await
        .map_err(|e| format!("donor {donor}: {e}"))?;
    if d.read_only()
        .await
        .map_err(|e| format!("donor {donor}: {e}"))?
    {
        return Err(format!("donor {donor} is no longer writable"));
    }
    let want = d
        .gtid_executed()
        .await
        .map_err(|e| format!("donor {donor}: {e}"))?;
    let mut r = Session::open(&*sql, &recipient_host, CLONE_TIMEOUT)
        .await
        .map_err(|e| format!("{recipient}: {e}"))?;
    r.fence().await.map_err(|e| format!("{recipient}: {e}"))?;
    match r.clone_from(&donor_host, &user, &password).await {
        Ok(()) => Ok(want),
        // The recipient restarts when the clone completes: a dropped connection is expected.
        Err(e) if e.is_transport() => Ok(want),
        Err(e) => Err(format!("{recipient}: {e}")),
    }
}

async fn setup_replication(
    sql: &dyn SqlConnector,
    (user, password): (&str, &str),
    donor_host: &str,
    recipient_host: &str,
) -> Result<(), String> {
    let r = async {
        let mut s = Session::open(sql, recipient_host, STEP_TIMEOUT).await?;
        s.fence().await?;
        s.stop_replica().await?;
        s.reset_replica_all().await?;
        s.change_source(donor_host, user, password).await?;
        s.start_replica().await
    };
    r.await.map_err(|e| format!("{recipient_host}: {e}"))
}

/// A fresh deploy (spec §3.10): every core site answers, none holds data or replication
/// configuration, and there is no writer or more than one. Returns the seed: the first
/// promotable `sitePriorities` entry, else the first primary-candidate.
pub fn fresh_deploy_seed(sites: &[SiteInput<'_>], priorities: &[String]) -> Option<usize> {
    let core_empty = sites
        .iter()
        .filter(|s| s.role != SiteRole::ReadOnly)
        .all(|s| s.probe.is_some_and(is_empty) && !s.in_recovery);
    let writers = sites
        .iter()
        .filter(|s| s.probe.is_some_and(|p| !p.read_only))
        .count();
    if !core_empty || writers == 1 {
        return None;
    }
    priorities
        .iter()
        .find_map(|p| {
            sites
                .iter()
                .position(|s| s.name == p && s.role == SiteRole::PrimaryCandidate)
        })
        .or_else(|| {
            sites
                .iter()
                .position(|s| s.role == SiteRole::PrimaryCandidate)
        })
}

/// Seeds a fresh deploy: fences every other site and confirms each read-only, then makes
/// the seed writable and confirms it. `sites` are (name, host); `Err` names the step.
pub async fn seed_fresh_deploy(
    sql: &dyn SqlConnector,
    seed: usize,
    sites: &[(String, String)],
) -> Result<(), String> {
    for (i, (name, host)) in sites.iter().enumerate() {
        if i == seed {
            continue;
        }
        let mut s = Session::open(sql, host, STEP_TIMEOUT)
            .await
            .map_err(|e| format!("fencing {name}: {e}"))?;
        s.fence()
            .await
            .map_err(|e| format!("fencing {name}: {e}"))?;
        if !s
            .read_only()
            .await
            .map_err(|e| format!("confirming {name} read-only: {e}"))?
        {
            return Err(format!("{name} still writable after fencing"));
        }
    }
    let (name, host) = &sites[seed];
    let mut s = Session::open(sql, host, STEP_TIMEOUT)
        .await
        .map_err(|e| format!("unfencing the seed {name}: {e}"))?;
    s.unfence()
        .await
        .map_err(|e| format!("unfencing the seed {name}: {e}"))?;
    match s.read_only().await {
        Ok(false) => Ok(()),
        Ok(true) => Err(format!("the seed {name} still reads read-only")),
        Err(e) => Err(format!("confirming the seed {name} writable: {e}")),
    }
}
