//! The `chaos explore` and `chaos replay` commands (exit 0 pass, 1 violated, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bloodraven::fault_hooks::Broken;
use clap::Args;

use super::repro::ReproFile;
use super::{campaign, systematic, Failure, Options, Summary};
use crate::runner::run_with;
use crate::world::RunConfig;

#[derive(Args, Debug)]
pub struct ExploreArgs {
    /// Number of runs of the campaign (over all shards).
    #[arg(long, conflicts_with = "time")]
    pub runs: Option<u64>,
    /// Wall-clock budget instead of a run count, e.g. 10m.
    #[arg(long, value_parser = parse_duration)]
    pub time: Option<Duration>,
    /// Campaign seed: run i is drawn from (seed, i).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// This process's share K/N of the runs (indices i with i mod N = K-1).
    #[arg(long, default_value = "1/1", value_parser = parse_shard)]
    pub shard: (u64, u64),
    /// Worker threads (default: the available cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Deliberately broken controller behaviour (test-only fault hook); repeatable.
    #[arg(long = "break", value_name = "BEHAVIOUR", value_parser = parse_broken)]
    pub broken: Vec<Broken>,
    /// Where shrunk repro files of failures go.
    #[arg(long, default_value_os_t = crate::scenario::catalog_dir().join("regressions"))]
    pub regressions: PathBuf,
    /// Report failures without shrinking them or writing repro files.
    #[arg(long)]
    pub no_shrink: bool,
    /// Write the summary as JSON (shard results to merge later).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Merge shard summaries (JSON files written with --out) instead of running.
    #[arg(long, num_args = 1.., conflicts_with_all = ["runs", "time", "systematic"])]
    pub merge: Vec<PathBuf>,
    /// Print run I of the campaign as a scenario file (with its seed) instead of running.
    #[arg(long, value_name = "I")]
    pub show: Option<u64>,
    /// Shrink run I of the campaign (which must fail) into a repro file, without a campaign.
    #[arg(long, value_name = "I")]
    pub shrink_run: Option<u64>,
    /// Systematic mode: crash the controller before every failover mutation of this
    /// catalog scenario (id or .toml path), one run per step.
    #[arg(long)]
    pub systematic: Option<String>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A repro file (scenarios/regressions/*.toml).
    pub file: PathBuf,
}

pub fn parse_duration(v: &str) -> Result<Duration, String> {
    bloodraven::duration::parse(v).map_err(|e| format!("{v:?}: {e} (expected e.g. 90s or 10m)"))
}

fn parse_shard(v: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{v:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
    let (k, n) = v.split_once('/').ok_or_else(bad)?;
    let (k, n): (u64, u64) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || k == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

pub fn parse_broken(name: &str) -> Result<Broken, String> {
    Broken::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Broken::ALL.iter().map(|b| b.name()).collect();
        format!(
            "unknown behaviour {name:?}: expected one of {}",
            known.join(", ")
        )
    })
}

fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn explore(args: ExploreArgs, catalog: &std::path::Path) -> ExitCode {
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if !args.merge.is_empty() {
        let mut parts = vec![];
        for p in &args.merge {
            let part = std::fs::read_to_string(p)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_json::from_str::<Summary>(&t).map_err(|e| e.to_string()));
            match part {
                Ok(s) => parts.push(s),
                Err(e) => return bad(format!("{}: {e}", p.display())),
            }
        }
        return match Summary::merge(&parts) {
            Ok(s) => finish(&s, &None),
            Err(e) => bad(e),
        };
    }
    if let Some(i) = args.show {
        let s = super::generate::generate(args.seed, i);
        println!(
            "# chaos explore --seed {} run {i}: chaos run FILE --seed {}",
            args.seed,
            super::generate::run_seed(args.seed, i)
        );
        print!("{}", toml::to_string(&s).expect("scenario data serializes"));
        return ExitCode::SUCCESS;
    }
    if let Some(i) = args.shrink_run {
        let s = super::generate::generate(args.seed, i);
        let seed = super::generate::run_seed(args.seed, i);
        let o = match super::run_one(&s, i, seed, &args.broken) {
            Ok(o) => o,
            Err(e) => return bad(format!("the simulation could not run: {e:#}")),
        };
        let Some(property) = o.property.clone().filter(|_| !o.pass) else {
            println!("run {i} passes: nothing to shrink");
            return ExitCode::SUCCESS;
        };
        let mut f = super::Failure {
            index: i,
            seed,
            property,
            detail: o.detail,
            faults_before: o.faults,
            sites_before: o.sites,
            faults_after: None,
            sites_after: None,
            repro: None,
        };
        return match super::shrink_and_write(args.seed, &mut f, &args.broken, &args.regressions) {
            Ok(path) => {
                let summary = Summary {
                    campaign_seed: args.seed,
                    shards: vec!["-".into()],
                    runs: 1,
                    failures: vec![Failure {
                        repro: Some(path.display().to_string()),
                        ..f
                    }],
                    ..Summary::default()
                };
                finish(&summary, &None)
            }
            Err(e) => bad(format!("{e:#}")),
        };
    }
    if let Some(id) = &args.systematic {
        let loaded = if id.ends_with(".toml") {
            crate::scenario::load_file(std::path::Path::new(id))
        } else {
            crate::scenario::find(catalog, id)
        };
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => return bad(e),
        };
        return match systematic::run(&loaded.scenario, args.seed, &args.broken, 4) {
            Ok(steps) => {
                let mut failed = false;
                for (n, fired, o) in &steps {
                    failed |= !o.pass;
                    println!(
                        "crash before mutation {n:>2}: {}  {}",
                        if !fired {
                            "not reached (failover has fewer mutations)"
                        } else if o.pass {
                            "PASS"
                        } else {
                            "FAIL"
                        },
                        o.property
                            .as_ref()
                            .map(|p| format!("{p}: {}", o.detail))
                            .unwrap_or_default()
                    );
                }
                ExitCode::from(u8::from(failed))
            }
            Err(e) => bad(format!("the simulation could not run: {e:#}")),
        };
    }
    if args.runs.is_none() && args.time.is_none() {
        return bad("explore needs --runs N or --time DURATION (or --merge, --systematic)");
    }
    let opts = Options {
        campaign_seed: args.seed,
        runs: args.runs,
        time: args.time,
        shard: args.shard,
        jobs,
        broken: args.broken,
        regressions: (!args.no_shrink).then_some(args.regressions),
        progress: true,
    };
    match campaign(&opts) {
        Ok(s) => finish(&s, &args.out),
        Err(e) => bad(format!("{e:#}")),
    }
}

fn finish(s: &Summary, out: &Option<PathBuf>) -> ExitCode {
    print!("{}", s.render());
    if let Some(path) = out {
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(s).expect("json")) {
            return bad(format!("{}: {e}", path.display()));
        }
    }
    ExitCode::from(u8::from(!s.failures.is_empty()))
}

/// Reruns a repro file and compares verdicts and trace hash with the recorded ones.
pub fn replay(args: ReplayArgs) -> ExitCode {
    let (file, loaded) = match ReproFile::load(&args.file) {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    let broken = match file.broken() {
        Ok(b) => b,
        Err(e) => return bad(format!("{}: {e}", args.file.display())),
    };
    let now = super::repro::current_version();
    let same_version = now == file.repro.version;
    if !same_version {
        eprintln!(
            "warning: recorded with {:?}, replaying with {:?}: the trace hash may differ",
            file.repro.version, now
        );
    }
    let report = match run_with(
        &loaded,
        &RunConfig {
            seed: file.repro.seed,
            print_log: false,
            broken,
        },
    ) {
        Ok(r) => r,
        Err(e) => return bad(format!("the simulation could not run: {e:#}")),
    };
    print!("{}", report.summary());
    let outcome = super::repro::judge_replay(&file, &report);
    println!("\nreplay: {}", outcome.message);
    if let Some(v) = &file.repro.first_violation {
        println!(
            "recorded trace hash {}, replayed {} ({})",
            v.trace_hash,
            report.trace_hash,
            if v.trace_hash == report.trace_hash {
                "identical"
            } else {
                "DIFFERENT"
            }
        );
    }
    ExitCode::from(u8::from(!outcome.ok))
}
