//! Ground truth reconstructed from the trace: who was writable when, what each site had
//! committed when, what the controller published.

use std::collections::BTreeMap;

use bloodraven::gtid::GtidSet;
use serde::{Deserialize, Serialize};

use crate::trace::{Event, EventKind};

/// The world at the end of the run, read from the fakes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Final {
    pub sites: Vec<SiteTruth>,
    /// `status` of the MysqlFailoverGroup as stored by the apiserver.
    pub status: serde_json::Value,
    /// Site the DNS record points at.
    pub dns_target: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteTruth {
    pub name: String,
    pub up: bool,
    pub read_only: bool,
    pub server_uuid: String,
    pub gtid_executed: String,
    pub rows: Vec<u64>,
    pub source_host: String,
    pub io_running: bool,
    pub sql_running: bool,
}

impl Final {
    pub fn site(&self, name: &str) -> Option<&SiteTruth> {
        self.sites.iter().find(|s| s.name == name)
    }

    /// `status.activeSite` ("" when absent).
    pub fn active_site(&self) -> String {
        self.status["activeSite"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn status_site(&self, name: &str) -> Option<&serde_json::Value> {
        self.status["sites"]
            .as_array()?
            .iter()
            .find(|s| s["name"] == name)
    }

    /// The single up, writable site at the end, if there is exactly one.
    pub fn sole_writer(&self) -> Option<&SiteTruth> {
        let w: Vec<&SiteTruth> = self.sites.iter().filter(|s| s.up && !s.read_only).collect();
        (w.len() == 1).then(|| w[0])
    }
}

/// Replays MysqlState events: is `site` up and writable at each point.
#[derive(Default)]
pub struct Writability {
    state: BTreeMap<String, (bool, bool)>,
}

impl Writability {
    pub fn apply(&mut self, e: &Event) {
        if let EventKind::MysqlState {
            site,
            up,
            read_only,
            ..
        } = &e.kind
        {
            self.state.insert(site.clone(), (*up, *read_only));
        }
    }

    pub fn writable(&self, site: &str) -> bool {
        self.state.get(site).is_some_and(|(up, ro)| *up && !*ro)
    }

    pub fn writers(&self) -> Vec<String> {
        self.state
            .iter()
            .filter(|(_, (up, ro))| *up && !*ro)
            .map(|(s, _)| s.clone())
            .collect()
    }
}

/// Replays Commit events: each site's executed GTID set over time.
#[derive(Default)]
pub struct Executed {
    pub sets: BTreeMap<String, GtidSet>,
}

impl Executed {
    pub fn apply(&mut self, e: &Event) {
        match &e.kind {
            EventKind::Commit { site, gtid, .. } => {
                self.sets
                    .entry(site.to_string())
                    .or_default()
                    .add(&gtid.uuid, gtid.gno);
            }
            EventKind::DatadirWiped { site } => {
                self.sets.remove(site);
            }
            _ => {}
        }
    }

    pub fn of(&self, site: &str) -> GtidSet {
        self.sets.get(site).cloned().unwrap_or_default()
    }
}

/// Promotions: the controller's `SET GLOBAL read_only = OFF` that succeeded, with time.
pub fn promotions(events: &[Event]) -> Vec<(u64, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == crate::world::CONTROLLER_SQL_USER && is_unfence(sql) => {
                Some((e.at_ms, site.clone()))
            }
            _ => None,
        })
        .collect()
}

pub fn is_unfence(sql: &str) -> bool {
    let s = sql.to_ascii_lowercase().replace(' ', "");
    s.contains("setglobalread_only=off") || s.contains("setglobalread_only=0")
}

/// A statement that turns read_only (or super_read_only, which implies it) on.
pub fn is_fence(sql: &str) -> bool {
    let s = sql.to_ascii_lowercase().replace([' ', '@', '.'], "");
    ["read_only=on", "read_only=1"]
        .iter()
        .any(|p| s.contains(&format!("setglobal{p}")) || s.contains(&format!("setglobalsuper_{p}")))
}

/// A statement that clears read_only or super_read_only.
pub fn is_any_unfence(sql: &str) -> bool {
    let s = sql.to_ascii_lowercase().replace([' ', '@', '.'], "");
    ["read_only=off", "read_only=0"]
        .iter()
        .any(|p| s.contains(p))
}

/// The time of each controller log line starting with `prefix`, in order.
pub fn controller_logs(events: &[Event], prefix: &str) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Log { host, msg, .. }
                if host == crate::world::CONTROLLER_HOST && msg.starts_with(prefix) =>
            {
                Some(e.at_ms)
            }
            _ => None,
        })
        .collect()
}

pub fn fmt_secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}
