//! The Dragonfly half of the simulated world (spec §7): one fake Dragonfly host per site
//! (`mysql-<group>-dragonfly-<site>`), their pods in the apiserver (so the controller's
//! role and traffic labels are observable), the session workload writing through the
//! active Service's selection, and the `dragonfly-*` faults. Absent unless the scenario
//! sets `topology.spec.dragonfly = true`, so other runs are unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bloodraven::dragonfly::client::DfConn;
use bloodraven::dragonfly::names;
use bloodraven::net::SharedDialer;
use serde_json::{json, Value};

use super::{Links, APISERVER_HOST, CONTROLLER_HOST, GROUP, NAMESPACE};
use crate::fake_dragonfly::{self, Node, Role};
use crate::fake_k8s::ApiServer;
use crate::scenario::SpecOverrides;
use crate::trace::{EventKind, Trace};

/// The image the group declares (never pulled in the simulator).
pub const IMAGE: &str = "docker.dragonflydb.io/dragonflydb/dragonfly:v1.38.0";
/// The session workload's host and its write period.
pub const SESSIONS_HOST: &str = "sessions";
const SESSION_EVERY: Duration = Duration::from_millis(500);
/// With `dragonfly_auth`: the Secret the group's `spec.dragonfly.auth` names, and the
/// password in it (every Dragonfly's `requirepass`).
pub const AUTH_SECRET: &str = "mysql-demo-dragonfly-auth";
pub const PASSWORD: &str = "df-sessions-pw";

/// `spec.dragonfly` of the group, when the scenario enables it.
pub fn spec_json(o: &SpecOverrides) -> Option<Value> {
    if !o.dragonfly_enabled() {
        return None;
    }
    let mut planned = json!({});
    if let Some(v) = &o.dragonfly_max_sync_wait {
        planned["maxSyncWait"] = json!(v);
    }
    if let Some(v) = &o.dragonfly_on_sync_timeout {
        planned["onSyncTimeout"] = json!(v);
    }
    let mut df = json!({"enabled": true, "image": IMAGE, "plannedFailover": planned});
    if o.dragonfly_auth == Some(true) {
        df["auth"] = json!({ "secretName": AUTH_SECRET });
    }
    Some(df)
}

/// A `dragonfly-*` fault action.
#[derive(Clone, Debug)]
pub enum DfAction {
    Kill { site: String },
    Restart { site: String },
    Cut { site: String, heal: bool },
}

pub struct DfWorld {
    /// (site, host, node) in spec order.
    nodes: Vec<(String, String, Node)>,
    /// The host the active Service currently selects (None: no endpoint).
    target: Arc<Mutex<Option<(String, String)>>>,
    /// Why each downed site's Dragonfly is down: its own pod was killed
    /// ([`DownReason::Pod`]) and/or its node went away with the site ([`DownReason::Node`]).
    /// It runs again only once every reason has cleared.
    down: Mutex<BTreeMap<String, BTreeSet<DownReason>>>,
}

/// What keeps a Dragonfly down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DownReason {
    /// `dragonfly-kill`: the pod alone.
    Pod,
    /// `site-down` / `node-down`: the node the pod runs on.
    Node,
}

