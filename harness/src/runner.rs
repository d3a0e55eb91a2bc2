//! Runs a scenario with a seed and judges it: the one entry point the CLI and tests share.

use std::time::Instant;

use crate::oracles::{self, Input};
use crate::report::{timeline, Report};
use crate::scenario::Loaded;
use crate::trace::{hash_events, EventKind};
use crate::world::{self, RunConfig};

pub fn run_and_judge(scenario: &Loaded, seed: u64, print_log: bool) -> anyhow::Result<Report> {
    run_with(
        scenario,
        &RunConfig {
            seed,
            print_log,
            broken: vec![],
        },
    )
}

/// [`run_and_judge`] with another simulator tick (to show a tick change keeps verdicts).
pub fn run_and_judge_with_tick(
    scenario: &Loaded,
    seed: u64,
    print_log: bool,
    tick: std::time::Duration,
) -> anyhow::Result<Report> {
    let cfg = RunConfig {
        seed,
        print_log,
        broken: vec![],
    };
    run_with_config_and_tick(scenario, &cfg, tick)
}

/// [`run_and_judge`] with every knob of the run (e.g. a deliberately broken controller).
pub fn run_with(scenario: &Loaded, cfg: &RunConfig) -> anyhow::Result<Report> {
    run_with_config_and_tick(scenario, cfg, world::TICK)
}

fn run_with_config_and_tick(
    scenario: &Loaded,
    cfg: &RunConfig,
    tick: std::time::Duration,
) -> anyhow::Result<Report> {
    let seed = cfg.seed;
    // Wall time here only measures the harness's own speed; it never reaches the trace.
    let started = Instant::now();
    let out = world::run_with_tick(scenario, cfg, tick)?;
    let wall = started.elapsed();
    let verdicts = oracles::judge(&Input {
        events: &out.events,
        fin: &out.fin,
        scenario,
        group: world::GROUP,
    });
    let acked = out
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Ack { .. }))
        .count() as u64;
    let failed = out
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::WriteError { .. }))
        .count() as u64;
    let id = scenario.scenario.id.clone();
    Ok(Report {
        pass: verdicts.iter().all(|v| v.pass),
        description: scenario.scenario.description.clone(),
        verdicts,
        trace_hash: hash_events(&out.events),
        acked_writes: acked,
        failed_writes: failed,
        virtual_seconds: out.virtual_elapsed.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        replay: format!("cargo run -p chaos -- run {id} --seed {seed}"),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        timeline: timeline(&out.events),
        final_state: out.fin,
        events: out.events,
        scenario: id,
        seed,
        target: "sim".into(),
    })
}

/// Runs `(scenario, seed)` jobs on `workers` threads (each run is single-threaded and
/// independent); reports come back in job order.
pub fn run_many(jobs: &[(&Loaded, u64)], workers: usize) -> anyhow::Result<Vec<Report>> {
    let workers = workers.max(1);
    let mut done: Vec<(usize, Report)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    jobs.iter()
                        .enumerate()
                        .skip(w)
                        .step_by(workers)
                        .map(|(i, (scenario, seed))| {
                            Ok((i, run_and_judge(scenario, *seed, false)?))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulation thread panicked"))
            .collect::<anyhow::Result<Vec<Vec<_>>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}
