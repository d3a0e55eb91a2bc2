//! The group reconciler (spec §1): the Kubernetes objects of a MysqlFailoverGroup, the
//! pod role labels that steer its Services, and level-triggered node taints. The runner
//! starts one per valid group beside its topology manager; the two meet in the
//! [`Registry`](crate::topology::Registry): the manager publishes its view there, the
//! reconciler reports its condition there for the manager to write into status.

pub mod apply;
pub mod config_map;
pub mod deployment;
pub mod meta;
pub mod names;
pub mod node_taints;
pub mod ordered_update;
pub mod owner;
pub mod pdb;
pub mod pod_roles;
pub mod resources;
pub mod secret;
pub mod services;
pub mod storage;
mod task;

pub use task::{GroupReconciler, PassOutcome, CONDITION};
