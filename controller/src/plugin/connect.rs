//! A kube client from the kubeconfig, like kubectl builds one: `--kubeconfig`, else
//! `$KUBECONFIG`, else `~/.kube/config`; `--context` picks the context, whose namespace
//! is the default one.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::Exit;

pub async fn client(
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<(kube::Client, String), Exit> {
    let kubeconfig = match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    }
    .map_err(|e| Exit::bad_input(format!("reading the kubeconfig: {e}")))?;
    let options = KubeConfigOptions {
        context: context.map(String::from),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Exit::bad_input(format!("loading the kubeconfig: {e}")))?;
    let ns = config.default_namespace.clone();
    let client = kube::Client::try_from(config)
        .map_err(|e| Exit::cluster(format!("building the client: {e}")))?;
    Ok((client, ns))
}
