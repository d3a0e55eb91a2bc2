//! The playground scripts fail early, with a clear message and a distinct exit code, when
//! their environment is missing, and refuse bad arguments before touching a cluster. Run
//! with a PATH holding only bash, dirname, cat and the stubs each case needs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn which(tool: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}

/// A PATH directory with bash, dirname, cat and `stubs` (name, exit code).
fn path_with(name: &str, stubs: &[(&str, i32)]) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("playground-scripts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for tool in ["bash", "dirname", "cat"] {
        std::os::unix::fs::symlink(
            which(tool).expect("bash, dirname and cat exist"),
            dir.join(tool),
        )
        .unwrap();
    }
    for (stub, code) in stubs {
        let p = dir.join(stub);
        std::fs::write(&p, format!("#!/bin/sh\nexit {code}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn script(name: &str, args: &[&str], path: &Path) -> Output {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../playground")
        .join(name);
    Command::new(which("bash").unwrap())
        .arg(file)
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn check(o: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// (case name, stubs, expected exit code, expected message).
type Case<'a> = (&'a str, &'a [(&'a str, i32)], i32, &'a str);

#[test]
fn setup_fails_early_per_missing_tool() {
    let cases: [Case; 4] = [
        ("nodocker", &[], 10, "docker not found on PATH"),
        ("nok3d", &[("docker", 0)], 11, "k3d not found on PATH"),
        (
            "nokubectl",
            &[("docker", 0), ("k3d", 0)],
            12,
            "kubectl not found on PATH",
        ),
        (
            "daemon",
            &[("docker", 1), ("k3d", 0), ("kubectl", 0)],
            13,
            "Docker daemon is not reachable",
        ),
    ];
    for (name, stubs, code, needle) in cases {
        let path = path_with(name, stubs);
        check(&script("setup.sh", &[], &path), code, needle);
        let _ = std::fs::remove_dir_all(&path);
    }
}

#[test]
fn scripts_refuse_bad_arguments_before_any_cluster_call() {
    // kubectl exists but fails: reaching the cluster would exit 14, not 2.
    let path = path_with("args", &[("kubectl", 1)]);
    check(
        &script("setup.sh", &["--bogus"], &path),
        2,
        "unknown argument '--bogus'",
    );
    check(
        &script("chaos.sh", &["explode"], &path),
        2,
        "unknown verb 'explode'",
    );
    check(
        &script("chaos.sh", &["kill-site"], &path),
        2,
        "needs a SITE",
    );
    check(
        &script("chaos.sh", &["kill-site", "z"], &path),
        2,
        "unknown site 'z'",
    );
    check(
        &script("reset-mysql.sh", &["--bogus"], &path),
        2,
        "unknown argument",
    );
    check(
        &script("chaos.sh", &["status"], &path),
        14,
        "context k3d-bloodraven is not reachable",
    );
    check(&script("teardown.sh", &[], &path), 14, "is not reachable");
    let help = script("setup.sh", &["--help"], &path);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: playground/setup.sh"));
    let _ = std::fs::remove_dir_all(&path);
}
