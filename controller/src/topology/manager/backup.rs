//! Hands this poll's view of the sites to the backup reconcile (`crate::backup`), which
//! chooses sources from it and drives the group's MysqlBackups and verifications.

use tracing::warn;

use super::Manager;
use crate::backup::crd::BackupSpec;
use crate::backup::reconcile::{poll, GroupView, RequestEvent};
use crate::backup::source::SourceView;

impl Manager {
    pub(super) async fn backup_poll(&mut self, spec: &BackupSpec) {
        let active = self.active_site();
        let sites = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, s)| SourceView {
                name: s.spec.name.clone(),
                role: s.spec.role,
                active: active == Some(i),
                reachable: s.probe.is_some(),
                replicating: s.replicating(),
                lag_seconds: s
                    .probe
                    .as_ref()
                    .and_then(|p| p.replica.as_ref())
                    .and_then(|r| r.seconds_behind_source),
                catching_up: s.probe.as_ref().is_some_and(|p| {
                    p.read_only
                        && p.replica.as_ref().is_some_and(|r| {
                            (r.io_running || r.sql_running)
                                && !(s.replicating() && r.seconds_behind_source.is_some())
                        })
                }),
            })
            .collect();
        let hosts = self
            .sites
            .iter()
            .map(|s| (s.spec.name.clone(), s.host(self.group())))
            .collect();
        let view = GroupView {
            client: self.api.client.clone(),
            namespace: &self.api.namespace,
            group: &self.api.name,
            profiles: &spec.profiles,
            sites,
            hosts,
            now: self.seams.clock.now(),
        };
        for RequestEvent { object, event: ev } in poll(&view).await {
            if let Err(e) = self
                .api
                .event_on(object, ev.warning, ev.reason, &ev.message)
                .await
            {
                warn!(reason = ev.reason, error = %e, "event write failed");
            }
        }
    }
}
