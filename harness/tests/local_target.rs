//! The local target's process hygiene and production wiring: the controller is started the
//! way the playground Deployment starts it, and a harness killed mid-run (SIGKILL or
//! SIGTERM) leaves no child process and no listening port behind.
//!
//! The `bloodraven` and `bloodraven-sidecar` binaries are found next to the chaos binary
//! (`cargo test --workspace` builds them); when missing or stale the harness runs
//! `cargo build` for them itself (chaos::local::binaries).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_yaml::Value;

fn manifest() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../playground/manifests/operator/deployment.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The Deployment's container args and environment variable names.
fn deployment_flags() -> (Vec<String>, Vec<String>) {
    let m = manifest();
    let c = &m["spec"]["template"]["spec"]["containers"][0];
    let args = c["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let env = c["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    (args, env)
}

/// What the local target adds to run outside a pod (documented in local/world.rs).
const OUTSIDE_A_POD: &[&str] = &["PROBE_ADDR", "KUBECONFIG", "BLOODRAVEN_RESOLVE"];

fn assert_like_the_deployment(args: &[String], env: &[String]) {
    let (want_args, want_env) = deployment_flags();
    assert_eq!(
        args, want_args,
        "controller arguments differ from the Deployment's"
    );
    for name in &want_env {
        assert!(
            env.contains(name),
            "the Deployment sets {name}; the local controller does not ({env:?})"
        );
    }
    for name in env {
        assert!(
            want_env.contains(name) || OUTSIDE_A_POD.contains(&name.as_str()),
            "the local controller gets {name}, which the Deployment does not set"
        );
    }
}

#[test]
fn the_controller_command_matches_the_playground_deployment() {
    let (args, env) =
        chaos::local::controller_command(1, 2, 3, Path::new("/tmp/kubeconfig"), "a:1=b:2");
    let names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    assert_like_the_deployment(&args, &names);
    let rust_log = env.iter().find(|(k, _)| k == "RUST_LOG").unwrap();
    // The Deployment's level, plus the per-poll debug line that PLV reads.
    assert_eq!(rust_log.1, "info,bloodraven::poll=debug");
}

struct Ledger {
    harness: u32,
    pids: Vec<(u32, String)>,
    ports: Vec<u16>,
}

fn read_ledger(dir: &Path) -> Option<Ledger> {
    let text = std::fs::read_to_string(dir.join(chaos::local::LEDGER_FILE)).ok()?;
    let mut l = Ledger {
        harness: 0,
        pids: vec![],
        ports: vec![],
    };
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match (w.next(), w.next()) {
            (Some("harness"), Some(p)) => l.harness = p.parse().ok()?,
            (Some("pid"), Some(p)) => l.pids.push((p.parse().ok()?, w.next()?.to_string())),
            (Some("port"), Some(p)) => l.ports.push(p.parse().ok()?),
            _ => {}
        }
    }
    Some(l)
}

/// Alive and not a zombie (an orphan's zombie waits for a reaper; it runs nothing).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
    }
}

fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300))
        .is_ok()
}

fn proc_strings(pid: u32, file: &str) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/{file}"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn start(dir: &Path) -> Child {
    let _ = std::fs::remove_dir_all(dir);
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["run", "kill-site", "--target", "local", "--report-dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chaos")
}

/// Waits until the controller and both sidecars run (binaries may be built first).
fn wait_for_children(dir: &Path, harness: &mut Child) -> Ledger {
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if let Some(l) = read_ledger(dir) {
            if l.pids
                .iter()
                .filter(|(_, n)| n.starts_with("sidecar-"))
                .count()
                == 2
            {
                return l;
            }
        }
        if let Ok(Some(status)) = harness.try_wait() {
            panic!("chaos exited before its children were up: {status}");
        }
        assert!(Instant::now() < deadline, "children not up after 900s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_nothing_left(dir: &Path) {
    let l = read_ledger(dir).expect("ledger");
    assert!(!l.pids.is_empty() && !l.ports.is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<_> = l.pids.iter().filter(|(p, _)| alive(*p)).collect();
        let ports: Vec<_> = l.ports.iter().filter(|p| listening(**p)).collect();
        if pids.is_empty() && ports.is_empty() && !alive(l.harness) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still alive 10s after the harness died: processes {pids:?}, listening ports {ports:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("chaos-local-{name}-{}", std::process::id()))
}

#[test]
fn a_sigkilled_harness_leaves_no_process_and_no_port() {
    let dir = run_dir("sigkill");
    let mut harness = start(&dir);
    let ledger = wait_for_children(&dir, &mut harness);

    // While it runs: the real controller binary, started like the Deployment starts it.
    let (pid, _) = ledger
        .pids
        .iter()
        .find(|(_, n)| n == "controller")
        .expect("controller pid");
    let cmdline = proc_strings(*pid, "cmdline");
    assert!(cmdline[0].ends_with("/bloodraven"), "{cmdline:?}");
    let env: Vec<String> = proc_strings(*pid, "environ")
        .iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    assert_like_the_deployment(&cmdline[1..], &env);
    assert!(ledger.ports.iter().any(|p| listening(*p)));

    harness.kill().unwrap(); // SIGKILL: no handler runs, PR_SET_PDEATHSIG does the work
    harness.wait().unwrap();
    assert_nothing_left(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sigtermed_harness_kills_its_children_and_says_so() {
    let dir = run_dir("sigterm");
    let mut harness = start(&dir);
    wait_for_children(&dir, &mut harness);
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(harness.id() as i32, libc::SIGTERM);
    }
    let status = harness.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(i32::from(chaos::local::EXIT_INTERRUPTED)),
        "{status}"
    );
    assert_nothing_left(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}
