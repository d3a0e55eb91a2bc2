//! The backup side of the world: an in-memory object store and a fake Job controller that
//! runs the controller's backup and verification Jobs against the fake mysqld engines, the
//! way the Job pods would in a cluster (see `bloodraven::backup` for the Job protocol).

mod jobs;
mod object_store;

pub use jobs::{JobRunner, SiteEngine, JOB_RUNTIME};
pub use object_store::{Artifact, ObjectStore};
