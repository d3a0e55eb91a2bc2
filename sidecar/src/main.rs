//! Production wiring of the sidecar: tokio TCP, `mysql_async`, the system clock, JSON logs.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use bloodraven::clock::SystemClock;
use bloodraven::net::{TokioDialer, TokioListener};
use bloodraven::sql::MysqlAsyncConnector;
use bloodraven_sidecar::{run, Seams, SidecarConfig};

fn credentials() -> anyhow::Result<(String, String)> {
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
    if let Some(user) = var("MYSQL_USER") {
        return Ok((user, var("MYSQL_PASSWORD").unwrap_or_default()));
    }
    if let Some(dir) = var("MYSQL_CREDS_DIR") {
        let read = |f: &str| {
            std::fs::read_to_string(format!("{dir}/{f}"))
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .with_context(|| format!("MYSQL_CREDS_DIR={dir:?}: cannot read {f}"))
        };
        return Ok((read("username")?, read("password")?));
    }
    Err(anyhow!(
        "MySQL credentials missing: set MYSQL_USER (and MYSQL_PASSWORD) or MYSQL_CREDS_DIR"
    ))
}

async fn real_main() -> anyhow::Result<()> {
    let cfg = SidecarConfig::from_env()?;
    let (user, password) = credentials()?;
    let listen_addr = std::env::var("LISTEN_ADDR").ok().filter(|v| !v.is_empty());
    let listen_addr = match listen_addr {
        None => "0.0.0.0:8080".to_string(),
        Some(a) if a.starts_with(':') => format!("0.0.0.0{a}"),
        Some(a) => a,
    };
    let listener = TokioListener::bind(&listen_addr)
        .await
        .with_context(|| format!("LISTEN_ADDR={listen_addr:?}: cannot listen"))?;
    let seams = Seams {
        dialer: Arc::new(TokioDialer),
        sql: Arc::new(MysqlAsyncConnector {
            user,
            password,
            connect_timeout: Duration::from_secs(5),
        }),
        clock: Arc::new(SystemClock),
    };
    run(cfg, seams, Box::new(listener)).await
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match real_main().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "sidecar exiting");
            eprintln!("bloodraven-sidecar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
