//! The commands: preflight (the controller's own checks, from the live object), the
//! annotation write, and `--wait`.

use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Value};

use super::{render, Exit, Output, WaitArgs};
use crate::annotations::{
    PlannedRequest, RecloneConfirm, RecloneRequest, PLANNED_FAILOVER, RECLONE_SITE,
};
use crate::crd::{MysqlFailoverGroup, PlannedPhase, SiteRole};

/// Characters of divergentGtid the plugin quotes by default (the controller needs 8).
const AUTO_PREFIX: usize = 12;

pub struct Ctx {
    pub client: kube::Client,
    pub namespace: String,
    pub output: Output,
}

pub(super) fn write(out: &mut dyn std::io::Write, s: &str) -> Result<(), Exit> {
    out.write_all(s.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Exit::cluster(format!("writing the output: {e}")))
}

pub(super) fn api_error(what: &str, e: kube::Error) -> Exit {
    match e {
        kube::Error::Api(s) if s.code == 404 => Exit::bad_input(format!("{what} not found")),
        e => Exit::cluster(format!("{what}: {e}")),
    }
}

impl Ctx {
    fn api(&self) -> Api<MysqlFailoverGroup> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    pub(super) async fn get(&self, group: &str) -> Result<MysqlFailoverGroup, Exit> {
        self.api()
            .get(group)
            .await
            .map_err(|e| api_error(&format!("MysqlFailoverGroup {}/{group}", self.namespace), e))
    }

    pub(super) fn dump<T: serde::Serialize>(&self, v: &T) -> Result<String, Exit> {
        match self.output {
            Output::Json => serde_json::to_string_pretty(v)
                .map(|s| s + "\n")
                .map_err(|e| Exit::cluster(e.to_string())),
            _ => serde_yaml::to_string(v).map_err(|e| Exit::cluster(e.to_string())),
        }
    }

    pub async fn status(
        &self,
        group: Option<&str>,
        all: bool,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let wide = self.output == Output::Wide;
        if let Some(g) = group {
            let obj = self.get(g).await?;
            let text = match self.output {
                Output::Table | Output::Wide => {
                    render::group(&obj, wide) + &self.backup_summary(g, wide).await
                }
                _ => self.dump(&obj)?,
            };
            return write(out, &text);
        }
        let api: Api<MysqlFailoverGroup> = if all {
            Api::all(self.client.clone())
        } else {
            self.api()
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("listing MysqlFailoverGroups", e))?;
        let mut items = list.items;
        items.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        let text = match self.output {
            Output::Table | Output::Wide if items.is_empty() => {
                format!(
                    "No MysqlFailoverGroups found in namespace {}.\n",
                    self.namespace
                )
            }
            Output::Table | Output::Wide => render::groups(&items, wide, all),
            _ => self.dump(&json!({"apiVersion": "v1", "kind": "List", "items": items}))?,
        };
        write(out, &text)
    }

