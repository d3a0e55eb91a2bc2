//! Random exploration (`chaos explore`): many runs, each a scenario drawn from (campaign
//! seed, run index); failures shrunk to repro files; coverage of interesting states;
//! deterministic sharding; summaries that merge across shards.

pub mod cli;
pub mod coverage;
pub mod generate;
pub mod inherent;
pub mod repro;
pub mod shrink;
pub mod systematic;
pub mod vocabulary;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bloodraven::fault_hooks::Broken;
use serde::{Deserialize, Serialize};

use crate::runner::run_with;
use crate::scenario::{parse, Scenario};
use crate::world::RunConfig;

/// At most this many failures of one campaign are shrunk (each shrink is up to 150 runs).
const MAX_SHRINKS: usize = 5;

#[derive(Clone, Debug)]
pub struct Options {
    pub campaign_seed: u64,
    /// Total runs over all shards; `None` with `time`.
    pub runs: Option<u64>,
    /// Wall-clock budget instead of a run count.
    pub time: Option<Duration>,
    /// (k, n): this process runs indices i with i % n == k - 1.
    pub shard: (u64, u64),
    pub jobs: usize,
    pub broken: Vec<Broken>,
    /// Where failing runs' shrunk repro files go; `None`: do not shrink or write.
    pub regressions: Option<PathBuf>,
    pub progress: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub index: u64,
    pub seed: u64,
    pub pass: bool,
    /// The first violated property and its detail.
    pub property: Option<String>,
    pub detail: String,
    pub trace_hash: String,
    pub faults: usize,
    pub sites: usize,
    pub wall_seconds: f64,
    pub reached: Vec<bool>,
    /// The run violated a property in a way the spec classifies as inherent.
    #[serde(default)]
    pub inherent: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Failure {
    pub index: u64,
    pub seed: u64,
    pub property: String,
    pub detail: String,
    pub faults_before: usize,
    pub sites_before: usize,
    #[serde(default)]
    pub faults_after: Option<usize>,
    #[serde(default)]
    pub sites_after: Option<usize>,
    #[serde(default)]
    pub repro: Option<String>,
}

/// A campaign's (or several shards') results; `--out` writes it, `--merge` combines them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub campaign_seed: u64,
    pub shards: Vec<String>,
    pub runs: u64,
    pub failures: Vec<Failure>,
    /// Runs that reached each "sometimes" state.
    pub coverage: BTreeMap<String, u64>,
    /// Runs whose violation the spec classifies as inherent (index, class).
    #[serde(default)]
    pub inherent: Vec<(u64, String)>,
    pub wall_seconds: f64,
    /// Sum of the runs' own wall times: the cost on one core.
    pub core_seconds: f64,
    pub jobs: usize,
    pub build: String,
}

impl Summary {
    pub fn runs_per_min_per_core(&self) -> f64 {
        if self.core_seconds > 0.0 {
            self.runs as f64 * 60.0 / self.core_seconds
        } else {
            0.0
        }
    }

    /// Combines shard summaries of one campaign.
    pub fn merge(parts: &[Summary]) -> Result<Summary, String> {
        let Some(first) = parts.first() else {
            return Err("nothing to merge".into());
        };
        let mut out = Summary {
            campaign_seed: first.campaign_seed,
            build: first.build.clone(),
            ..Summary::default()
        };
        for p in parts {
            if p.campaign_seed != first.campaign_seed {
                return Err(format!(
                    "shards of different campaigns: seed {} and {}",
                    first.campaign_seed, p.campaign_seed
                ));
            }
            out.shards.extend(p.shards.iter().cloned());
            out.runs += p.runs;
            out.failures.extend(p.failures.iter().cloned());
            out.inherent.extend(p.inherent.iter().cloned());
            for (k, v) in &p.coverage {
                *out.coverage.entry(k.clone()).or_default() += v;
            }
            out.wall_seconds = out.wall_seconds.max(p.wall_seconds);
            out.core_seconds += p.core_seconds;
            out.jobs += p.jobs;
        }
        out.failures.sort_by_key(|f| f.index);
        Ok(out)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "chaos explore --seed {}  shards {}  ({} build)",
            self.campaign_seed,
            self.shards.join(","),
            self.build
        );
        let _ = writeln!(
            s,
            "runs: {}  failures: {}  wall {:.1}s  throughput {:.1} runs/min/core",
            self.runs,
            self.failures.len(),
            self.wall_seconds,
            self.runs_per_min_per_core()
        );
        let _ = writeln!(s, "\ncoverage (runs reaching each state):");
        for (name, _) in coverage::SOMETIMES {
            let n = self.coverage.get(*name).copied().unwrap_or(0);
            let note = if n == 0 { "  NEVER REACHED" } else { "" };
            let _ = writeln!(s, "  {n:>6}  {name}{note}");
        }
        for (i, class) in &self.inherent {
            let _ = writeln!(s, "  inherent: run {i}: {class}");
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "\nfailures:");
            for f in &self.failures {
                let _ = writeln!(
                    s,
                    "  run {} (seed {}): {} {}",
                    f.index, f.seed, f.property, f.detail
                );
                if let (Some(fa), Some(sa)) = (f.faults_after, f.sites_after) {
                    let _ = writeln!(
                        s,
                        "    shrunk: {} fault(s), {} site(s) -> {fa} fault(s), {sa} site(s)",
                        f.faults_before, f.sites_before
                    );
                }
                if let Some(p) = &f.repro {
                    let _ = writeln!(s, "    repro: {p}  (chaos replay {p})");
                }
            }
        }
        s
    }
}

