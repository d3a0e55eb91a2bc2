//! A bucket in memory: artifacts by location (`s3://bucket/prefix/group/backup`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What a backup wrote: the data and the GTID set it claims to be consistent with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub source_site: String,
    pub gtid_executed: String,
    /// `chaos.counter` ids in the copy.
    pub rows: Vec<u64>,
}

impl Artifact {
    /// A plausible on-disk size, so `status.sizeBytes` is not a constant.
    pub fn size_bytes(&self) -> u64 {
        4096 + 64 * self.rows.len() as u64
    }
}

#[derive(Clone, Default)]
pub struct ObjectStore {
    inner: Arc<Mutex<BTreeMap<String, Artifact>>>,
}

impl ObjectStore {
    pub fn put(&self, location: &str, a: Artifact) {
        self.inner.lock().unwrap().insert(location.to_string(), a);
    }

    pub fn get(&self, location: &str) -> Option<Artifact> {
        self.inner.lock().unwrap().get(location).cloned()
    }

    pub fn locations(&self) -> Vec<String> {
        self.inner.lock().unwrap().keys().cloned().collect()
    }
}