    async fn annotate(&self, group: &str, key: &str, value: &str) -> Result<(), Exit> {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.api()
            .patch(group, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(drop)
            .map_err(|e| {
                api_error(
                    &format!("annotating MysqlFailoverGroup {}/{group}", self.namespace),
                    e,
                )
            })
    }

    pub(super) fn site_known(obj: &MysqlFailoverGroup, site: &str) -> Result<SiteRole, Exit> {
        obj.spec
            .sites
            .iter()
            .find(|s| s.name == site)
            .map(|s| s.role)
            .ok_or_else(|| {
                let names: Vec<&str> = obj.spec.sites.iter().map(|s| s.name.as_str()).collect();
                Exit::bad_input(format!(
                    "site {site:?} is not defined in spec.sites ({})",
                    names.join(", ")
                ))
            })
    }

    pub async fn promote(
        &self,
        group: &str,
        req: PlannedRequest,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let obj = self.get(group).await?;
        let site = req.site.as_str();
        let role = Self::site_known(&obj, site)?;
        if role != SiteRole::PrimaryCandidate {
            return Err(Exit::bad_input(format!(
                "site {site} has role {}: only primary-candidate sites may be promoted",
                role.as_str()
            )));
        }
        let st = obj.status.clone().unwrap_or_default();
        if st.active_site == site {
            return Err(Exit::bad_input(format!(
                "site {site} is already the active primary"
            )));
        }
        if let Some(s) = st
            .sites
            .iter()
            .find(|s| s.name == site && !s.divergent_gtid.is_empty())
        {
            return Err(Exit::bad_input(format!(
                "site {site} has divergent transactions ({}): reclone it before promoting it",
                s.divergent_gtid
            )));
        }
        if let Some(p) = st.planned_failover.as_ref().filter(|p| p.phase.in_flight()) {
            return Err(Exit::bad_input(format!(
                "a planned failover to {} is in progress (phase {:?})",
                p.target_site, p.phase
            )));
        }
        if let Some(v) = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PLANNED_FAILOVER))
        {
            return Err(Exit::bad_input(format!(
                "a planned failover request is already pending ({PLANNED_FAILOVER}={v})"
            )));
        }
        let before = serde_json::to_value(&st.planned_failover).unwrap_or(Value::Null);
        let value = req.render();
        self.annotate(group, PLANNED_FAILOVER, &value).await?;
        write(
            out,
            &format!(
                "planned failover of {}/{group} to {site} requested ({PLANNED_FAILOVER}={value})\n",
                self.namespace
            ),
        )?;
        if wait.wait {
            self.wait_planned(group, before, wait, out).await?;
        }
        Ok(())
    }

    /// Polls `status.plannedFailover` until this request ends; one line per phase.
    async fn wait_planned(
        &self,
        group: &str,
        before: Value,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let deadline = tokio::time::Instant::now() + wait.timeout;
        let mut last_phase: Option<PlannedPhase> = None;
        loop {
            let obj = self.get(group).await?;
            let p = obj.status.and_then(|s| s.planned_failover);
            let now = serde_json::to_value(&p).unwrap_or(Value::Null);
            if let Some(p) = p.filter(|_| now != before) {
                if last_phase != Some(p.phase) {
                    last_phase = Some(p.phase);
                    write(out, &format!("phase: {:?}\n", p.phase))?;
                }
                let why = format!(
                    "{}: {}",
                    p.reason.clone().unwrap_or_default(),
                    p.message.clone().unwrap_or_default()
                );
                match p.phase {
                    PlannedPhase::Succeeded => {
                        write(
                            out,
                            &format!("planned failover to {} succeeded\n", p.target_site),
                        )?;
                        return Ok(());
                    }
                    PlannedPhase::Failed => {
                        return Err(Exit::failed(format!(
                            "planned failover failed: reason={why}"
                        )))
                    }
                    PlannedPhase::Deferred => {
                        return Err(Exit::failed(format!(
                            "planned failover deferred until {}: {why}",
                            p.retry_after.unwrap_or_default()
                        )))
                    }
                    _ => {}
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Exit::failed(format!(
                    "timed out after {} waiting for the planned failover of {group} (phase {})",
                    crate::duration::format(wait.timeout),
                    last_phase
                        .map(|p| format!("{p:?}"))
                        .unwrap_or_else(|| "not started".into())
                )));
            }
            tokio::time::sleep(wait.poll_interval).await;
        }
    }

    pub async fn reclone(
        &self,
        group: &str,
        site: &str,
        cold: bool,
        prefix: Option<String>,
        wait: &WaitArgs,
        out: &mut dyn std::io::Write,
    ) -> Result<(), Exit> {
        let obj = self.get(group).await?;
        Self::site_known(&obj, site)?;
        let st = obj.status.clone().unwrap_or_default();
        if st.active_site == site {
            return Err(Exit::bad_input(format!(
                "cannot reclone the active primary {site}"
            )));
        }
        let divergent = st
            .sites
            .iter()
            .find(|s| s.name == site)
            .map(|s| s.divergent_gtid.clone())
            .unwrap_or_default();
        let confirm = match (cold, prefix) {
            (true, _) => RecloneConfirm::Cold { group: group.to_string() },
            (false, Some(p)) => RecloneConfirm::GtidPrefix(p),
            (false, None) if !divergent.is_empty() => {
                RecloneConfirm::GtidPrefix(divergent.chars().take(AUTO_PREFIX).collect())
            }
            (false, None) => {
                return Err(Exit::bad_input(format!(
                    "site {site} has no divergentGtid recorded: a cold reclone wipes its data directory; confirm with --cold"
                )))
            }
        };
        let req = RecloneRequest {
            site: site.to_string(),
            confirm,
        };
        req.check(group, &divergent).map_err(Exit::bad_input)?;
        if let Some(v) = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RECLONE_SITE))
        {
            return Err(Exit::bad_input(format!(
                "a reclone request is already pending ({RECLONE_SITE}={v})"
            )));
        }
        let value = req.render();
        self.annotate(group, RECLONE_SITE, &value).await?;
        write(
            out,
            &format!(
                "reclone of {}/{group} site {site} requested ({RECLONE_SITE}={value})\n",
                self.namespace
            ),
        )?;
        if !wait.wait {
            return Ok(());
        }
        // The controller removes the annotation once the clone attempt has finished.
        let deadline = tokio::time::Instant::now() + wait.timeout;
        // The site's status is written at the end of the poll that removed the annotation.
        let mut grace = 3;
        loop {
            let obj = self.get(group).await?;
            let pending = obj
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RECLONE_SITE))
                .is_some();
            if !pending {
                let s = obj
                    .status
                    .and_then(|s| s.sites.into_iter().find(|s| s.name == site))
                    .unwrap_or_default();
                if s.recovery_state == "RecoveryBlocked" && grace > 0 {
                    grace -= 1;
                } else if s.recovery_state == "RecoveryBlocked" {
                    return Err(Exit::failed(format!(
                        "reclone of {site} finished but the site is still RecoveryBlocked (see the group's events)"
                    )));
                } else {
                    write(out, &format!("reclone of {site} finished\n"))?;
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Exit::failed(format!(
                    "timed out after {} waiting for the reclone of {site}",
                    crate::duration::format(wait.timeout)
                )));
            }
            tokio::time::sleep(wait.poll_interval).await;
        }
    }
}
