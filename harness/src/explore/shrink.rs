//! Shrinking a failing run: ddmin over its faults, then shorter fault windows, fewer sites
//! and a lighter workload, keeping the same violated property, until no step can be
//! removed. Every candidate is scenario data validated by the loader, then run.

use bloodraven::fault_hooks::Broken;

use crate::report::Report;
use crate::runner::run_with;
use crate::scenario::{parse, Fault, Scenario};
use crate::world::RunConfig;

/// Runs each candidate at most once per shrink; caps the total work.
const MAX_RUNS: usize = 150;

pub struct Shrunk {
    pub scenario: Scenario,
    pub report: Report,
    pub runs: usize,
}

struct Oracle<'a> {
    seed: u64,
    broken: &'a [Broken],
    property: &'a str,
    runs: usize,
}

impl Oracle<'_> {
    /// The report when `s` is valid and still violates the property.
    fn fails(&mut self, s: &Scenario) -> Option<Report> {
        if self.runs >= MAX_RUNS {
            return None;
        }
        let loaded = parse(&s.id, &toml::to_string(s).ok()?).ok()?;
        self.runs += 1;
        let report = run_with(
            &loaded,
            &RunConfig {
                seed: self.seed,
                print_log: false,
                broken: self.broken.to_vec(),
            },
        )
        .ok()?;
        report
            .verdicts
            .iter()
            .any(|v| v.property == self.property && !v.pass)
            .then_some(report)
    }
}

fn with_faults(s: &Scenario, faults: Vec<Fault>) -> Scenario {
    Scenario {
        faults,
        ..s.clone()
    }
}

/// Classic ddmin over the fault list.
fn ddmin(o: &mut Oracle, s: &mut Scenario, best: &mut Report) {
    let mut n = 2usize;
    while s.faults.len() >= 2 {
        let len = s.faults.len();
        let chunk = len.div_ceil(n);
        let mut reduced: Option<(Scenario, Report)> = None;
        'chunks: for i in 0..n {
            let (lo, hi) = (i * chunk, ((i + 1) * chunk).min(len));
            if lo >= hi {
                continue;
            }
            let subset: Vec<Fault> = s.faults[lo..hi].to_vec();
            let complement: Vec<Fault> = s
                .faults
                .iter()
                .enumerate()
                .filter(|(j, _)| *j < lo || *j >= hi)
                .map(|(_, f)| f.clone())
                .collect();
            for cand in [subset, complement] {
                if cand.len() == len {
                    continue;
                }
                let c = with_faults(s, cand);
                if let Some(r) = o.fails(&c) {
                    reduced = Some((c, r));
                    break 'chunks;
                }
            }
        }
        let reduced = match reduced {
            Some((c, r)) => {
                *s = c;
                *best = r;
                n = if n > 2 { n - 1 } else { 2 };
                true
            }
            None => false,
        };
        if !reduced {
            if n >= len {
                break;
            }
            n = (n * 2).min(len);
        }
    }
    // A single fault may be unnecessary too.
    if s.faults.len() == 1 {
        let c = with_faults(s, vec![]);
        if let Some(r) = o.fails(&c) {
            *s = c;
            *best = r;
        }
    }
}

fn secs(v: &str) -> Option<u64> {
    bloodraven::duration::parse(v).ok().map(|d| d.as_secs())
}

/// Halves each fault's heal window and `down` while the violation stays.
fn shorten_windows(o: &mut Oracle, s: &mut Scenario, best: &mut Report) {
    for i in 0..s.faults.len() {
        loop {
            let f = &s.faults[i];
            let at = secs(&f.at).unwrap_or(0);
            let mut c = s.clone();
            let g = &mut c.faults[i];
            if let Some(h) = g.heal_at.as_deref().and_then(secs) {
                let shorter = at + (h - at) / 2;
                if shorter <= at || shorter == h {
                    break;
                }
                g.heal_at = Some(format!("{shorter}s"));
            } else if let Some(d) = g.down.as_deref().and_then(secs) {
                if d <= 1 {
                    break;
                }
                g.down = Some(format!("{}s", d / 2));
            } else {
                break;
            }
            match o.fails(&c) {
                Some(r) => {
                    *s = c;
                    *best = r;
                }
                None => break,
            }
        }
    }
}

/// Drops a site no fault, priority, history or the active names.
fn remove_sites(o: &mut Oracle, s: &mut Scenario, best: &mut Report) {
    let names: Vec<String> = s.topology.sites.iter().map(|x| x.name.clone()).collect();
    for name in names {
        if s.topology.sites.len() <= 2 {
            return;
        }
        let t = &s.topology;
        let named = t.active == name
            || t.history.as_deref() == Some(name.as_str())
            || s.faults.iter().any(|f| {
                f.site.as_deref() == Some(name.as_str()) || f.peer.as_deref() == Some(name.as_str())
            });
        if named {
            continue;
        }
        let mut c = s.clone();
        c.topology.sites.retain(|x| x.name != name);
        c.topology.priorities.retain(|p| *p != name);
        if let Some(r) = o.fails(&c) {
            *s = c;
            *best = r;
        }
    }
}

fn reduce_workload(o: &mut Oracle, s: &mut Scenario, best: &mut Report) {
    for rate in [10, 5, 2] {
        if rate >= s.workload.counter_rate {
            continue;
        }
        let mut c = s.clone();
        c.workload.counter_rate = rate;
        match o.fails(&c) {
            Some(r) => {
                *s = c;
                *best = r;
            }
            None => return,
        }
    }
}

/// Shrinks `scenario` (which fails `property` with `seed`) to a local minimum.
pub fn shrink(
    scenario: &Scenario,
    report: &Report,
    seed: u64,
    broken: &[Broken],
    property: &str,
) -> Shrunk {
    let mut o = Oracle {
        seed,
        broken,
        property,
        runs: 0,
    };
    let mut s = scenario.clone();
    let mut best = report.clone();
    loop {
        let before = (
            s.faults.len(),
            s.topology.sites.len(),
            toml::to_string(&s).ok(),
        );
        ddmin(&mut o, &mut s, &mut best);
        shorten_windows(&mut o, &mut s, &mut best);
        remove_sites(&mut o, &mut s, &mut best);
        reduce_workload(&mut o, &mut s, &mut best);
        let after = (
            s.faults.len(),
            s.topology.sites.len(),
            toml::to_string(&s).ok(),
        );
        if before == after || o.runs >= MAX_RUNS {
            break;
        }
    }
    Shrunk {
        scenario: s,
        report: best,
        runs: o.runs,
    }
}