impl DfWorld {
    /// Seeds the pods, starts one Dragonfly host per site and the session workload.
    pub fn setup(
        sim: &mut turmoil::Sim<'_>,
        api: &ApiServer,
        sites: &[String],
        trace: &Trace,
        dialer: &SharedDialer,
        until: Duration,
        auth: bool,
    ) -> anyhow::Result<Self> {
        let password = auth.then(|| PASSWORD.to_string());
        if auth {
            api.put_raw(
                "secrets",
                json!({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": AUTH_SECRET, "namespace": NAMESPACE},
                       "stringData": {"password": PASSWORD}}),
            )
            .map_err(|e| anyhow::anyhow!("seeding the Dragonfly auth Secret: {e:?}"))?;
        }
        let mut nodes = vec![];
        for site in sites {
            let host = names::host(GROUP, site);
            let mut labels = serde_json::Map::new();
            for (k, v) in names::site_labels(GROUP, site) {
                labels.insert(k, json!(v));
            }
            api.put_raw(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": names::pod(GROUP, site), "namespace": NAMESPACE,
                                    "labels": labels},
                       "spec": {"containers": [{"name": "dragonfly", "image": IMAGE}]}}),
            )
            .map_err(|e| anyhow::anyhow!("seeding the Dragonfly pod of {site}: {e:?}"))?;
            let node = Node::new(site, &host, trace.clone());
            if let Some(pw) = &password {
                node.require_pass(pw);
            }
            let (n, d) = (node.clone(), dialer.clone());
            sim.host(host.as_str(), move || {
                let (n, d) = (n.clone(), d.clone());
                async move { Ok(fake_dragonfly::run_host(n, d).await?) }
            });
            nodes.push((site.clone(), host, node));
        }
        let target: Arc<Mutex<Option<(String, String)>>> = Arc::default();
        {
            let (target, dialer, trace) = (target.clone(), dialer.clone(), trace.clone());
            sim.host(SESSIONS_HOST, move || {
                let (target, dialer, trace) = (target.clone(), dialer.clone(), trace.clone());
                let password = password.clone();
                async move {
                    sessions(target, dialer, trace, until, password).await;
                    Ok(())
                }
            });
        }
        Ok(Self {
            nodes,
            target,
            down: Mutex::default(),
        })
    }

    /// The observer's beat: the active Service's endpoint is the first pod (spec order)
    /// labelled master with traffic enabled, as kube-proxy would route.
    pub fn observe(&self, api: &ApiServer) {
        let pick = self.nodes.iter().find(|(site, _, _)| selected(api, site));
        *self.target.lock().unwrap() = pick.map(|(s, h, _)| (s.clone(), h.clone()));
    }

    fn host(&self, site: &str) -> &str {
        &self
            .nodes
            .iter()
            .find(|n| n.0 == site)
            .expect("validated site")
            .1
    }

    pub(super) fn apply(
        &self,
        sim: &mut turmoil::Sim<'_>,
        a: &DfAction,
        links: &mut Links,
        trace: &Trace,
    ) {
        match a {
            DfAction::Kill { site } | DfAction::Restart { site } => {
                let up = matches!(a, DfAction::Restart { .. });
                trace.record(EventKind::Fault {
                    op: "dragonfly-kill".into(),
                    detail: site.clone(),
                    heal: up,
                });
                self.set_down(sim, site, DownReason::Pod, !up, trace);
            }
            DfAction::Cut { site, heal } => {
                let host = self.host(site).to_string();
                trace.record(EventKind::Fault {
                    op: "dragonfly-partition".into(),
                    detail: format!("{host} <-> everything"),
                    heal: *heal,
                });
                let mut peers: Vec<String> = vec![
                    CONTROLLER_HOST.into(),
                    APISERVER_HOST.into(),
                    SESSIONS_HOST.into(),
                ];
                peers.extend(
                    self.nodes
                        .iter()
                        .filter(|n| n.0 != *site)
                        .map(|n| n.1.clone()),
                );
                for p in peers {
                    if *heal {
                        links.heal(sim, &host, &p);
                    } else {
                        links.cut(sim, &host, &p);
                    }
                }
            }
        }
    }

    /// Adds (or clears) one reason for `site`'s Dragonfly to be down: the host crashes
    /// when the first reason appears and boots (empty) when the last one clears.
    pub(super) fn set_down(
        &self,
        sim: &mut turmoil::Sim<'_>,
        site: &str,
        reason: DownReason,
        down: bool,
        trace: &Trace,
    ) {
        let host = self.host(site).to_string();
        let mut all = self.down.lock().unwrap();
        let reasons = all.entry(site.to_string()).or_default();
        let was_down = !reasons.is_empty();
        if down {
            reasons.insert(reason);
        } else {
            reasons.remove(&reason);
        }
        let is_down = !reasons.is_empty();
        drop(all);
        match (was_down, is_down) {
            (false, true) => sim.crash(host.as_str()),
            (true, false) => sim.bounce(host.as_str()),
            _ => return,
        }
        trace.record(EventKind::Host { host, up: !is_down });
    }

    /// The Dragonfly host of `site`, if the site has one.
    pub(super) fn host_of(&self, site: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|n| n.0 == site)
            .map(|n| n.1.as_str())
    }

    /// End-of-run truth, one event per site.
    pub fn record_truth(&self, api: &ApiServer, trace: &Trace) {
        let down = self.down.lock().unwrap();
        for (site, _, node) in &self.nodes {
            let up = down.get(site).is_none_or(BTreeSet::is_empty);
            trace.record(EventKind::DragonflyTruth {
                site: site.clone(),
                up,
                role: match node.role() {
                    Role::Master => "master".into(),
                    Role::Replica { .. } => "replica".into(),
                },
                serving: selected(api, site),
                keys: if up { node.keys() } else { vec![] },
            });
        }
    }
}

/// Whether the active Service selects `site`'s Dragonfly pod (its labels match).
fn selected(api: &ApiServer, site: &str) -> bool {
    let selector = names::active_selector(GROUP);
    api.get("pods", NAMESPACE, &names::pod(GROUP, site))
        .is_some_and(|p| {
            selector
                .iter()
                .all(|(k, v)| p["metadata"]["labels"][k].as_str() == Some(v))
        })
}

/// The session workload: `SET session:<n>` through the active Service every 500ms,
/// recording each acknowledgement.
async fn sessions(
    target: Arc<Mutex<Option<(String, String)>>>,
    dialer: SharedDialer,
    trace: Trace,
    until: Duration,
    password: Option<String>,
) {
    let t = Duration::from_secs(1);
    let mut conn: Option<(String, DfConn)> = None;
    let mut n = 0u64;
    while crate::trace::now_ms() < until.as_millis() as u64 {
        tokio::time::sleep(SESSION_EVERY).await;
        let Some((site, host)) = target.lock().unwrap().clone() else {
            continue;
        };
        if conn.as_ref().is_none_or(|(h, _)| *h != host) {
            let open = async {
                let mut c = DfConn::open(&*dialer, &host, fake_dragonfly::PORT, t).await?;
                if let Some(pw) = &password {
                    c.auth(pw, t).await?;
                }
                Ok::<_, bloodraven::dragonfly::client::DfError>(c)
            };
            conn = open.await.ok().map(|c| (host.clone(), c));
        }
        let Some((_, c)) = conn.as_mut() else {
            continue;
        };
        n += 1;
        let key = format!("session:{n}");
        match c.call(&["SET", &key, "user"], t).await {
            Ok(_) => trace.record(EventKind::SessionAck { key, site }),
            Err(_) => conn = None,
        }
    }
}
