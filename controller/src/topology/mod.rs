//! The topology manager and its parts (spec §3).

pub mod bootstrap;
pub mod k8s;
pub mod manager;
pub mod matrix;
pub mod mysql_ops;
pub mod registry;
pub mod site_state;
pub mod status;
pub mod taint;

pub use manager::{Manager, ReplicationCredentials, Seams};
pub use registry::{GroupView, Registry, ReportedCondition, SiteDetail};
