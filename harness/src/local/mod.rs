//! The `local` target: the catalog against real processes on loopback. The real
//! `bloodraven` and `bloodraven-sidecar` binaries run as child processes configured like
//! their pods (env, flags, a kubeconfig), talking real HTTP through the production
//! `kube::Client` to the fake apiserver and `mysql_async` to the fake mysqlds, which this
//! process serves on 127.0.0.1 (the MySQL wire protocol), with a fault proxy on every link.
//! Time is real, scaled by [`FACTOR`] ([`scale`]); the trace and the oracles are the
//! simulator's.
//!
//! Exit codes: 0 pass, 1 a property violated, 2 bad input, 3 skipped (the scenario's
//! faults have no local expression; the reason is printed), 4 environment (binaries
//! missing, a port or process could not be opened), 130 interrupted (SIGINT/SIGTERM; the
//! children are killed first).

mod children;
mod net;
mod proxy;
mod scale;
mod schedule;
mod world;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::oracles::{self, Input};
use crate::report::{timeline, Report};
use crate::scenario::Loaded;
use crate::trace::{hash_events, EventKind, Trace};

pub use children::{binaries, Binaries, BIN_DIR_ENV, LEDGER_FILE};
pub use scale::FACTOR;
pub use world::{controller_command, Interrupted};

pub const EXIT_SKIPPED: u8 = 3;
pub const EXIT_ENVIRONMENT: u8 = 4;
pub const EXIT_INTERRUPTED: u8 = 130;

/// Server UUIDs of a local run come from this seed (real time is not seeded: a local run
/// does not replay bit for bit).
const SEED: u64 = 1;

pub enum Outcome {
    Ran(Box<Report>),
    Skipped(String),
}

/// Why `loaded` cannot run on the local target, or None.
pub fn skip_reason(loaded: &Loaded) -> Option<String> {
    if loaded.scenario.topology.fresh {
        return Some("topology.fresh: the local target starts every site with data".into());
    }
    for f in &loaded.faults {
        if let Some(why) = schedule::unsupported(&f.op) {
            return Some(format!("fault {}: {why}", f.op));
        }
    }
    scale::group_object(loaded).err()
}

/// Runs `loaded` on the local target; the children's logs, the kubeconfig and the ledger
/// of pids and ports ([`LEDGER_FILE`]) go to `dir`. The report's `wall_seconds` is the real
/// time of the run (what issue 11's bench compares with the simulator's).
pub fn run_local(loaded: &Loaded, dir: &Path) -> anyhow::Result<Outcome> {
    if let Some(why) = skip_reason(loaded) {
        return Ok(Outcome::Skipped(why));
    }
    let bins = binaries()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let trace = Trace::with_scaled_real_time(FACTOR);
    // The children are started from this thread (block_on runs the future here), so their
    // parent-death signal is tied to a thread that lives as long as the run.
    let out = rt.block_on(world::run(loaded, SEED, &bins, dir, trace))?;
    let wall = started.elapsed();
    rt.shutdown_background();
    let verdicts = oracles::judge(&Input {
        events: &out.events,
        fin: &out.fin,
        scenario: loaded,
        group: crate::world::GROUP,
    });
    let count = |f: fn(&EventKind) -> bool| out.events.iter().filter(|e| f(&e.kind)).count() as u64;
    let id = loaded.scenario.id.clone();
    Ok(Outcome::Ran(Box::new(Report {
        pass: verdicts.iter().all(|v| v.pass),
        description: loaded.scenario.description.clone(),
        verdicts,
        trace_hash: hash_events(&out.events),
        acked_writes: count(|k| matches!(k, EventKind::Ack { .. })),
        failed_writes: count(|k| matches!(k, EventKind::WriteError { .. })),
        virtual_seconds: out.scenario_elapsed.as_secs_f64(),
        wall_seconds: wall.as_secs_f64(),
        replay: format!("cargo run -p chaos -- run {id} --target local"),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        timeline: timeline(&out.events),
        final_state: out.fin,
        events: out.events,
        scenario: id,
        seed: SEED,
        target: "local".into(),
    })))
}

/// `chaos run <scenario> --target local`: runs, prints the summary, writes the report;
/// returns the exit code.
pub fn run(loaded: &Loaded, report_dir: Option<PathBuf>) -> u8 {
    let dir = report_dir.unwrap_or_else(|| default_dir(&format!("{}-local", loaded.scenario.id)));
    if skip_reason(loaded).is_none() {
        println!(
            "local target: {} at 1/{FACTOR} of its timings ({:.0}s real)",
            loaded.scenario.id,
            scale::real(loaded.duration).as_secs_f64()
        );
    }
    finish(run_local(loaded, &dir), &dir)
}

fn finish(outcome: anyhow::Result<Outcome>, dir: &Path) -> u8 {
    match outcome {
        Ok(Outcome::Skipped(why)) => {
            println!("skipped: {why}");
            EXIT_SKIPPED
        }
        Ok(Outcome::Ran(report)) => {
            print!("{}", report.summary());
            match report.write(dir) {
                Ok(()) => println!("report: {}", dir.display()),
                Err(e) => eprintln!(
                    "warning: could not write the report to {}: {e}",
                    dir.display()
                ),
            }
            u8::from(!report.pass)
        }
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("{e}: every child process was killed");
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!("error: the local run failed: {e:#}");
            EXIT_ENVIRONMENT
        }
    }
}

/// `chaos run-all --target local`: every scenario of `selected` once, in turn (real time
/// cannot share the cores the way simulations do); skipped ones are listed with why.
pub fn run_all(selected: &[&Loaded], out: &Path) -> u8 {
    let (mut passed, mut failed, mut skipped, mut errors) = (vec![], vec![], vec![], vec![]);
    for l in selected {
        let id = l.scenario.id.clone();
        let dir = out.join(&id);
        match finish(run_local(l, &dir), &dir) {
            0 => passed.push(id),
            1 => failed.push(id),
            EXIT_SKIPPED => skipped.push(id),
            EXIT_INTERRUPTED => return EXIT_INTERRUPTED,
            _ => errors.push(id),
        }
    }
    for (what, ids) in [
        ("PASS", &passed),
        ("FAIL", &failed),
        ("SKIP", &skipped),
        ("ERROR", &errors),
    ] {
        for id in ids.iter() {
            println!("{what} {id}");
        }
    }
    println!(
        "local target: {} passed, {} failed, {} skipped, {} error(s); reports in {}",
        passed.len(),
        failed.len(),
        skipped.len(),
        errors.len(),
        out.display()
    );
    if !errors.is_empty() {
        EXIT_ENVIRONMENT
    } else {
        u8::from(!failed.is_empty())
    }
}

fn default_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../reports")
        .join(name)
}
