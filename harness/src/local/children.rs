//! The real `bloodraven` and `bloodraven-sidecar` processes of a local run: where their
//! binaries come from, how they are started (own process group, killed with the harness),
//! their logs (JSON lines into a file and the trace), and the ledger of every pid and port
//! a run opened, so a test can prove nothing survives the harness.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};

use crate::trace::{EventKind, Trace};

pub struct Binaries {
    pub controller: PathBuf,
    pub sidecar: PathBuf,
}

/// Overrides where the binaries are taken from (no build then).
pub const BIN_DIR_ENV: &str = "CHAOS_LOCAL_BIN_DIR";

/// Finds `bloodraven` and `bloodraven-sidecar`. With [`BIN_DIR_ENV`] set they must be
/// there. Otherwise they are the ones next to the running executable (`target/<profile>/`,
/// also for a test binary in `target/<profile>/deps/`), and when the workspace's sources
/// are present and newer than them, `cargo build` brings them up to date first (cargo
/// releases its lock before running tests, so a test can call it).
pub fn binaries() -> anyhow::Result<Binaries> {
    if let Some(dir) = std::env::var_os(BIN_DIR_ENV) {
        return found(Path::new(&dir), BIN_DIR_ENV);
    }
    let exe = std::env::current_exe().context("locating the chaos executable")?;
    let mut dir = exe
        .parent()
        .context("executable without a folder")?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace root")?;
    if workspace.join("Cargo.toml").exists() && !fresh(&dir, workspace) {
        let target_dir = dir.parent().context("target folder")?;
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(workspace)
            // With `-p chaos` the features unify as in `cargo build --workspace` /
            // `cargo test --workspace`, so this reuses what those built.
            .args(["build", "-q", "-p", "chaos", "-p", "bloodraven", "-p"])
            .args(["bloodraven-sidecar", "--bin", "bloodraven", "--bin"])
            .arg("bloodraven-sidecar")
            .env("CARGO_TARGET_DIR", target_dir)
            .stdin(Stdio::null());
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .context("running cargo build for bloodraven and bloodraven-sidecar")?;
        if !status.success() {
            bail!("cargo build -p bloodraven -p bloodraven-sidecar failed ({status})");
        }
    }
    found(&dir, "the chaos executable's folder")
}

/// Both binaries exist and are newer than every source they are built from (the
/// controller's and sidecar's sources and manifests, and Cargo.lock). Skipping a no-op
/// `cargo build` matters: another feature set than the last build's recompiles kube.
fn fresh(dir: &Path, workspace: &Path) -> bool {
    fn newest(p: &Path) -> Option<std::time::SystemTime> {
        let m = std::fs::metadata(p).ok()?;
        if !m.is_dir() {
            return m.modified().ok();
        }
        std::fs::read_dir(p)
            .ok()?
            .filter_map(|e| newest(&e.ok()?.path()))
            .max()
    }
    let built = ["bloodraven", "bloodraven-sidecar"]
        .iter()
        .map(|b| newest(&dir.join(b)))
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    let sources = ["controller", "sidecar", "Cargo.lock", "Cargo.toml"]
        .iter()
        .filter_map(|p| newest(&workspace.join(p)))
        .max();
    matches!((built, sources), (Some(b), Some(s)) if b >= s)
}

fn found(dir: &Path, origin: &str) -> anyhow::Result<Binaries> {
    let b = Binaries {
        controller: dir.join("bloodraven"),
        sidecar: dir.join("bloodraven-sidecar"),
    };
    for p in [&b.controller, &b.sidecar] {
        if !p.is_file() {
            bail!(
                "{} not found ({origin}): build it with `cargo build -p bloodraven -p bloodraven-sidecar`",
                p.display()
            );
        }
    }
    Ok(b)
}

/// Append-only record of the pids and ports a run opened (`local-run.txt`).
#[derive(Clone)]
pub struct Ledger(Arc<Mutex<std::fs::File>>);

pub const LEDGER_FILE: &str = "local-run.txt";

