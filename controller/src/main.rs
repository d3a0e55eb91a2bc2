//! `bloodraven`: the operator binary. `bloodraven run` manages every MysqlFailoverGroup;
//! `bloodraven crd` prints the CRD manifest.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bloodraven::clock::SystemClock;
use bloodraven::net::TokioListener;
use bloodraven::runner::Runner;
use bloodraven::sql::MysqlAsyncConnector;
use bloodraven::topology::{Registry, ReplicationCredentials, Seams};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bloodraven",
    version,
    about = "Multi-site MySQL failover operator"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator.
    Run {
        /// Aux HTTP address (/healthz, /readyz, /status, /active-site).
        #[arg(long, default_value = "0.0.0.0:8082", env = "AUX_ADDR")]
        aux_addr: String,
        /// Prometheus metrics address (/metrics); empty disables the listener (the aux
        /// address serves /metrics too).
        #[arg(long, default_value = "0.0.0.0:8080", env = "METRICS_ADDR")]
        metrics_addr: String,
        /// Probe address (/healthz, /readyz for the kubelet); empty disables it.
        #[arg(long, default_value = "0.0.0.0:8081", env = "PROBE_ADDR")]
        probe_addr: String,
        /// Manage groups in this namespace only (default: all namespaces).
        #[arg(long, env = "WATCH_NAMESPACE")]
        namespace: Option<String>,
        /// MySQL user the operator connects as.
        #[arg(long, env = "MYSQL_OPERATOR_USER", default_value = "bloodraven")]
        mysql_user: String,
        #[arg(
            long,
            env = "MYSQL_OPERATOR_PASSWORD",
            default_value = "",
            hide_env_values = true
        )]
        mysql_password: String,
        /// Replication user written into CHANGE REPLICATION SOURCE.
        #[arg(long, env = "MYSQL_REPLICATION_USER", default_value = "repl")]
        replication_user: String,
        #[arg(
            long,
            env = "MYSQL_REPLICATION_PASSWORD",
            default_value = "",
            hide_env_values = true
        )]
        replication_password: String,
    },
    /// Print the MysqlFailoverGroup CRD as YAML.
    Crd,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => {
            print!("{}", bloodraven::crd::crd_yaml());
            Ok(())
        }
        Command::Run {
            aux_addr,
            metrics_addr,
            probe_addr,
            namespace,
            mysql_user,
            mysql_password,
            replication_user,
            replication_password,
        } => {
            tracing_subscriber::fmt()
                .json()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .init();
            let kube = kube::Client::try_default()
                .await
                .context("building the Kubernetes client (kubeconfig or in-cluster)")?;
            let overrides = bloodraven::resolve::parse(
                &std::env::var(bloodraven::resolve::ENV).unwrap_or_default(),
            )
            .map_err(anyhow::Error::msg)?;
            let seams = Seams {
                kube,
                sql: bloodraven::resolve::ResolvingConnector::wrap(
                    Arc::new(MysqlAsyncConnector {
                        user: mysql_user,
                        password: mysql_password,
                        connect_timeout: Duration::from_secs(5),
                    }),
                    overrides,
                ),
                clock: Arc::new(SystemClock),
            };
            let registry = Registry::default();
            let listener = TokioListener::bind(&aux_addr)
                .await
                .with_context(|| format!("binding aux address {aux_addr}"))?;
            let aux = tokio::spawn(bloodraven::http::serve(
                Box::new(listener),
                bloodraven::aux_server::handler(registry.clone()),
            ));
            if !metrics_addr.is_empty() {
                let listener = TokioListener::bind(&metrics_addr)
                    .await
                    .with_context(|| format!("binding metrics address {metrics_addr}"))?;
                tokio::spawn(bloodraven::http::serve(
                    Box::new(listener),
                    bloodraven::aux_server::metrics_handler(registry.clone()),
                ));
            }
            if !probe_addr.is_empty() {
                let listener = TokioListener::bind(&probe_addr)
                    .await
                    .with_context(|| format!("binding probe address {probe_addr}"))?;
                tokio::spawn(bloodraven::http::serve(
                    Box::new(listener),
                    bloodraven::aux_server::probe_handler(),
                ));
            }
            let runner = Runner {
                seams,
                creds: ReplicationCredentials {
                    user: replication_user,
                    password: replication_password,
                },
                registry,
                namespace,
            };
            tokio::select! {
                _ = runner.run() => Ok(()),
                r = aux => Err(anyhow::anyhow!("aux HTTP server stopped: {r:?}")),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}
