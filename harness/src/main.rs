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
        /// Run a deliberately broken controller (test-only fault hook), e.g.
        /// `ignore-cooldown`; repeatable.
        #[arg(long = "break", value_name = "BEHAVIOUR", value_parser = chaos::explore::cli::parse_broken)]
        broken: Vec<bloodraven::fault_hooks::Broken>,
    },
    /// Load and validate every scenario file of the catalog.
    Validate,
    /// Random fault campaigns: runs drawn from a seed, failures shrunk to repro files.
    Explore(chaos::explore::cli::ExploreArgs),
    /// Rerun a repro file bit for bit and compare its verdict and trace hash.
    Replay(chaos::explore::cli::ReplayArgs),
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
        Command::Explore(args) => chaos::explore::cli::explore(args, &dir),
        Command::Replay(args) => chaos::explore::cli::replay(args),
        Command::Run {
            scenario: id,
            seed,
            report_dir,
            log,
            hash_only,
            broken,
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
            let cfg = chaos::world::RunConfig {
                seed,
                print_log: log,
                broken,
            };
            let report = match chaos::runner::run_with(&loaded, &cfg) {
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

fn default_report_dir(scenario: &str, seed: u64) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("reports")
        .join(format!("{scenario}-{seed}"))
}

fn bad_input(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}
