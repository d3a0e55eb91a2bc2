//! `chaos`: run Bloodraven scenarios in the deterministic simulator.
//! Exit codes: 0 pass, 1 a property was violated, 2 bad input; `--target local` adds 3
//! skipped, 4 environment, 130 interrupted (chaos::local), `--target k3d` its own (chaos::k3d).

use std::path::PathBuf;
use std::process::ExitCode;

use chaos::scenario;

/// mimalloc: the simulator allocates and frees many small objects (JSON trees, HTTP
/// buffers, timers); glibc malloc and free took ~12% of a kill-site run. Addresses never reach
/// the simulation, so the choice leaves every trace unchanged.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand, ValueEnum};

/// Where a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    /// The deterministic simulator (seeded, reproducible).
    Sim,
    /// The playground k3d cluster (playground/setup.sh): real pods, real MySQL.
    K3d,
    /// Real controller and sidecar processes on loopback against the fakes, timings
    /// scaled 1/5 (exit 3: skipped, the scenario's faults have no local expression).
    Local,
}

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
        /// Where to run it.
        #[arg(long, value_enum, default_value_t = Target::Sim)]
        target: Target,
        /// k3d: the kubectl context (only k3d-* contexts are accepted).
        #[arg(long, default_value = chaos::k3d::DEFAULT_CONTEXT)]
        context: String,
        /// k3d: print the exact command plan and exit, touching no cluster.
        #[arg(long)]
        dry_run: bool,
    },
    /// Load and validate every scenario file of the catalog.
    Validate,
    /// Random fault campaigns: runs drawn from a seed, failures shrunk to repro files.
    Explore(chaos::explore::cli::ExploreArgs),
    /// Rerun a repro file bit for bit and compare its verdict and trace hash.
    Replay(chaos::explore::cli::ReplayArgs),
    /// Run every scenario of a profile on seeds 1..=N in parallel; writes
    /// reports/<name>/ (one folder per run, index.md, index.html). Exit 0 all pass, 1 a
    /// property was violated (or the campaign was interrupted), 2 bad input.
    RunAll(RunAllArgs),
    /// The playground workload against a real MySQL: unique-id writes at a rate, with an
    /// HTTP log of what was acknowledged and what failed (/log?after=N, /stats, /healthz).
    Counter(CounterArgs),
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

#[derive(clap::Args)]
struct RunAllArgs {
    /// smoke ⊂ release ⊂ full.
    #[arg(long, value_parser = ["smoke", "release", "full"])]
    profile: String,
    /// Seeds per scenario (1..=N).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    seeds: u64,
    /// Parallel runs (default: the available cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: Option<u64>,
    /// Also write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Campaign folder name under reports/ (default: the profile).
    #[arg(long)]
    name: Option<String>,
    /// Campaign folder (overrides --name).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where to run: `local` runs each scenario once, in turn, on real processes
    /// (--seeds, --jobs and --junit apply to the simulator only).
    #[arg(long, value_enum, default_value_t = Target::Sim)]
    target: Target,
}

#[derive(clap::Args)]
struct CounterArgs {
    /// Write to this host (re-resolved on every connection).
    #[arg(
        long,
        conflicts_with = "dns_endpoint",
        required_unless_present = "dns_endpoint"
    )]
    host: Option<String>,
    /// Follow this DNSEndpoint's first A target (in-cluster API access needed).
    #[arg(long)]
    dns_endpoint: Option<String>,
    /// Namespace of the DNSEndpoint.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    namespace: String,
    /// Site names of the record's targets: `a=10.43.100.1,b=10.43.100.2`.
    #[arg(long, default_value = "")]
    sites: String,
    /// Writes per second.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rate: u32,
    /// How long a resolved target is reused (the DNS TTL), e.g. 10s.
    #[arg(long, default_value = "10s")]
    ttl: String,
    /// HTTP address of the ack log.
    #[arg(long, default_value = "0.0.0.0:8090")]
    listen: String,
    #[arg(long, env = "COUNTER_USER", default_value = "app")]
    user: String,
    #[arg(
        long,
        env = "COUNTER_PASSWORD",
        default_value = "",
        hide_env_values = true
    )]
    password: String,
}

