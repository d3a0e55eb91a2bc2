//! Refuses to touch anything but a local k3d cluster, and names what is missing before
//! any command runs.

use std::process::{Command, Stdio};

/// Only contexts named `k3d-*` are accepted: the target deletes pods, stops nodes and
/// writes NetworkPolicies, which must never reach a shared cluster.
pub fn check_context(context: &str) -> Result<(), String> {
    match context.strip_prefix("k3d-") {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "context {context:?} refused: the k3d target only runs against contexts named k3d-<cluster> (created by playground/setup.sh)"
        )),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{0} not found on PATH: the k3d target needs kubectl, docker and k3d (see README, Playground)")]
    MissingTool(&'static str),
    #[error(
        "cluster context {context} is not reachable ({detail}); start it with playground/setup.sh"
    )]
    Unreachable { context: String, detail: String },
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let p = dir.join(tool);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o111 != 0
                })
        })
    })
}

/// kubectl, docker and k3d on PATH, and the cluster answering `/readyz`.
pub fn check_environment(context: &str) -> Result<(), EnvError> {
    for tool in ["kubectl", "docker", "k3d"] {
        if !on_path(tool) {
            return Err(EnvError::MissingTool(tool));
        }
    }
    let out = Command::new("kubectl")
        .args([
            "--context",
            context,
            "--request-timeout=5s",
            "get",
            "--raw",
            "/readyz",
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EnvError::Unreachable {
            context: context.into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(EnvError::Unreachable {
            context: context.into(),
            detail: err
                .lines()
                .last()
                .unwrap_or("kubectl failed")
                .trim()
                .to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k3d_context_guard() {
        assert!(check_context("k3d-bloodraven").is_ok());
        for bad in ["", "k3d-", "kind-x", "prod", "gke_p_z_c", "K3D-x", "xk3d-y"] {
            let e = check_context(bad).unwrap_err();
            assert!(
                e.contains("only runs against contexts named k3d-"),
                "{bad}: {e}"
            );
        }
    }
}
