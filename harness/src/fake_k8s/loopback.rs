//! The fake apiserver served on 127.0.0.1 for real clients outside the simulator
//! (`kubectl`, `kubectl-bloodraven`, local processes), with a kubeconfig pointing at it.

use std::path::PathBuf;

use super::ApiServer;

/// A running loopback apiserver and its scratch directory (removed on drop). The server task
/// lives on the current tokio runtime and ends with it.
pub struct Loopback {
    pub port: u16,
    /// A fresh directory for the caller's files (manifests, `--cache-dir`, `HOME`).
    pub dir: PathBuf,
    /// `<dir>/config`: cluster `fake` at `http://127.0.0.1:<port>`, no credentials, context
    /// `fake` (current) with the namespace given to [`ApiServer::serve_loopback`].
    pub kubeconfig: PathBuf,
    contexts: Vec<(String, String)>,
}

impl ApiServer {
    /// Serves this apiserver on an ephemeral 127.0.0.1 port (must be called inside a tokio
    /// runtime) and writes a kubeconfig whose current context `fake` uses `namespace`.
    pub async fn serve_loopback(&self, namespace: &str) -> std::io::Result<Loopback> {
        let listener = bloodraven::net::TokioListener::bind("127.0.0.1:0").await?;
        let port = listener.0.local_addr()?.port();
        tokio::spawn(self.clone().serve(Box::new(listener)));
        let dir =
            std::env::temp_dir().join(format!("fake-apiserver-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let lb = Loopback {
            port,
            kubeconfig: dir.join("config"),
            dir,
            contexts: vec![("fake".into(), namespace.into())],
        };
        lb.write_kubeconfig()?;
        Ok(lb)
    }
}

impl Loopback {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds a context `name` (same cluster and user) defaulting to `namespace`; the current
    /// context stays `fake`.
    pub fn add_context(&mut self, name: &str, namespace: &str) -> std::io::Result<()> {
        self.contexts.push((name.into(), namespace.into()));
        self.write_kubeconfig()
    }

    fn write_kubeconfig(&self) -> std::io::Result<()> {
        let contexts: String = self
            .contexts
            .iter()
            .map(|(name, ns)| {
                format!("- name: {name}\n  context:\n    cluster: fake\n    user: fake\n    namespace: {ns}\n")
            })
            .collect();
        std::fs::write(
            &self.kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
                 contexts:\n{contexts}current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
                self.url()
            ),
        )
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The `kubectl` binary: on PATH, else `~/.local/bin/kubectl` (where the project's setup
/// installs it). None when neither runs.
pub fn kubectl_binary() -> Option<PathBuf> {
    let runs = |p: &PathBuf| {
        std::process::Command::new(p)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let on_path = PathBuf::from("kubectl");
    if runs(&on_path) {
        return Some(on_path);
    }
    let local = PathBuf::from(std::env::var_os("HOME")?).join(".local/bin/kubectl");
    runs(&local).then_some(local)
}

/// [`kubectl_binary`] for a test that needs it: None (after printing why `test` is skipped)
/// when kubectl is missing, but a panic when `CHAOS_REQUIRE_KUBECTL=1` (CI sets it).
pub fn kubectl_for_test(test: &str) -> Option<PathBuf> {
    let found = kubectl_binary();
    if found.is_none() {
        assert!(
            std::env::var("CHAOS_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "{test}: kubectl is not on PATH nor in ~/.local/bin, and CHAOS_REQUIRE_KUBECTL=1"
        );
        eprintln!("{test}: kubectl is not on PATH nor in ~/.local/bin: skipped");
    }
    found
}
