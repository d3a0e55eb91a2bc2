//! The `k3d` target: runs a catalog scenario against the playground cluster
//! (playground/setup.sh). Faults become kubectl/docker commands ([`plan`]); the run is
//! observed through the API, SQL over `kubectl exec` (state, and the operator's and root's
//! statements from MySQL's general log), the counter's ack log and the operator's log
//! ([`observe`]), and judged by the same oracles as the simulator, on the properties
//! those observations can support ([`judged`]).
//!
//! Exit codes: 0 pass, 1 a property violated, 2 scenario not expressible on k3d,
//! 3 context refused (only `k3d-*`), 4 environment missing (tools, cluster).

mod cluster;
mod guard;
mod observe;
pub mod plan;
mod sample;

use std::path::PathBuf;

use crate::scenario::Loaded;

pub use guard::{check_context, check_environment, EnvError};

pub const EXIT_UNSUPPORTED: u8 = 2;
pub const EXIT_CONTEXT: u8 = 3;
pub const EXIT_ENVIRONMENT: u8 = 4;
/// The context setup.sh creates.
pub const DEFAULT_CONTEXT: &str = "k3d-bloodraven";

pub struct Options {
    pub context: String,
    pub dry_run: bool,
    pub report_dir: Option<PathBuf>,
}

/// Properties the k3d observations support, and why the others are not judged there.
pub fn judged(loaded: &Loaded) -> (Vec<String>, Vec<(String, String)>) {
    let mut yes = vec![];
    let mut no = vec![];
    for p in &loaded.scenario.expect.properties {
        match not_observable(p) {
            None => yes.push(p.clone()),
            Some(why) => no.push((p.clone(), why.to_string())),
        }
    }
    (yes, no)
}

/// Why a property cannot be judged from outside the processes, or None when it can.
fn not_observable(property: &str) -> Option<&'static str> {
    match property {
        "SW" | "CONV" | "FLAP" | "DW" | "FAILOVER" | "NOFO" | "NOFO-PRE" | "REJOIN" | "RPO-A" => {
            None
        }
        "DNS-W" => {
            Some("needs the answers of the operator's read_only probes, invisible from outside")
        }
        "NDA" => Some("needs every replication repoint and commit as it happens"),
        "FENCE" => Some("its isolation windows assume the simulator's restart delays; real pods restart on their own schedule"),
        _ => Some("no k3d observation for it yet"),
    }
}

/// Runs (or with `dry_run` prints) `loaded` on the cluster; returns the exit code.
pub fn run(loaded: &Loaded, opts: &Options) -> u8 {
    if let Err(e) = check_context(&opts.context) {
        eprintln!("error: {e}");
        return EXIT_CONTEXT;
    }
    let plan = match plan::build(loaded, &opts.context) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_UNSUPPORTED;
        }
    };
    let (yes, no) = judged(loaded);
    if opts.dry_run {
        print!("{}", plan.render(&yes, &no));
        return 0;
    }
    if let Err(e) = check_environment(&opts.context) {
        eprintln!("error: {e}");
        return EXIT_ENVIRONMENT;
    }
    if yes.is_empty() {
        eprintln!(
            "error: scenario {} cannot be judged on k3d: none of its properties is observable there ({})",
            loaded.scenario.id,
            no.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", ")
        );
        return EXIT_UNSUPPORTED;
    }
    match observe::execute(loaded, &plan, &yes, &no) {
        Ok(report) => {
            print!("{}", report.summary());
            let dir = opts.report_dir.clone().unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../reports")
                    .join(format!("{}-k3d", loaded.scenario.id))
            });
            match report.write(&dir) {
                Ok(()) => println!("report: {}", dir.display()),
                Err(e) => eprintln!(
                    "warning: could not write the report to {}: {e}",
                    dir.display()
                ),
            }
            u8::from(!report.pass)
        }
        Err(e) => {
            eprintln!("error: the k3d run failed: {e:#}");
            EXIT_ENVIRONMENT
        }
    }
}
