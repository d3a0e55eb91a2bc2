//! Reclone (spec §5): `reclone-site=<site>:<gtid-prefix>` or `<site>:confirm=<group>`
//! replaces a site's data with a CLONE INSTANCE of the active primary, discarding the
//! divergent transactions that blocked its recovery. Rejections remove the annotation at
//! once; an accepted request keeps it until the clone attempt finishes, so a controller
//! restart retries.

use std::collections::BTreeMap;
use std::time::Duration;

use tracing::{info, warn};

use tokio::task::JoinHandle;

use super::{Manager, Recovery, Session};
use crate::annotations::{RecloneRequest, RECLONE_SITE};

/// Bound on one CLONE INSTANCE statement (the spec's cloneTimeout default is 3600s; the
/// clone blocks this group's poll while it runs).
pub const CLONE_TIMEOUT: Duration = Duration::from_secs(3600);

/// A clone in progress.
pub(super) struct Reclone {
    site: String,
    /// The annotation value that asked for it, removed when it ends.
    raw: String,
    task: JoinHandle<Result<(), String>>,
}

impl Manager {
    pub(super) async fn reclone_poll(&mut self, annotations: Option<&BTreeMap<String, String>>) {
        if let Some(r) = &self.reclone_running {
            if r.task.is_finished() {
                self.reclone_finish().await;
            }
            return; // one clone at a time; its annotation stays until it ends
        }
        let Some(annotations) = annotations else {
            return;
        };
        let Some(raw) = annotations.get(RECLONE_SITE).cloned() else {
            self.reclone_consumed = None;
            self.reclone_announced = None;
            return;
        };
        if self.reclone_consumed.as_deref() == Some(raw.as_str()) {
            self.reclone_remove_annotation(&raw).await;
            return;
        }
        let req = match RecloneRequest::parse(&raw) {
            Ok(r) => r,
            Err(e) => return self.reclone_reject(&raw, e.to_string()).await,
        };
        let Some(i) = self.site_index(&req.site) else {
            let names: Vec<&str> = self.sites.iter().map(|s| s.spec.name.as_str()).collect();
            let msg = format!("unknown site {:?} (sites: {})", req.site, names.join(", "));
            return self.reclone_reject(&raw, msg).await;
        };
        let active = self.active_site();
        if active == Some(i) {
            let msg = format!("cannot reclone the active primary {}", req.site);
            return self.reclone_reject(&raw, msg).await;
        }
        let divergent = match &self.sites[i].recovery {
            Recovery::Blocked { divergent } => divergent.to_string(),
            _ => String::new(),
        };
        let interlock = !self
            .registry
            .hooks()
            .broken(crate::fault_hooks::Broken::SkipRecloneInterlock);
        match req.check(self.group(), &divergent) {
            Err(msg) if interlock => return self.reclone_reject(&raw, msg).await,
            _ => {}
        }
        if self.reclone_announced.as_deref() != Some(raw.as_str()) {
            self.reclone_announced = Some(raw.clone());
            info!(site = %req.site, "reclone requested");
            self.reclone_event(
                false,
                "RecloneRequested",
                &format!("admin requested CLONE INSTANCE of site {:?}", req.site),
            )
            .await;
        }
        let Some(active) = active else {
            return; // waits for a confirmed writable primary to clone from
        };
        let donor = self.sites[active].host(self.group());
        let site = req.site.clone();
        info!(site = %site, donor = %donor, "starting bootstrap {{source=reclone}}");
        self.registry.metrics().reclone(&site);
        let (sql, host) = (self.seams.sql.clone(), self.sites[i].host(self.group()));
        let (user, password) = (self.creds.user.clone(), self.creds.password.clone());
        // The clone runs beside the poll loop: a long copy must not stall failure
        // detection and failover for the whole group.
        let task = tokio::spawn(async move {
            let mut s = Session::open(&*sql, &host, CLONE_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            let cloned = async {
                s.fence().await?;
                s.stop_replica().await?;
                s.clone_from(&donor, &user, &password).await
            };
            cloned.await.map_err(|e| e.to_string())
        });
        self.reclone_running = Some(Reclone { site, raw, task });
    }

    /// The site a clone is being copied into right now (recovery leaves it alone).
    pub(super) fn recloning(&self, site: &str) -> bool {
        self.reclone_running
            .as_ref()
            .is_some_and(|r| r.site == site)
    }

    /// Collects a finished clone: clears the block, reports, removes the annotation.
    async fn reclone_finish(&mut self) {
        let Some(r) = self.reclone_running.take() else {
            return;
        };
        let result = match r.task.await {
            Ok(result) => result,
            Err(e) => Err(format!("clone task ended abnormally: {e}")),
        };
        let site = r.site;
        match result {
            Ok(()) => {
                info!(site = %site, "bootstrap completed successfully");
                if let Some(i) = self.site_index(&site) {
                    self.sites[i].recovery = Recovery::None;
                    self.sites[i].retry_after = None;
                }
                self.reclone_event(
                    false,
                    "RecloneCompleted",
                    &format!("site {site} recloned from the active primary"),
                )
                .await;
            }
            Err(e) => {
                warn!(site = %site, error = %e, "bootstrap failed");
                self.reclone_event(
                    true,
                    "RecloneFailed",
                    &format!("reclone of {site} failed: {e}"),
                )
                .await;
            }
        }
        self.reclone_announced = None;
        self.reclone_remove_annotation(&r.raw).await;
    }

    async fn reclone_reject(&mut self, raw: &str, message: String) {
        warn!(annotation = %raw, detail = %message, "reclone rejected");
        self.reclone_remove_annotation(raw).await;
        self.reclone_event(
            true,
            "RecloneRejected",
            &format!("reclone-site={raw:?} rejected: {message}"),
        )
        .await;
    }

    async fn reclone_remove_annotation(&mut self, raw: &str) {
        match self.api.remove_annotation(RECLONE_SITE).await {
            Ok(()) => self.reclone_consumed = None,
            Err(e) => {
                warn!(error = %e, "removing the reclone-site annotation failed; retrying next poll");
                self.reclone_consumed = Some(raw.to_string());
            }
        }
    }

    async fn reclone_event(&self, warning: bool, reason: &str, message: &str) {
        if let Err(e) = self.api.event(warning, reason, message).await {
            warn!(reason, error = %e, "event write failed");
        }
    }
}
