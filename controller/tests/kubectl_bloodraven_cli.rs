//! The plugin binary's command line, without a cluster: help, flag errors and a missing
//! kubeconfig all exit non-zero with a message. (Building this test also builds the binary
//! that the harness's plugin tests run against the fake apiserver.)

use std::process::Command;

fn plugin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-bloodraven"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("runs")
}

#[test]
fn help_lists_the_commands() {
    let o = plugin(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in ["status", "promote", "reclone", "backup", "verify-backup"] {
        assert!(text.contains(cmd), "{text}");
    }
}

#[test]
fn version_needs_no_cluster() {
    let o = plugin(&["version"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("kubectl-bloodraven {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_flags_and_a_missing_kubeconfig_exit_2() {
    let o = plugin(&["promote", "g"]);
    assert_eq!(o.status.code(), Some(2));
    let o = plugin(&["promote", "g", "b", "--max-lag-wait", "5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid duration \"5\""));
    let o = plugin(&["backup", "g"]);
    assert_eq!(o.status.code(), Some(2), "--profile is required");
    assert!(String::from_utf8_lossy(&o.stderr).contains("--profile"));
    let o = plugin(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("error: reading the kubeconfig"));
}