impl Ledger {
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(LEDGER_FILE);
        let mut f =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        writeln!(f, "harness {}", std::process::id())?;
        Ok(Self(Arc::new(Mutex::new(f))))
    }

    pub fn note(&self, line: &str) {
        let mut f = self.0.lock().unwrap();
        let _ = writeln!(f, "{line}");
        let _ = f.flush();
    }
}

/// What a child process is started with.
pub struct Spec {
    /// Trace host name of its log lines (`bloodraven`, `mysql-demo-a-internal`).
    pub host: String,
    /// Log file stem.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// A running child in its own process group; killed (the whole group) on drop.
pub struct ChildProc {
    child: std::process::Child,
}

impl ChildProc {
    /// Starts `spec`. The child gets only the listed environment, dies with the harness
    /// (PR_SET_PDEATHSIG, so even a SIGKILLed harness leaves nothing behind), and its
    /// stdout (JSON log lines) feeds `<dir>/<name>.log` and the trace.
    pub fn spawn(spec: &Spec, dir: &Path, trace: &Trace, ledger: &Ledger) -> anyhow::Result<Self> {
        let log_path = dir.join(format!("{}.log", spec.name));
        let err_path = dir.join(format!("{}.stderr.log", spec.name));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&err_path)
            .with_context(|| format!("opening {}", err_path.display()))?;
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .process_group(0);
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", spec.program.display()))?;
        ledger.note(&format!("pid {} {}", child.id(), spec.name));
        let stdout = child.stdout.take().expect("piped stdout");
        let (host, trace) = (spec.host.clone(), trace.clone());
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = writeln!(log, "{line}");
                if let Some(kind) = log_event(&host, &line) {
                    trace.record(kind);
                }
            }
        });
        Ok(Self { child })
    }

    /// SIGKILL to the whole process group, then reap.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the group this child leads.
            unsafe {
                libc::kill(-(self.child.id() as i32), libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSON log line of a Bloodraven process as the simulator's log layer records it:
/// the operator's and sidecar's own INFO-and-above messages.
pub fn log_event(host: &str, line: &str) -> Option<EventKind> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let target = v["target"].as_str()?;
    let level = v["level"].as_str()?;
    // The controller's per-poll debug line (enabled for `bloodraven::poll` only) is what
    // PLV judges, as in the simulator.
    if target == "bloodraven::poll" && v["fields"]["message"] == "poll complete" {
        return Some(EventKind::Poll {
            host: host.to_string(),
            // The controller runs at 1/FACTOR of its timings; the trace is in scenario time.
            interval_ms: v["fields"]["interval_ms"].as_u64()? * super::FACTOR as u64,
        });
    }
    if !target.starts_with("bloodraven") || !matches!(level, "ERROR" | "WARN" | "INFO") {
        return None;
    }
    Some(EventKind::Log {
        host: host.to_string(),
        level: level.to_string(),
        msg: v["fields"]["message"].as_str()?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::FACTOR;
    use super::*;

    #[test]
    fn json_log_lines_become_trace_logs() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"failover executed","to":"b"},"target":"bloodraven::topology::manager"}"#;
        assert_eq!(
            log_event("bloodraven", line),
            Some(EventKind::Log {
                host: "bloodraven".into(),
                level: "INFO".into(),
                msg: "failover executed".into()
            })
        );
        let debug = line.replace("\"INFO\"", "\"DEBUG\"");
        assert_eq!(log_event("bloodraven", &debug), None);
        let foreign = line.replace("bloodraven::topology", "kube_runtime::watcher");
        assert_eq!(log_event("bloodraven", &foreign), None);
        assert_eq!(log_event("bloodraven", "not json"), None);
        // The per-poll line becomes a Poll (PLV), its interval in scenario time.
        let poll = r#"{"level":"DEBUG","fields":{"message":"poll complete","interval_ms":400},"target":"bloodraven::poll"}"#;
        assert_eq!(
            log_event("bloodraven", poll),
            Some(EventKind::Poll {
                host: "bloodraven".into(),
                interval_ms: 400 * FACTOR as u64
            })
        );
    }
}
