//! Bloodraven: a Kubernetes operator keeping a multi-site MySQL async-replication group
//! with exactly one writer. The library holds every piece of the operator; the binary
//! only wires production seams to it.

pub mod annotations;
pub mod aux_server;
pub mod clock;
pub mod crd;
pub mod duration;
pub mod fault_hooks;
pub mod gtid;
pub mod http;
pub mod kube_client;
pub mod metrics;
pub mod net;
pub mod plugin;
pub mod reconcile;
pub mod resolve;
pub mod runner;
pub mod sql;
pub mod topology;
