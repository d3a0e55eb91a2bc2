//! One measurement, run in its own child process so that its peak memory (the kernel's
//! high-water mark of the process) belongs to that simulation alone.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{cpu, shapes};
use crate::scenario::{self, Loaded};
use crate::world::{self, RunConfig};

/// What one probe measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    pub probe: String,
    pub sites: usize,
    pub virtual_seconds: f64,
    pub wall_seconds: f64,
    /// Peak resident set of the child process, KiB (None where /proc is missing).
    pub peak_rss_kib: Option<u64>,
    pub trace_events: usize,
    /// CPU seconds the simulation used (None where not measurable).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
}

impl Sample {
    pub fn speed(&self) -> f64 {
        self.virtual_seconds / self.wall_seconds.max(1e-9)
    }

    /// Virtual seconds per CPU second: the speed on an idle core, whatever the load.
    pub fn cpu_speed(&self) -> Option<f64> {
        self.cpu_seconds.map(|c| self.virtual_seconds / c.max(1e-9))
    }
}

/// Probe names: a catalog scenario id, or `quiet-<sites>x<minutes>m`.
pub fn load(probe: &str) -> anyhow::Result<Loaded> {
    if let Some(shape) = probe.strip_prefix("quiet-") {
        let (sites, minutes) = shape
            .strip_suffix('m')
            .and_then(|s| s.split_once('x'))
            .and_then(|(s, m)| Some((s.parse().ok()?, m.parse().ok()?)))
            .filter(|(s, m): &(usize, u64)| (2..=8).contains(s) && *m > 0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "probe {probe:?}: expected quiet-<2..8 sites>x<minutes>m, e.g. quiet-3x30m"
                )
            })?;
        return Ok(shapes::quiet(sites, minutes));
    }
    Ok(scenario::find(&scenario::catalog_dir(), probe)?)
}

/// Runs the probe's simulation once (seed 1) in this process and measures it.
pub fn measure(probe: &str) -> anyhow::Result<Sample> {
    let loaded = load(probe)?;
    // Wall time measures the harness's speed only; it never reaches the simulation.
    let started = Instant::now();
    let cpu_before = cpu::process_cpu_seconds();
    let out = world::run(
        &loaded,
        &RunConfig {
            seed: 1,
            print_log: false,
            broken: vec![],
        },
    )?;
    let wall = started.elapsed();
    let cpu_seconds = cpu::process_cpu_seconds()
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    Ok(Sample {
        probe: probe.to_string(),
        sites: loaded.scenario.topology.sites.len(),
        virtual_seconds: out.virtual_elapsed.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
        trace_events: out.events.len(),
        cpu_seconds,
    })
}

/// `VmHWM` of this process (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_names_are_checked() {
        assert!(load("quiet-3x30m").is_ok());
        let e = load("quiet-9x30m").unwrap_err().to_string();
        assert!(e.contains("expected quiet-<2..8 sites>x<minutes>m"), "{e}");
        assert!(load("no-such-scenario").is_err());
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib().is_some_and(|k| k > 0));
        }
    }
}
