//! Auto-clone (spec §3.10): a follower whose data directory is empty (a lost PVC) is
//! cloned from the confirmed active site and set up to replicate from it. One step per
//! poll: `Cloning` → `WaitingForRestart` → `SetupReplication` → `Done` (or `Failed`,
//! retried after a backoff). The `Bootstrapping` condition reports the phase.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

use crate::crd::SiteRole;
use crate::sql::SqlConnector;

use super::mysql_ops::{Probe, Session};
use super::site_state::SiteState;

pub const LABEL: &str = "Auto-clone";
/// Probes after the clone before giving up on the recipient coming back.
const RESTART_TRIES: u32 = 10;
/// How long a failed clone waits before the site is considered again.
const FAILED_BACKOFF: Duration = Duration::from_secs(30);
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// A clone copies the whole data directory: its own, longer bound (the spec's
/// `cloneTimeout` minimum). The poll waits for it.
const CLONE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Cloning,
    WaitingForRestart { tries: u32 },
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

    /// The `Bootstrapping` condition: (status, reason, message).
    pub fn condition(&self) -> (bool, String, String) {
        match (&self.job, &self.last) {
            (Some((_, p)), _) => (
                true,
                p.as_str().into(),
                format!("{LABEL} in progress: {}", p.as_str()),
            ),
            (None, Some(Finished::Failed(e))) => {
                (true, "Failed".into(), format!("{LABEL} failed: {e}"))
            }
            (None, Some(Finished::Done)) => (
                false,
                "Done".into(),
                format!("{LABEL} completed successfully"),
            ),
            (None, None) => (
                false,
                "NotBootstrapping".into(),
                "No bootstrap in progress".into(),
            ),
        }
    }

    /// Picks a recipient: needs a confirmed active site and every core site answering;
    /// candidates first, then dr-only sites, then readers.
    fn detect(&self, active: usize, sites: &[SiteInput<'_>]) -> Option<String> {
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
        sql: &dyn SqlConnector,
        creds: (&str, &str),
        active: usize,
        sites: &[SiteInput<'_>],
    ) {
        let donor = &sites[active];
        let Some((site, phase)) = self.job.clone() else {
            if let Some(site) = self.detect(active, sites) {
                info!(site = %site, source = "auto-clone", donor = %donor.name, "starting bootstrap");
                self.job = Some((site, Phase::Cloning));
            }
            return;
        };
        let Some(recipient) = sites.iter().find(|s| s.name == site) else {
            self.job = None;
            return;
        };
        let next = match phase {
            Phase::Cloning => clone(sql, creds, donor, recipient)
                .await
                .map(|()| Phase::WaitingForRestart { tries: 0 }),
            Phase::WaitingForRestart { tries } => match recipient.probe {
                Some(p) if !p.gtid_executed.is_empty() => Ok(Phase::SetupReplication),
                _ if tries + 1 >= RESTART_TRIES => Err(format!(
                    "{site} did not come back with the cloned data after {RESTART_TRIES} polls"
                )),
                _ => Ok(Phase::WaitingForRestart { tries: tries + 1 }),
            },
            Phase::SetupReplication => {
                match setup_replication(sql, creds, &donor.host, &recipient.host).await {
                    Ok(()) => {
                        info!(site = %site, source = %donor.host, "bootstrap completed successfully");
                        self.job = None;
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

/// Re-confirms the donor's authority, fences the recipient, clones.
async fn clone(
    sql: &dyn SqlConnector,
    (user, password): (&str, &str),
    donor: &SiteInput<'_>,
    recipient: &SiteInput<'_>,
) -> Result<(), String> {
    let mut d = Session::open(sql, &donor.host, STEP_TIMEOUT)
        .await
        .map_err(|e| format!("donor {}: {e}", donor.name))?;
    if d.read_only()
        .await
        .map_err(|e| format!("donor {}: {e}", donor.name))?
    {
        return Err(format!("donor {} is no longer writable", donor.name));
    }
    let mut r = Session::open(sql, &recipient.host, CLONE_TIMEOUT)
        .await
        .map_err(|e| format!("{}: {e}", recipient.name))?;
    r.fence()
        .await
        .map_err(|e| format!("{}: {e}", recipient.name))?;
    match r.clone_from(&donor.host, user, password).await {
        Ok(()) => Ok(()),
        // The recipient restarts when the clone completes: a dropped connection is expected.
        Err(e) if e.is_transport() => Ok(()),
        Err(e) => Err(format!("{}: {e}", recipient.name)),
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
