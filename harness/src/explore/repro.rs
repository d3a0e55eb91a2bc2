//! Repro files (SCENARIOS.md §4): the expanded scenario data of a failing run, its seed,
//! the harness version, the expected verdict per property and the first violation, so
//! `chaos replay FILE` reruns it bit for bit.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::Report;
use crate::scenario::{Loaded, Scenario};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproFile {
    pub repro: Meta,
    pub scenario: Scenario,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The simulation seed.
    pub seed: u64,
    /// Where it came from (the explore command and run index, or an incident).
    pub source: String,
    /// `open` (found, not fixed: the regression gate fails), `fixed` (every property must
    /// pass), `known-open` (an open bug with an issue reference: must still fail).
    pub status: String,
    #[serde(default)]
    pub issue: Option<String>,
    /// Test-only broken controller behaviours (fault hooks) the run used.
    #[serde(default)]
    pub broken: Vec<String>,
    pub version: Version,
    /// "pass" or "fail" per property, as recorded.
    pub expected: BTreeMap<String, String>,
    #[serde(default)]
    pub first_violation: Option<Violation>,
    #[serde(default)]
    pub shrink: Option<ShrinkSize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Version {
    pub commit: String,
    pub rustc: String,
    pub cargo_lock: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    pub property: String,
    /// Virtual time of the violation when the oracle names one ("at 34.5s"), else empty.
    pub at: String,
    pub detail: String,
    pub trace_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShrinkSize {
    pub faults_before: usize,
    pub faults_after: usize,
    pub sites_before: usize,
    pub sites_after: usize,
    pub runs: usize,
}

fn workspace() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .current_dir(workspace())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The harness version: git commit, rustc, and a hash of Cargo.lock.
pub fn current_version() -> Version {
    use sha2::{Digest, Sha256};
    let lock = std::fs::read(workspace().join("Cargo.lock")).unwrap_or_default();
    let h = Sha256::digest(&lock);
    Version {
        commit: command("git", &["rev-parse", "HEAD"]),
        rustc: command("rustc", &["--version"]),
        cargo_lock: h.iter().take(8).map(|b| format!("{b:02x}")).collect(),
    }
}

/// The first failing verdict of a report, as a repro violation.
pub fn first_violation(report: &Report) -> Option<Violation> {
    let v = report.verdicts.iter().find(|v| !v.pass)?;
    let at = v
        .detail
        .split("at ")
        .skip(1)
        .find_map(|rest| {
            let num: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            (!num.is_empty() && rest[num.len()..].starts_with('s')).then(|| format!("{num}s"))
        })
        .unwrap_or_default();
    Some(Violation {
        property: v.property.clone(),
        at,
        detail: v.detail.clone(),
        trace_hash: report.trace_hash.clone(),
    })
}

impl ReproFile {
    pub fn from_run(
        scenario: Scenario,
        report: &Report,
        source: String,
        broken: &[bloodraven::fault_hooks::Broken],
        shrink: Option<ShrinkSize>,
    ) -> Self {
        let expected = report
            .verdicts
            .iter()
            .map(|v| {
                (
                    v.property.clone(),
                    if v.pass { "pass" } else { "fail" }.into(),
                )
            })
            .collect();
        let failing = report.verdicts.iter().any(|v| !v.pass);
        Self {
            repro: Meta {
                seed: report.seed,
                source,
                status: if failing { "open" } else { "fixed" }.into(),
                issue: None,
                broken: broken.iter().map(|b| b.name().to_string()).collect(),
                version: current_version(),
                expected,
                first_violation: first_violation(report),
                shrink,
            },
            scenario,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("repro data serializes")
    }

    pub fn load(path: &Path) -> Result<(ReproFile, Loaded), String> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
        let repro: ReproFile = toml::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        if !["open", "fixed", "known-open"].contains(&repro.repro.status.as_str()) {
            return Err(format!(
                "{file}: repro.status: {:?}: expected open, fixed or known-open",
                repro.repro.status
            ));
        }
        if repro.repro.status == "known-open" && repro.repro.issue.is_none() {
            return Err(format!(
                "{file}: repro.issue: a known-open repro needs the issue reference"
            ));
        }
        let loaded = crate::scenario::parse(&file, &toml::to_string(&repro.scenario).unwrap())
            .map_err(|e| e.to_string())?;
        Ok((repro, loaded))
    }

    /// The broken behaviours, parsed.
    pub fn broken(&self) -> Result<Vec<bloodraven::fault_hooks::Broken>, String> {
        self.repro
            .broken
            .iter()
            .map(|n| {
                bloodraven::fault_hooks::Broken::parse(n)
                    .ok_or_else(|| format!("repro.broken: unknown behaviour {n:?}"))
            })
            .collect()
    }
}

/// Whether a replay kept the repro's verdict.
pub struct ReplayOutcome {
    pub ok: bool,
    pub message: String,
}

/// `fixed`: every property passes. `open` / `known-open`: the recorded first violation
/// still happens (same property).
pub fn judge_replay(file: &ReproFile, report: &Report) -> ReplayOutcome {
    let failing: Vec<&str> = report
        .verdicts
        .iter()
        .filter(|v| !v.pass)
        .map(|v| v.property.as_str())
        .collect();
    match file.repro.status.as_str() {
        "fixed" => ReplayOutcome {
            ok: failing.is_empty(),
            message: if failing.is_empty() {
                "fixed: every property passes".into()
            } else {
                format!("fixed repro regressed: {} fail", failing.join(", "))
            },
        },
        status => {
            let want = file
                .repro
                .first_violation
                .as_ref()
                .map(|v| v.property.as_str())
                .unwrap_or("?");
            let still = failing.contains(&want);
            ReplayOutcome {
                ok: still,
                message: if still {
                    format!("{status}: {want} still violated, as recorded")
                } else {
                    format!("{status}: {want} no longer violated (fixed? set status = \"fixed\")")
                },
            }
        }
    }
}
