//! The topology manager's side of the Dragonfly sidekick (spec §7): build its manager,
//! run its loop beside the poll loop, hand it the MySQL active site, and start the
//! emergency promotion after a MySQL failover without waiting for it.

use std::sync::{Arc, Mutex};

use tracing::info;

use super::Manager;
use crate::crd;
use crate::dragonfly::{DragonflyHandle, DragonflyManager, DragonflySetup};

/// The MySQL active site and whether a planned failover is in flight.
pub(super) type SharedView = Arc<Mutex<(Option<String>, bool)>>;

/// Aborts the Dragonfly loop when the topology manager's task ends (config change,
/// group deleted).
pub(super) struct LoopGuard(Option<tokio::task::JoinHandle<()>>);

impl Drop for LoopGuard {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

impl Manager {
    pub(super) fn build_dragonfly(
        &self,
        group: &crd::MysqlFailoverGroup,
    ) -> Option<DragonflyHandle> {
        let cfg = self.cfg.dragonfly.clone()?;
        let setup = DragonflySetup {
            api: self.api.clone(),
            dialer: self.seams.dialer.clone(),
            metrics: self.registry.metrics().clone(),
            cfg,
            sites: self.cfg.sites.iter().map(|s| s.name.clone()).collect(),
            failure_threshold: self.cfg.failure_threshold,
        };
        let prior = group.status.as_ref().and_then(|s| s.dragonfly.as_ref());
        Some(DragonflyHandle::new(DragonflyManager::new(setup, prior)))
    }

    /// The Dragonfly handle (component tests drive it directly).
    pub fn dragonfly(&self) -> Option<&DragonflyHandle> {
        self.dragonfly.as_ref()
    }

    /// One Dragonfly tick with the current view, in the caller's task (tests).
    pub async fn dragonfly_tick(&self) {
        if let Some(df) = &self.dragonfly {
            let (active, paused) = self
                .dragonfly_view
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            df.guarded_tick(active, paused).await;
        }
    }

    pub(super) fn spawn_dragonfly_loop(&self) -> LoopGuard {
        let Some(df) = self.dragonfly.clone() else {
            return LoopGuard(None);
        };
        let view = self.dragonfly_view.clone();
        let every = self.cfg.poll_interval;
        info!(group = %self.api.name, "Dragonfly manager started");
        LoopGuard(Some(tokio::spawn(async move {
            loop {
                let (active, paused) = view.lock().unwrap_or_else(|e| e.into_inner()).clone();
                df.guarded_tick(active, paused).await;
                tokio::time::sleep(every).await;
            }
        })))
    }

    pub(super) fn update_dragonfly_view(&self, planned_in_flight: bool) {
        if self.dragonfly.is_none() {
            return;
        }
        let active = self.active_site().map(|i| self.sites[i].spec.name.clone());
        let mut v = self
            .dragonfly_view
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Keep the last known active site through a poll that saw no writer.
        if active.is_some() {
            v.0 = active;
        }
        v.1 = planned_in_flight;
    }

    /// Emergency path (spec §7.3): best effort, in the background, never awaited here.
    pub(super) fn dragonfly_after_failover(&mut self, target: &str, old: Option<String>) {
        if let Some(df) = &self.dragonfly {
            {
                let mut v = self
                    .dragonfly_view
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                v.0 = Some(target.to_string());
            }
            df.spawn_emergency(target.to_string(), old);
        }
    }
}
