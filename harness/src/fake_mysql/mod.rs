//! The fake mysqld of the simulator (spec §13): GTIDs, binlog, IO/SQL replication threads,
//! relay backlog, `read_only`/`super_read_only` coupling, KILL rules, crash/restart, wiped
//! datadirs, errant writes, hangs and ambiguous writes.
//!
//! - [`engine`]: the durable state of one mysqld and the statement executor.
//! - [`sql`]: the parser of the SQL subset the controller and sidecar send.
//! - [`wire`]: the simulator's framed protocol and [`FramedSqlConnector`] (the `SqlConnector`
//!   the controller and sidecar use inside the simulator).
//! - [`server`]: the accept loop serving one engine.
//! - [`replication`]: the replica IO and SQL threads of one engine.

pub mod engine;
pub mod replication;
pub mod server;
pub mod sql;
pub mod wire;

pub use engine::{
    Engine, EngineSnapshot, Execution, ReplicaConfig, Session, SessionKind, State, Txn,
};
pub use replication::run_replica_threads;
pub use server::serve;
pub use sql::{parse, Stmt, STMT_KINDS};
pub use wire::FramedSqlConnector;

#[cfg(test)]
mod sim_tests;