fn counter(a: CounterArgs) -> ExitCode {
    use chaos::counter_app::{parse_sites, serve, AckLog, Target, Writer};
    let ttl = match bloodraven::duration::parse(&a.ttl) {
        Ok(t) => t,
        Err(e) => return bad_input(format!("--ttl {:?}: {e}", a.ttl)),
    };
    let sites = match parse_sites(&a.sites) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let target = match (a.host, a.dns_endpoint) {
        (Some(h), _) => Target::Host(h),
        (None, Some(name)) => Target::DnsEndpoint {
            namespace: a.namespace,
            name,
            sites,
        },
        (None, None) => return bad_input("--host or --dns-endpoint is required"),
    };
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let result = rt.block_on(async move {
        let kube = match target {
            Target::DnsEndpoint { .. } => Some(kube::Client::try_default().await?),
            Target::Host(_) => None,
        };
        let writer = Writer {
            connector: std::sync::Arc::new(bloodraven::sql::MysqlAsyncConnector {
                user: a.user,
                password: a.password,
                connect_timeout: std::time::Duration::from_secs(3),
            }),
            target,
            kube,
            rate: a.rate,
            ttl,
            timeout: std::time::Duration::from_secs(3),
            log: AckLog::default(),
            limit: None,
        };
        serve(writer, &a.listen).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let dir = cli.scenarios.clone().unwrap_or_else(scenario::catalog_dir);
    match cli.command {
        Command::Counter(a) => counter(a),
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
                match chaos::campaign::pending(&dir) {
                    Ok(p) => {
                        for p in p {
                            println!(
                                "{:<32} {:<19} {} (issue {})",
                                p.id, "pending", p.reason, p.issue
                            );
                        }
                    }
                    Err(e) => return bad_input(e),
                }
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(e),
        },
        Command::RunAll(args) => run_all(&dir, args),
        Command::Validate => match scenario::load_catalog(&dir) {
            Ok(all) => {
                println!("{} scenario(s) valid in {}", all.len(), dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => bad_input(e),
        },
        Command::Explore(args) => chaos::explore::cli::explore(args, &dir),
        Command::Replay(args) => chaos::explore::cli::replay(args),
        Command::Bench { quick, out, probe } => bench(quick, out, probe),
        Command::Run {
            scenario: id,
            seed,
            report_dir,
            log,
            hash_only,
            broken,
            target,
            context,
            dry_run,
        } => {
            match chaos::campaign::pending(&dir) {
                Ok(p) => {
                    if let Some(p) = p.into_iter().find(|p| p.id == id) {
                        eprintln!(
                            "error: scenario {:?} is pending and cannot run yet: {} (issue {})",
                            p.id, p.reason, p.issue
                        );
                        return ExitCode::from(2);
                    }
                }
                Err(e) => return bad_input(e),
            }
            let loaded = if id.ends_with(".toml") {
                scenario::load_file(std::path::Path::new(&id))
            } else {
                scenario::find(&dir, &id)
            };
            let loaded = match loaded {
                Ok(l) => l,
                Err(e) => return bad_input(e),
            };
            if target == Target::K3d {
                let opts = chaos::k3d::Options {
                    context,
                    dry_run,
                    report_dir,
                };
                return ExitCode::from(chaos::k3d::run(&loaded, &opts));
            }
            if target == Target::Local {
                return ExitCode::from(chaos::local::run(&loaded, report_dir));
            }
            if dry_run {
                return bad_input("--dry-run prints a cluster command plan: it needs --target k3d");
            }
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

fn run_all(dir: &std::path::Path, args: RunAllArgs) -> ExitCode {
    let catalog = match scenario::load_catalog(dir) {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    if chaos::campaign::select(&catalog, &args.profile).is_empty() {
        return bad_input(format!(
            "profile {:?}: no scenario of {} lists it",
            args.profile,
            dir.display()
        ));
    }
    match args.target {
        Target::Sim => {}
        Target::Local => {
            let selected = chaos::campaign::select(&catalog, &args.profile);
            let name = args
                .name
                .unwrap_or_else(|| format!("{}-local", args.profile));
            let out = args
                .out
                .unwrap_or_else(|| workspace_root().join("reports").join(&name));
            return ExitCode::from(chaos::local::run_all(&selected, &out));
        }
        Target::K3d => return bad_input("run-all runs on --target sim or local"),
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || {
            eprintln!("\ninterrupted: finishing the runs in flight, then writing the index");
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }) {
            eprintln!("warning: Ctrl-C handler not installed: {e}");
        }
    }
    let name = args.name.unwrap_or_else(|| args.profile.clone());
    let out = args
        .out
        .unwrap_or_else(|| workspace_root().join("reports").join(&name));
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = chaos::campaign::Options {
        profile: args.profile,
        seeds: args.seeds,
        jobs,
        out: out.clone(),
        junit: args.junit,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let started = std::time::Instant::now();
    let outcome = match chaos::campaign::run(&catalog, &opts, stop) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: the campaign could not run: {e:#}");
            return ExitCode::from(2);
        }
    };
    for r in outcome.runs.iter().filter(|r| !r.pass) {
        println!("FAIL {}-{}: {}", r.scenario, r.seed, r.failures.join("; "));
    }
    for e in &outcome.errors {
        println!("ERROR {e}");
    }
    println!(
        "{} run(s) of {} in {:.1}s wall with {} job(s): {} passed, {} failed{}",
        outcome.runs.len(),
        outcome.planned,
        started.elapsed().as_secs_f64(),
        jobs,
        outcome.runs.len() - outcome.failed(),
        outcome.failed(),
        if outcome.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    println!("index: {}", out.join("index.md").display());
    if !outcome.errors.is_empty() {
        ExitCode::from(2)
    } else if outcome.failed() > 0 || outcome.interrupted {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
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
