//! A fake Dragonfly per site, speaking the subset of the Redis protocol the controller and
//! the session workload use (spec §7, §13): `INFO replication`, `REPLICAOF`, `REPLTAKEOVER`,
//! `CLIENT KILL TYPE NORMAL`, `SET`/`GET`, `PING`. Replication is real traffic over the
//! simulated network: a replica pulls the master's write log every [`PULL_EVERY`], so it
//! lags, stalls under a partition and re-syncs from scratch when its master's history
//! changed. A crash loses everything, as a Dragonfly pod without persistence, unless the
//! node snapshots into a bucket (`SAVE`/`BGSAVE`): the next boot loads that dump.

mod node;
mod replica;
mod server;
mod snapshot;

pub use node::{Node, Role};
pub use server::serve;
pub use snapshot::{Dump, SnapshotStore};

/// The port every Dragonfly listens on.
pub const PORT: u16 = 6379;
/// How often a replica asks its master for new writes.
pub const PULL_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

#[cfg(test)]
mod tests;

/// What a Dragonfly host runs from each (re)start: a boot (empty or from its snapshot),
/// the replication link, and the server.
pub async fn run_host(node: Node, dialer: bloodraven::net::SharedDialer) -> std::io::Result<()> {
    node.boot();
    tokio::spawn(replica::run(node.clone(), dialer.clone()));
    let listener = crate::simnet::SimListener::bind(PORT).await?;
    serve(node, Box::new(listener), dialer).await;
    Ok(())
}
