//! The Dragonfly phases of a planned failover (spec §7.4), between WaitingForLag and
//! Promoting: wait until the target's Dragonfly has the source's offset at drain time,
//! then REPLTAKEOVER. A timeout or failure either proceeds with the MySQL promotion
//! (sessions not preserved) or rolls back, as `onSyncTimeout` says.

use tracing::{info, warn};

use super::planned::elapsed;
use super::{fmt_stamp, Manager};
use crate::crd::{PlannedFailoverStatus, PlannedPhase};
use crate::dragonfly::info::Role;
use crate::dragonfly::{OnSyncTimeout, PlannedDragonflyStatus};

impl Manager {
    fn planned_df_status(p: &PlannedFailoverStatus) -> PlannedDragonflyStatus {
        p.dragonfly.clone().unwrap_or(PlannedDragonflyStatus {
            enabled: true,
            ..Default::default()
        })
    }

    pub(super) async fn planned_dragonfly_sync(&mut self, p: &PlannedFailoverStatus) {
        let Some(df) = self.dragonfly.clone() else {
            self.planned_set(|p| p.phase = PlannedPhase::Promoting);
            return;
        };
        let now = self.seams.clock.now();
        let (source, target) = (p.source_primary.clone(), p.target_site.clone());
        let mut d = Self::planned_df_status(p);
        if d.sync_wait_start_time.is_none() {
            d.sync_wait_start_time = Some(fmt_stamp(now));
            match df.lock().await.info(&source).await {
                Ok(i) if i.role == Role::Master => d.source_offset_at_drain = Some(i.offset),
                Ok(_) => {
                    d.offset_capture_failed = true;
                    d.message = Some(format!("Dragonfly on {source} is not a master"));
                }
                Err(e) => {
                    d.offset_capture_failed = true;
                    d.message = Some(e.to_string());
                }
            }
            if d.offset_capture_failed {
                warn!(source = %source, detail = ?d.message, "planned failover: source Dragonfly offset not captured; best effort");
            }
            self.planned_set(|p| p.dragonfly = Some(d));
            return;
        }
        let max_wait = df.lock().await.config().max_sync_wait;
        let waited = elapsed(d.sync_wait_start_time.as_deref(), now);
        let synced = d.offset_capture_failed
            || match df.lock().await.info(&target).await {
                Ok(i) => i.replica_ready() && i.offset >= d.source_offset_at_drain.unwrap_or(0),
                Err(_) => false,
            };
        if synced {
            info!(target = %target, waited_ms = waited.as_millis() as u64, "planned failover: target Dragonfly in sync");
            d.sync_wait_seconds = Some(waited.as_secs() as i64);
            self.planned_set(|p| {
                p.dragonfly = Some(d);
                p.phase = PlannedPhase::PromotingDragonfly;
            });
            return;
        }
        if waited >= max_wait {
            d.sync_wait_seconds = Some(waited.as_secs() as i64);
            let msg = format!(
                "Dragonfly on {target} did not reach the source offset {} within maxSyncWait {}",
                d.source_offset_at_drain.unwrap_or(0),
                crate::duration::format(max_wait)
            );
            self.planned_dragonfly_give_up(d, "DragonflySyncTimeout", msg)
                .await;
        }
    }

    pub(super) async fn planned_promoting_dragonfly(&mut self, p: &PlannedFailoverStatus) {
        if self.planned_persisted_phase() != Some(PlannedPhase::PromotingDragonfly) {
            return; // take over only once a restart would know it may have happened
        }
        let Some(df) = self.dragonfly.clone() else {
            self.planned_set(|p| p.phase = PlannedPhase::Promoting);
            return;
        };
        let (source, target) = (p.source_primary.clone(), p.target_site.clone());
        let mut d = Self::planned_df_status(p);
        // A restart after the takeover but before the phase write: already done.
        let done = {
            let m = df.lock().await;
            let t = m.info(&target).await;
            let s = m.info(&source).await;
            matches!(&t, Ok(i) if i.role == Role::Master && !i.pristine_master())
                && !matches!(&s, Ok(i) if i.role == Role::Master)
        };
        let result = if done {
            let off = df
                .lock()
                .await
                .info(&target)
                .await
                .map(|i| i.offset)
                .unwrap_or(0);
            Ok(off)
        } else {
            self.planned_event(
                false,
                "DragonflyPromotionStarted",
                &format!("REPLTAKEOVER on {target}'s Dragonfly"),
            );
            df.lock().await.planned_takeover(&target, &source).await
        };
        match result {
            Ok(off) => {
                d.target_offset_at_promotion = Some(off);
                d.sessions_preserved = Some(true);
                d.promotion_method = Some("REPLTAKEOVER".into());
                d.reason = None;
                info!(target = %target, offset = off, "planned failover: Dragonfly promoted, sessions preserved");
                self.planned_set(|p| {
                    p.dragonfly = Some(d);
                    p.phase = PlannedPhase::Promoting;
                });
                self.planned_event(
                    false,
                    "DragonflyPromotionCompleted",
                    &format!("Dragonfly on {target} took over from {source}; sessions preserved"),
                );
            }
            Err(e) => {
                let msg = format!("REPLTAKEOVER on {target}'s Dragonfly failed: {e}");
                self.planned_dragonfly_give_up(d, "DragonflyPromotionFailed", msg)
                    .await;
            }
        }
    }

    /// Timeout or failure: `proceed` promotes MySQL anyway (sessions lost), `fail` rolls
    /// the planned failover back.
    async fn planned_dragonfly_give_up(
        &mut self,
        mut d: PlannedDragonflyStatus,
        reason: &'static str,
        message: String,
    ) {
        let Some(df) = self.dragonfly.clone() else {
            return;
        };
        let target = self
            .planned
            .as_ref()
            .map(|p| p.target_site.clone())
            .unwrap_or_default();
        let policy = {
            let m = df.lock().await;
            m.record_failed_promotion(&target);
            m.config().on_sync_timeout
        };
        warn!(target = %target, reason, detail = %message, policy = ?policy, "planned failover: Dragonfly not promoted");
        d.sessions_preserved = Some(false);
        d.reason = Some(reason.into());
        d.message = Some(message.clone());
        self.planned_set(|p| p.dragonfly = Some(d));
        self.planned_event(true, reason, &message);
        match policy {
            OnSyncTimeout::Proceed => self.planned_set(|p| p.phase = PlannedPhase::Promoting),
            OnSyncTimeout::Fail => self.planned_rollback(reason, message, "failed_other").await,
        }
    }
}
