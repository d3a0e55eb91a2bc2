//! The chaos harness: runs the unmodified Bloodraven controller and sidecar in a seeded,
//! deterministic simulation against fake MySQL and a fake Kubernetes apiserver.

pub mod simnet;
pub mod trace;
