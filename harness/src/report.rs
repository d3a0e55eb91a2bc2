//! Run reports: the human summary, `report.json` (complete) and `report.md`.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::oracles::{Final, Verdict};
use crate::trace::{Event, EventKind};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    pub description: String,
    pub seed: u64,
    pub target: String,
    pub pass: bool,
    pub verdicts: Vec<Verdict>,
    pub trace_hash: String,
    pub acked_writes: u64,
    pub failed_writes: u64,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
    pub replay: String,
    pub harness_version: String,
    /// Key moments: faults, promotions, activeSite and DNS changes, controller decisions.
    pub timeline: Vec<String>,
    pub final_state: Final,
    pub events: Vec<Event>,
}

impl Report {
    pub fn speed(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.virtual_seconds / self.wall_seconds
        } else {
            0.0
        }
    }

    /// The short human summary printed after a run.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "chaos run {}  seed={}  target={}",
            self.scenario, self.seed, self.target
        );
        let _ = writeln!(s, "  {}", self.description);
        let _ = writeln!(s, "\ntimeline:");
        for line in &self.timeline {
            let _ = writeln!(s, "  {line}");
        }
        let _ = writeln!(s, "\nproperties:");
        for v in &self.verdicts {
            let _ = writeln!(
                s,
                "  {} {:<9} {:<34} {}",
                if v.pass { "PASS" } else { "FAIL" },
                v.property,
                v.figure,
                v.detail
            );
        }
        let _ = writeln!(
            s,
            "\nwrites: {} acked, {} failed",
            self.acked_writes, self.failed_writes
        );
        let _ = writeln!(
            s,
            "speed:  {:.0}s virtual in {:.2}s wall ({:.0}x real time)",
            self.virtual_seconds,
            self.wall_seconds,
            self.speed()
        );
        let _ = writeln!(
            s,
            "trace:  {} events, hash {}",
            self.events.len(),
            self.trace_hash
        );
        let _ = writeln!(s, "replay: {}", self.replay);
        let _ = writeln!(s, "verdict: {}", if self.pass { "PASS" } else { "FAIL" });
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "# {} (seed {})\n", self.scenario, self.seed);
        let _ = writeln!(s, "{}\n", self.description);
        let _ = writeln!(
            s,
            "**Verdict: {}** · target `{}` · trace hash `{}`\n",
            if self.pass { "PASS" } else { "FAIL" },
            self.target,
            self.trace_hash
        );
        let _ = writeln!(s, "Replay: `{}`\n", self.replay);
        let _ = writeln!(
            s,
            "| property | verdict | figure | detail |\n|---|---|---|---|"
        );
        for v in &self.verdicts {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                v.property,
                if v.pass { "pass" } else { "**FAIL**" },
                v.figure,
                v.detail.replace('|', "\\|")
            );
        }
        let _ = writeln!(
            s,
            "\nWrites: {} acked, {} failed. {:.0}s virtual in {:.2}s wall.\n",
            self.acked_writes, self.failed_writes, self.virtual_seconds, self.wall_seconds
        );
        let _ = writeln!(s, "## Timeline\n\n```");
        for line in &self.timeline {
            let _ = writeln!(s, "{line}");
        }
        let _ = writeln!(s, "```");
        s
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("report.json"),
            serde_json::to_string_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        std::fs::write(dir.join("timeline.svg"), crate::timeline_svg::render(self))
    }
}

/// Stable controller/sidecar messages worth a line in the timeline.
const KEY_LOGS: &[&str] = &[
    "initiating failover",
    "failover complete",
    "failover failed",
    "failover blocked by anti-flap cooldown",
    "DNS reconciled to active site",
    "initiating old primary recovery",
    "old primary recovery complete",
    "divergence detected",
    "replication source convergence complete",
    "fencing returning old primary (split brain after failover)",
    "safety net: this is the active site, clearing super_read_only",
    "split-brain auto-resolve",
    "re-asserting fenced promoted primary",
    "primary re-assert confirmed",
    "ALERT SPLIT BRAIN",
    "fencing: MySQL is writable after prior self-fence; rearming monitor",
];

/// The key moments of a run, one line each.
pub fn timeline(events: &[Event]) -> Vec<String> {
    let mut out = vec![];
    let mut last_state: std::collections::BTreeMap<String, String> = Default::default();
    for e in events {
        let t = format!("{:>8.3}s", e.at_ms as f64 / 1000.0);
        let line = match &e.kind {
            EventKind::Fault { op, detail, heal } => Some(format!(
                "{} {op} {detail}",
                if *heal { "heal " } else { "FAULT" }
            )),
            EventKind::ActiveSite { site } => Some(format!("activeSite = {:?}", site)),
            EventKind::Dns { target } => {
                Some(format!("DNS -> {}", target.as_deref().unwrap_or("(none)")))
            }
            EventKind::MysqlState {
                site,
                up,
                read_only,
                ..
            } => {
                let st = if !up {
                    "down"
                } else if *read_only {
                    "read-only"
                } else {
                    "WRITABLE"
                }
                .to_string();
                (last_state.insert(site.clone(), st.clone()).as_ref() != Some(&st))
                    .then(|| format!("mysql {site} {st}"))
            }
            EventKind::Log { host, msg, .. }
                if KEY_LOGS.iter().any(|k| msg.starts_with(k)) || msg.starts_with("SELF-FENC") =>
            {
                Some(format!("{host}: {msg}"))
            }
            _ => None,
        };
        if let Some(l) = line {
            out.push(format!("{t} {l}"));
        }
    }
    out
}