/// Runs one scenario (data) with a seed and records what the campaign needs.
pub fn run_one(
    scenario: &Scenario,
    index: u64,
    seed: u64,
    broken: &[Broken],
) -> anyhow::Result<Outcome> {
    let text = toml::to_string(scenario)?;
    let loaded = parse(&scenario.id, &text).map_err(|e| anyhow::anyhow!("{e}"))?;
    let report = run_with(
        &loaded,
        &RunConfig {
            seed,
            print_log: false,
            broken: broken.to_vec(),
        },
    )?;
    let first = report.verdicts.iter().find(|v| !v.pass);
    let inherent = inherent::classify(scenario, &report);
    Ok(Outcome {
        index,
        seed,
        pass: report.pass || inherent.is_some(),
        inherent,
        property: first.map(|v| v.property.clone()),
        detail: first.map(|v| v.detail.clone()).unwrap_or_default(),
        trace_hash: report.trace_hash.clone(),
        faults: scenario.faults.len(),
        sites: scenario.topology.sites.len(),
        wall_seconds: report.wall_seconds,
        reached: coverage::reached(&report.events),
    })
}

fn progress_bar(opts: &Options) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match opts.runs {
        Some(n) => {
            let mine = (n + opts.shard.1 - opts.shard.0) / opts.shard.1;
            indicatif::ProgressBar::new(mine)
        }
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {pos}/{len} runs {per_sec} {msg}",
        )
        .expect("valid template"),
    );
    bar
}

/// Runs the campaign's share of runs on `jobs` threads, then shrinks failures.
pub fn campaign(opts: &Options) -> anyhow::Result<Summary> {
    let (k, n) = opts.shard;
    anyhow::ensure!(
        n >= 1 && (1..=n).contains(&k),
        "--shard {k}/{n}: expected 1 <= K <= N"
    );
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(vec![]);
    let bar = progress_bar(opts);
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| loop {
                let slot = next.fetch_add(1, Ordering::SeqCst);
                let index = slot * n + (k - 1);
                if opts.runs.is_some_and(|r| index >= r)
                    || opts.time.is_some_and(|t| started.elapsed() >= t)
                    || error.lock().unwrap().is_some()
                {
                    return;
                }
                let scenario = generate::generate(opts.campaign_seed, index);
                let seed = generate::run_seed(opts.campaign_seed, index);
                match run_one(&scenario, index, seed, &opts.broken) {
                    Ok(o) => {
                        if !o.pass {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                        results.lock().unwrap().push(o);
                        bar.inc(1);
                        bar.set_message(format!("{} failure(s)", failures.load(Ordering::SeqCst)));
                    }
                    Err(e) => {
                        *error.lock().unwrap() = Some(e.context(format!("run {index}")));
                        return;
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = error.into_inner().unwrap() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|o| o.index);
    let mut summary = summarize(opts, &results, started.elapsed());
    if let Some(dir) = &opts.regressions {
        for f in summary.failures.iter_mut().take(MAX_SHRINKS) {
            let path = shrink_and_write(opts.campaign_seed, f, &opts.broken, dir)?;
            f.repro = Some(path.display().to_string());
        }
    }
    Ok(summary)
}

fn summarize(opts: &Options, results: &[Outcome], wall: Duration) -> Summary {
    let mut coverage = BTreeMap::new();
    for (i, (name, _)) in coverage::SOMETIMES.iter().enumerate() {
        let n = results.iter().filter(|o| o.reached[i]).count() as u64;
        coverage.insert(name.to_string(), n);
    }
    Summary {
        campaign_seed: opts.campaign_seed,
        shards: vec![format!("{}/{}", opts.shard.0, opts.shard.1)],
        runs: results.len() as u64,
        failures: results
            .iter()
            .filter(|o| !o.pass)
            .map(|o| Failure {
                index: o.index,
                seed: o.seed,
                property: o.property.clone().unwrap_or_default(),
                detail: o.detail.clone(),
                faults_before: o.faults,
                sites_before: o.sites,
                faults_after: None,
                sites_after: None,
                repro: None,
            })
            .collect(),
        coverage,
        inherent: results
            .iter()
            .filter_map(|o| Some((o.index, o.inherent.clone()?)))
            .collect(),
        wall_seconds: wall.as_secs_f64(),
        core_seconds: results.iter().map(|o| o.wall_seconds).sum(),
        jobs: opts.jobs.max(1),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
    }
}

/// Shrinks failure `f` of the campaign and writes its repro file into `dir`.
pub fn shrink_and_write(
    campaign_seed: u64,
    f: &mut Failure,
    broken: &[Broken],
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let scenario = generate::generate(campaign_seed, f.index);
    let loaded =
        parse(&scenario.id, &toml::to_string(&scenario)?).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cfg = RunConfig {
        seed: f.seed,
        print_log: false,
        broken: broken.to_vec(),
    };
    let report = run_with(&loaded, &cfg)?;
    let shrunk = shrink::shrink(&scenario, &report, f.seed, broken, &f.property);
    f.faults_after = Some(shrunk.scenario.faults.len());
    f.sites_after = Some(shrunk.scenario.topology.sites.len());
    let mut scenario = shrunk.scenario;
    scenario.description = format!(
        "shrunk from run {} of chaos explore --seed {campaign_seed}: {} violated",
        f.index, f.property
    );
    let file = repro::ReproFile::from_run(
        scenario,
        &shrunk.report,
        format!(
            "chaos explore --seed {campaign_seed} (run {}, simulation seed {})",
            f.index, f.seed
        ),
        broken,
        Some(repro::ShrinkSize {
            faults_before: f.faults_before,
            faults_after: f.faults_after.unwrap_or(0),
            sites_before: f.sites_before,
            sites_after: f.sites_after.unwrap_or(0),
            runs: shrunk.runs,
        }),
    );
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.toml", file.scenario.id));
    std::fs::write(&path, file.to_toml())?;
    Ok(path)
}
