//! The chaos harness: runs the unmodified Bloodraven controller and sidecar in a seeded,
//! deterministic simulation against fake MySQL and a fake Kubernetes apiserver.

pub mod bench;
pub mod campaign;
pub mod counter_app;
pub mod explore;
pub mod fake_k8s;
pub mod fake_mysql;
pub mod k3d;
pub mod local;
pub mod name;
pub mod oracles;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod scenario_lines;
pub mod simnet;
pub mod timeline_svg;
pub mod trace;
pub mod txn_gtid;
pub mod world;
