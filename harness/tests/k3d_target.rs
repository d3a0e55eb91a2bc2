//! The k3d target without a cluster: the exact command plans of the main scenarios
//! (insta snapshots), the context guard, refused scenarios and missing-environment errors,
//! all through the `chaos` binary where the exit code matters.

use std::path::Path;
use std::process::{Command, Output};

use chaos::k3d;
use chaos::scenario;

fn plan_text(id: &str) -> String {
    let loaded = scenario::find(&scenario::catalog_dir(), id).expect("catalog scenario loads");
    let plan = k3d::plan::build(&loaded, k3d::DEFAULT_CONTEXT).expect("expressible on k3d");
    let (yes, no) = k3d::judged(&loaded);
    plan.render(&yes, &no)
}

#[test]
fn k3d_plan_snapshots() {
    for id in [
        "kill-site",
        "network-partition-primary",
        "partition-replica-no-failover",
        "sidecar-crash-no-failover",
        "operator-kill-restart",
        "split-brain-auto-resolve",
        "gtid-divergence-detection",
        "operator-cannot-reach-primary",
        "stale-lease-aux-never-up",
    ] {
        insta::assert_snapshot!(format!("k3d_plan_{id}"), plan_text(id));
    }
}

fn chaos(args: &[&str], path: &str, kubeconfig: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chaos"));
    c.args(args).env("PATH", path).env_remove("KUBECONFIG");
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k);
    }
    c.output().expect("the chaos binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("chaos-k3d-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn k3d_refuses_contexts_not_named_k3d() {
    for ctx in ["prod", "kind-test", "k3d-", "gke_project_zone_main"] {
        for dry in [true, false] {
            let mut args = vec!["run", "kill-site", "--target", "k3d", "--context", ctx];
            if dry {
                args.push("--dry-run");
            }
            let o = chaos(&args, "/nonexistent", None);
            assert_eq!(o.status.code(), Some(3), "{ctx} dry={dry}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("only runs against contexts named k3d-"),
                "{}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn k3d_dry_run_needs_no_environment() {
    let o = chaos(
        &["run", "kill-site", "--target", "k3d", "--dry-run"],
        "/nonexistent",
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out, plan_text("kill-site"));
    assert!(out.contains("docker stop k3d-bloodraven-agent-0"), "{out}");
}

#[test]
fn k3d_missing_tools_exit_4() {
    let empty = temp_dir("empty");
    let o = chaos(
        &["run", "kill-site", "--target", "k3d"],
        empty.to_str().unwrap(),
        None,
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("kubectl not found on PATH"),
        "{}",
        stderr(&o)
    );
}

/// kubectl, docker and k3d present (docker and k3d as stubs), the cluster unreachable.
#[test]
fn k3d_unreachable_cluster_exit_4() {
    let Some(real) = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("kubectl not installed: the unreachable-cluster case needs it; skipped");
        return;
    };
    let dir = temp_dir("unreachable");
    std::os::unix::fs::symlink(real, dir.join("kubectl")).unwrap();
    for stub in ["docker", "k3d"] {
        let p = dir.join(stub);
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let kubeconfig = dir.join("config");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
         contexts:\n- name: k3d-gone\n  context:\n    cluster: c\n    user: u\n\
         current-context: k3d-gone\nusers:\n- name: u\n  user: {}\n",
    )
    .unwrap();
    let o = chaos(
        &[
            "run",
            "kill-site",
            "--target",
            "k3d",
            "--context",
            "k3d-gone",
        ],
        dir.to_str().unwrap(),
        Some(&kubeconfig),
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cluster context k3d-gone is not reachable"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn k3d_refuses_what_it_cannot_express() {
    for (id, why) in [
        ("kill-site-three-sites", "the playground has exactly"),
        ("returning-primary-boot-writes", "always restarts fenced"),
        ("clock-skew", "cannot be offset"),
    ] {
        let o = chaos(
            &["run", id, "--target", "k3d", "--dry-run"],
            "/nonexistent",
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{id}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("scenario {id} cannot run on k3d")),
            "{}",
            stderr(&o)
        );
        assert!(stderr(&o).contains(why), "{id}: {}", stderr(&o));
    }
}

#[test]
fn dry_run_is_a_k3d_flag() {
    let o = chaos(&["run", "kill-site", "--dry-run"], "/nonexistent", None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("needs --target k3d"), "{}", stderr(&o));
}
