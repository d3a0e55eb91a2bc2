//! Dragonfly snapshots in an object-store bucket (`--dir s3://...`): `SAVE`/`BGSAVE`
//! write the whole dataset to the node's location, and a node that starts with a
//! snapshot there loads it (spec §7.4, the snapshot upgrade's restore). Kept apart from
//! the MySQL backup store: a Dragonfly dump is keys and values, not rows and GTIDs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One dump: every key and value at the moment of the save.
pub type Dump = BTreeMap<String, String>;

/// The bucket, shared by every node that snapshots into it (and by tests and oracles).
#[derive(Clone, Debug, Default)]
pub struct SnapshotStore(Arc<Mutex<BTreeMap<String, Dump>>>);

impl SnapshotStore {
    pub fn put(&self, location: &str, dump: Dump) {
        self.lock().insert(location.to_string(), dump);
    }

    pub fn get(&self, location: &str) -> Option<Dump> {
        self.lock().get(location).cloned()
    }

    /// Every location holding a dump, sorted.
    pub fn locations(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Dump>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
