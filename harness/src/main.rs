//! `chaos`: run Bloodraven scenarios in the deterministic simulator.
//! Exit codes: 0 pass, 1 a property was violated, 2 bad input.

use std::path::PathBuf;
use std::process::ExitCode;

use chaos::scenario;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chaos",
    version,
    about = "Deterministic chaos harness for Bloodraven"
)]
struct Cli {
    /// Scenario catalog folder (default: the workspace's scenarios/).
    #[arg(long, global = true, env = "CHAOS_SCENARIOS")]
    scenarios: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the scenarios of the catalog.
    List,
    /// Run one scenario and judge it.
    Run {
        /// Scenario id (a file name in the catalog without .toml) or a path to a .toml file.
        scenario: String,
        /// Run seed; the same seed reproduces the run bit for bit.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write report.json and report.md (default reports/<scenario>-<seed>/).
        #[arg(long)]
        report_dir: Option<PathBuf>,
        /// Print the controller and sidecar log, stamped with virtual time and host.
        #[arg(long)]
        log: bool,
        /// Only print the trace hash (for determinism checks).
        #[arg(long)]
        hash_only: bool,
    },
    /// Load and validate every scenario file of the catalog.
    Validate,
    /// Measure simulation speed, growth with sites and run length, and peak memory; print
    /// a table and write reports/bench/bench.json. Build with --release for real numbers.
    Bench {
        /// A shorter plan (for CI): fewer and shorter shapes.
        #[arg(long)]
        quick: bool,
        /// Where to write the JSON (default reports/bench/bench.json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Internal: run one measurement in this process and print it as JSON.
        #[arg(long, hide = true)]
        probe: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.scenarios.clone().unwrap_or_else(scenario::catalog_dir);
    match cli.command {
        Command::List => match scenario::load_catalog(&dir) {
            Ok(all) => {
                for l in all {
                    let s = &l.scenario;
                    println!(
                        "{:<32} {:<19} {}",
                        s.id,
                        s.profiles.join(","),
                        s.description
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(e),
        },
        Command::Validate => match scenario::load_catalog(&dir) {
            Ok(all) => {
                println!("{} scenario(s) valid in {}", all.len(), dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(e),
        },
        Command::Bench { quick, out, probe } => bench(quick, out, probe),
        Command::Run {
            scenario: id,
            seed,
            report_dir,
            log,
            hash_only,
        } => {
            let loaded = if id.ends_with(".toml") {
                scenario::load_file(std::path::Path::new(&id))
            } else {
                scenario::find(&dir, &id)
            };
            let loaded = match loaded {
                Ok(l) => l,
                Err(e) => return bad_input(e),
            };
            let report = match chaos::runner::run_and_judge(&loaded, seed, log) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: the simulation could not run: {e:#}");
                    return ExitCode::from(2);
                }
            };
            if hash_only {
                println!("{}", report.trace_hash);
            } else {
                print!("{}", report.summary());
                let dir = report_dir.unwrap_or_else(|| default_report_dir(&report.scenario, seed));
                match report.write(&dir) {
                    Ok(()) => println!("report: {}", dir.display()),
                    Err(e) => eprintln!(
                        "warning: could not write the report to {}: {e}",
                        dir.display()
                    ),
                }
            }
            if report.pass {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn bench(quick: bool, out: Option<PathBuf>, probe: Option<String>) -> ExitCode {
    if let Some(p) = probe {
        return match chaos::bench::measure(&p) {
            Ok(sample) => {
                println!("{}", serde_json::to_string(&sample).expect("serializable"));
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(format!("{e:#}")),
        };
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "note: debug build; the targets apply to `cargo run --release -p chaos -- bench`"
        );
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return bad_input(format!("cannot find the chaos executable: {e}")),
    };
    let report = match chaos::bench::run(&exe, quick, |p| eprintln!("measuring {p} ...")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.table());
    let path = out.unwrap_or_else(|| workspace_root().join("reports/bench/bench.json"));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&report).expect("serializable"),
            )
        });
    match written {
        Ok(()) => println!("written: {}", path.display()),
        Err(e) => eprintln!("warning: could not write {}: {e}", path.display()),
    }
    ExitCode::SUCCESS
}

fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn default_report_dir(scenario: &str, seed: u64) -> PathBuf {
    workspace_root()
        .join("reports")
        .join(format!("{scenario}-{seed}"))
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
