//! Errant transactions on a healthy follower (spec §3.8, NDA(3)). A follower that keeps
//! replicating directly from the active site can still commit local transactions (a human
//! or an application as a privileged user bypasses `read_only`). The repoint path checks
//! containment only when it repoints, so without this check such a follower would stay
//! `Converged` forever, silently holding rows the primary lacks and serving them. Every
//! poll compares the probed GTID sets; a suspected follower is re-read (follower first,
//! then the active, so a transaction the follower fetched after the active's probe cannot
//! look errant), then replication is stopped and the site reported `RecoveryBlocked` /
//! `Blocked/GTIDDiverged` with its exact divergent set, exactly like a divergent old
//! primary. From then on the blocked-follower path re-verifies it every 30s and rejoins it
//! if the divergence is resolved (for instance by a reclone).

use tracing::warn;

use super::{Broken, GtidSet, Manager, Recovery, PROBE_TIMEOUT};

impl Manager {
    /// Whether the probed sets make follower `i` suspect: it holds a GTID the active's
    /// probe lacks. The probe race (parallel reads) is settled by [`Self::stop_errant`].
    pub(super) fn errant_suspect(&self, i: usize, active_gtid: &GtidSet) -> bool {
        let site = &self.sites[i];
        !matches!(site.recovery, Recovery::Blocked { .. })
            && !self.bootstrap.owns(&site.spec.name)
            && !self.registry.hooks().broken(Broken::RepointDivergent)
            && site
                .probe
                .as_ref()
                .is_some_and(|p| !p.gtid_executed.subtract(active_gtid).is_empty())
    }

    /// Re-reads the follower's and then the active's GTID sets; when the follower really
    /// holds transactions the active lacks, stops its replication (the one mutation of this
    /// poll) and blocks it. Returns whether it mutated.
    pub(super) async fn stop_errant(&mut self, i: usize, active: &str) -> bool {
        let name = self.sites[i].spec.name.clone();
        let r = async {
            let mut s = self.session(&name, PROBE_TIMEOUT).await?;
            let own = s.gtid_executed().await?;
            let new = {
                let mut a = self.session(active, PROBE_TIMEOUT).await?;
                a.gtid_executed().await?
            };
            let divergent = own.subtract(&new);
            if divergent.is_empty() {
                return Ok(None);
            }
            s.stop_replica().await?;
            Ok::<_, crate::sql::SqlError>(Some((divergent, own, new)))
        }
        .await;
        match r {
            Ok(None) => false,
            Ok(Some((divergent, own, new))) => {
                warn!(site = %name, stage = "containment", "replication source convergence blocked");
                self.block(i, divergent, &own, &new);
                true
            }
            Err(e) => {
                warn!(site = %name, error = %e, stage = "containment", "replication source convergence failed");
                true
            }
        }
    }
}
