//! The Bloodraven sidecar: per-pod health endpoints, the startup safety net (spec §6.3)
//! and the self-fencing monitor (§6.4).
//!
//! The same code runs in production and inside the turmoil simulator: it reaches the world
//! only through the `bloodraven` seams handed to [`run`] in [`Seams`].

pub mod config;
pub mod fencing;
pub mod monitor;
pub mod mysql;
pub mod server;

#[cfg(test)]
mod tests;

use anyhow::anyhow;
use bloodraven::clock::SharedClock;
use bloodraven::fault_hooks::FaultHooks;
use bloodraven::net::{Listener, SharedDialer};
use bloodraven::sql::SharedSqlConnector;
use tracing::info;

pub use config::{parse_go_duration, SidecarConfig};
pub use fencing::{SafetyNet, TickReport};
pub use monitor::{Action, FenceReason, Monitor, TopologyView};
pub use mysql::FenceOutcome;

/// The sidecar's only ways out into the world.
#[derive(Clone)]
pub struct Seams {
    pub dialer: SharedDialer,
    pub sql: SharedSqlConnector,
    pub clock: SharedClock,
}

/// Serves HTTP on `listener`, runs the startup safety net once, then the fencing monitor
/// forever. Returns only if the HTTP server fails (which stops everything, §6.5).
/// `cfg` is clamped here (see [`SidecarConfig::clamped`]).
pub async fn run(
    cfg: SidecarConfig,
    seams: Seams,
    listener: Box<dyn Listener>,
) -> anyhow::Result<()> {
    serve(cfg, seams, listener, FaultHooks::default()).await
}

/// [`run`] with test-only broken behaviours (the chaos harness's broken sidecars).
#[cfg(feature = "fault-hooks")]
pub async fn run_with_hooks(
    cfg: SidecarConfig,
    seams: Seams,
    listener: Box<dyn Listener>,
    hooks: FaultHooks,
) -> anyhow::Result<()> {
    serve(cfg, seams, listener, hooks).await
}

async fn serve(
    cfg: SidecarConfig,
    seams: Seams,
    listener: Box<dyn Listener>,
    hooks: FaultHooks,
) -> anyhow::Result<()> {
    let cfg = cfg.clamped();
    info!(
        pod = %cfg.pod_name,
        site = %cfg.site,
        group = %cfg.group,
        lease_timeout = ?cfg.lease_timeout,
        peer_check_interval = ?cfg.peer_check_interval,
        peers = cfg.peers.len(),
        "sidecar starting"
    );
    let ctx = fencing::Ctx::with_hooks(cfg, seams, hooks);
    let server = bloodraven::http::serve(listener, server::handler(ctx.clone()));
    let work = async {
        fencing::safety_net(&ctx).await;
        fencing::monitor_loop(&ctx).await;
    };
    tokio::select! {
        biased;
        r = server => match r {
            Ok(()) => Err(anyhow!("HTTP server stopped")),
            Err(e) => Err(anyhow!("HTTP server failed: {e}")),
        },
        () = work => Err(anyhow!("fencing monitor stopped")),
    }
}
