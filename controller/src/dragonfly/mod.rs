//! The optional Dragonfly sidekick (spec §7): its spec and status, the Redis-protocol
//! client, the Kubernetes objects, and the manager that keeps Dragonfly's master on the
//! active MySQL site.

pub mod auth;
pub mod client;
pub mod info;
pub mod manager;
pub mod names;
pub mod objects;
pub mod resp;
pub mod spec;

pub use manager::{DragonflyHandle, DragonflyManager, DragonflySetup};
pub use spec::{
    DragonflyConfig, DragonflySiteStatus, DragonflySpec, DragonflyStatus, OnSyncTimeout,
    PlannedDragonflyStatus,
};
