//! In-memory object store with apiserver semantics: resourceVersion, uid, generation,
//! status subresource isolation, finalizers, owner-reference garbage collection, field
//! managers, and a bounded change history for watches.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bloodraven::clock::WallClock;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use super::patch::{self, FieldPath};
use super::{ApiError, OutageMode};

/// A served resource type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group ("" for core).
    pub group: String,
    /// Served versions; the first is the storage version.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    /// Has a `/status` subresource.
    pub status: bool,
    /// Defined by a CustomResourceDefinition (stricter update rules, no strategic merge).
    pub custom: bool,
    pub short_names: Vec<String>,
}

impl ResourceDef {
    pub fn new(
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        status: bool,
    ) -> Self {
        Self {
            group: group.into(),
            versions: vec![version.into()],
            plural: plural.into(),
            singular: kind.to_ascii_lowercase(),
            kind: kind.into(),
            namespaced,
            status,
            custom: false,
            short_names: Vec::new(),
        }
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn storage_api_version(&self) -> String {
        self.api_version(&self.versions[0])
    }

    /// `configmaps` or `mysqlfailovergroups.shipstream.io`, as in error messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn key(&self) -> ResKey {
        (self.group.clone(), self.plural.clone())
    }
}

/// (group, plural)
pub type ResKey = (String, String);
/// (namespace or "", name)
pub type ObjKey = (String, String);

/// (manager, operation, subresource)
type ManagerKey = (String, String, String);

#[derive(Clone, Debug, Default)]
struct ManagerEntry {
    time: String,
    api_version: String,
    fields: BTreeSet<FieldPath>,
}

#[derive(Clone, Debug)]
struct Obj {
    /// Shared: reads hand out the same tree instead of deep copies; writes replace it.
    value: Arc<Value>,
    managers: BTreeMap<ManagerKey, ManagerEntry>,
}

/// One change, as a watch sees it.
#[derive(Clone, Debug)]
pub struct Change {
    pub rv: u64,
    pub res: ResKey,
    pub ns: String,
    pub etype: &'static str,
    /// The object as JSON text: the history keeps up to `history_limit` versions, and text
    /// is several times smaller than a `Value` tree.
    json: Arc<[u8]>,
}

impl Change {
    pub fn object(&self) -> Value {
        serde_json::from_slice(&self.json).expect("history holds valid JSON")
    }
}

/// Who writes, for field ownership.
#[derive(Clone, Debug)]
pub struct Writer {
    pub manager: String,
    pub dry_run: bool,
}

/// The kinds of PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply { force: bool },
}

pub struct Store {
    clock: Arc<dyn WallClock>,
    defs: BTreeMap<ResKey, ResourceDef>,
    objects: BTreeMap<ResKey, BTreeMap<ObjKey, Obj>>,
    rv: u64,
    uid_counter: u64,
    name_counter: u64,
    history: VecDeque<Change>,
    history_limit: usize,
    /// Watches starting before this resourceVersion get 410 Gone.
    floor: u64,
    pub(crate) rv_tx: watch::Sender<u64>,
    pub(crate) drop_tx: watch::Sender<u64>,
    pub(crate) outage: Option<OutageMode>,
    pub(crate) outage_tx: watch::Sender<Option<OutageMode>>,
    pub(crate) denied: BTreeSet<(String, Option<String>)>,
    pub(crate) latency: Duration,
    /// Upper bound of the per-request latency (`latency..=latency_max`, drawn per request).
    pub(crate) latency_max: Duration,
    /// Draws of the latency (a splitmix sequence: the same requests get the same delays).
    pub(crate) latency_draws: u64,
    /// Open watch streams go silent (no events, no bookmarks) while true.
    pub(crate) watch_stall_tx: watch::Sender<bool>,
    /// The next this many successful writes are applied and then left unanswered.
    pub(crate) ambiguous_writes: u32,
    /// While set, GET and LIST answer from a copy of the objects up to `lag` old.
    pub(crate) stale: Option<StaleReads>,
}

/// A lagging read path (a slow apiserver cache): a copy of every object, retaken when it
/// is `lag` old, served to reads while writes go to the live state.
#[derive(Clone, Debug)]
pub(crate) struct StaleReads {
    pub lag: Duration,
    taken_at: Option<tokio::time::Instant>,
    rv: u64,
    objects: BTreeMap<ResKey, BTreeMap<ObjKey, Arc<Value>>>,
}

impl StaleReads {
    pub fn new(lag: Duration) -> Self {
        Self {
            lag,
            taken_at: None,
            rv: 0,
            objects: BTreeMap::new(),
        }
    }
}

impl Store {
    /// The delay of the next request: uniform in `latency..=latency_max`.
    pub(crate) fn next_latency(&mut self) -> Duration {
        if self.latency_max <= self.latency {
            return self.latency;
        }
        self.latency_draws += 1;
        let span = (self.latency_max - self.latency).as_millis() as u64;
        self.latency + Duration::from_millis(splitmix(self.latency_draws) % (span + 1))
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn meta(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = json!({});
    }
    let o = v.as_object_mut().expect("object");
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut().expect("object")
}

fn meta_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get("metadata")
        .and_then(|m| m.get(k))
        .and_then(Value::as_str)
}

fn finalizers_empty(v: &Value) -> bool {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(|a| a.is_empty())
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Store {
    pub fn new(clock: Arc<dyn WallClock>) -> Self {
        let mut s = Self {
            clock,
            defs: BTreeMap::new(),
            objects: BTreeMap::new(),
            rv: 1,
            uid_counter: 0,
            name_counter: 0,
            history: VecDeque::new(),
            history_limit: 1000,
            floor: 0,
            rv_tx: watch::Sender::new(1),
            drop_tx: watch::Sender::new(0),
            outage: None,
            outage_tx: watch::Sender::new(None),
            denied: BTreeSet::new(),
            latency: Duration::ZERO,
            latency_max: Duration::ZERO,
            latency_draws: 0,
            watch_stall_tx: watch::Sender::new(false),
            ambiguous_writes: 0,
            stale: None,
        };
        for d in builtin_defs() {
            s.register(d);
        }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let def = s.def("", "namespaces").expect("builtin");
            let _ = s.put_raw(
                &def,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            );
        }
        s
    }

    pub fn now(&self) -> String {
        self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    pub fn register(&mut self, def: ResourceDef) {
        self.objects.entry(def.key()).or_default();
        self.defs.insert(def.key(), def);
    }

    pub fn defs(&self) -> impl Iterator<Item = &ResourceDef> {
        self.defs.values()
    }

    pub fn def(&self, group: &str, plural: &str) -> Option<ResourceDef> {
        self.defs
            .get(&(group.to_string(), plural.to_string()))
            .cloned()
    }

    /// Resolves `plural`, `plural.group` (kubectl style) or a short name.
    pub fn resolve(&self, resource: &str) -> Option<ResourceDef> {
        if let Some(d) = self.defs.values().find(|d| d.qualified() == resource) {
            return Some(d.clone());
        }
        let (head, group) = resource.split_once('.').unwrap_or((resource, ""));
        let cands: Vec<&ResourceDef> = self
            .defs
            .values()
            .filter(|d| {
                (d.plural == head || d.singular == head || d.short_names.iter().any(|s| s == head))
                    && (group.is_empty() || d.group == group)
            })
            .collect();
        cands
            .iter()
            .find(|d| d.group.is_empty())
            .or(cands.first())
            .map(|d| (*d).clone())
    }

    pub fn rv(&self) -> u64 {
        self.rv
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
    }

    /// Runs a dry-run write whose only purpose is to look at the result (strict field
    /// validation): the uid and generated-name sequences are left as they were, so the
    /// objects a client creates do not depend on whether it asked for validation.
    pub(crate) fn probe<T>(&mut self, f: impl FnOnce(&mut Store) -> T) -> T {
        let counters = (self.uid_counter, self.name_counter);
        let r = f(self);
        (self.uid_counter, self.name_counter) = counters;
        r
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let a = splitmix(self.uid_counter);
        let b = splitmix(a ^ 0x5eed);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff
        )
    }

    fn gen_suffix(&mut self) -> String {
        const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        self.name_counter += 1;
        let mut x = splitmix(self.name_counter ^ 0x6e61_6d65);
        (0..5)
            .map(|_| {
                let c = ALPHA[(x % ALPHA.len() as u64) as usize] as char;
                x /= ALPHA.len() as u64;
                c
            })
            .collect()
    }

    fn emit(&mut self, def: &ResourceDef, ns: &str, etype: &'static str, object: &Value) {
        self.history.push_back(Change {
            rv: self.rv,
            res: def.key(),
            ns: ns.to_string(),
            etype,
            json: serde_json::to_vec(object)
                .expect("objects serialize")
                .into(),
        });
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.floor = c.rv;
            }
        }
        self.rv_tx.send_replace(self.rv);
    }

    /// Forgets the change history (like an etcd compaction): watches from any earlier
    /// resourceVersion get 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    pub fn set_history_limit(&mut self, n: usize) {
        self.history_limit = n.max(1);
        while self.history.len() > self.history_limit {
            if let Some(c) = self.history.pop_front() {
                self.floor = c.rv;
            }
        }
    }

    /// Changes of `res` (optionally in `ns`) after `since`; Err(()) when `since` is too old.
    pub fn changes_since(
        &self,
        res: &ResKey,
        ns: Option<&str>,
        since: u64,
    ) -> Result<Vec<Change>, ()> {
        if since < self.floor {
            return Err(());
        }
        // The history is in resourceVersion order: skip what the watch has seen.
        let first = self.history.partition_point(|c| c.rv <= since);
        Ok(self
            .history
            .range(first..)
            .filter(|c| &c.res == res && ns.is_none_or(|n| n == c.ns))
            .cloned()
            .collect())
    }

    /// Refreshes the stale copy when it is `lag` old (no-op without stale reads).
    fn refresh_stale(&mut self) {
        let now = tokio::time::Instant::now();
        let (rv, objects) = (self.rv(), &self.objects);
        if let Some(st) = self.stale.as_mut() {
            if st.taken_at.is_none_or(|t| now.duration_since(t) >= st.lag) {
                st.taken_at = Some(now);
                st.rv = rv;
                st.objects = objects
                    .iter()
                    .map(|(k, m)| {
                        let m = m.iter().map(|(ok, o)| (ok.clone(), o.value.clone()));
                        (k.clone(), m.collect())
                    })
                    .collect();
            }
        }
    }

    /// How far a watch may see while stale reads last: the resourceVersion of the stale copy
    /// and how long until it is retaken. None when reads are live.
    pub fn read_horizon(&mut self) -> Option<(u64, Duration)> {
        self.refresh_stale();
        let st = self.stale.as_ref()?;
        let age = st.taken_at.map_or(Duration::ZERO, |t| {
            tokio::time::Instant::now().duration_since(t)
        });
        Some((st.rv, st.lag.saturating_sub(age)))
    }

    /// [`Store::get`] as a client read sees it (from the stale copy while stale reads last).
    pub fn read_get(&mut self, def: &ResourceDef, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.refresh_stale();
        let Some(st) = &self.stale else {
            return self.get(def, ns, name);
        };
        let ns = if def.namespaced { ns } else { "" };
        st.objects
            .get(&def.key())?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// [`Store::list`] and its resourceVersion as a client read sees them.
    pub fn read_list(&mut self, def: &ResourceDef, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        self.refresh_stale();
        let Some(st) = &self.stale else {
            return (self.list(def, ns), self.rv());
        };
        let items = st
            .objects
            .get(&def.key())
            .map(|m| {
                m.iter()
                    .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        (items, st.rv)
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Arc<Value>> {
        let ns = if def.namespaced { ns } else { "" };
        self.objects
            .get(&def.key())?
            .get(&(ns.to_string(), name.to_string()))
            .map(|o| o.value.clone())
    }

    /// Objects of `def` (in `ns` if given), sorted by namespace then name.
    pub fn list(&self, def: &ResourceDef, ns: Option<&str>) -> Vec<Arc<Value>> {
        self.objects
            .get(&def.key())
            .map(|m| {
                m.iter()
                    .filter(|((ons, _), _)| ns.is_none_or(|n| n == ons))
                    .map(|(_, o)| o.value.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn normalize_new(&mut self, def: &ResourceDef, v: &mut Value) {
        let o = v.as_object_mut().expect("object checked");
        o.insert("apiVersion".into(), json!(def.storage_api_version()));
        o.insert("kind".into(), json!(def.kind));
        if def.kind == "Secret" {
            secret_string_data(v);
        }
    }

    /// Stores `obj` as is (upsert), filling in uid, creationTimestamp, generation and a new
    /// resourceVersion. Bypasses faults, admission and the trace.
    pub fn put_raw(&mut self, def: &ResourceDef, mut obj: Value) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request("object must be a JSON object"));
        }
        let name = meta_str(&obj, "name")
            .ok_or_else(|| ApiError::invalid("metadata.name is required"))?
            .to_string();
        let ns = if def.namespaced {
            meta_str(&obj, "namespace").unwrap_or("default").to_string()
        } else {
            String::new()
        };
        self.normalize_new(def, &mut obj);
        let old = self
            .objects
            .get(&def.key())
            .and_then(|m| m.get(&(ns.clone(), name.clone())))
            .cloned();
        let uid = match old.as_ref().and_then(|o| meta_str(&o.value, "uid")) {
            Some(u) => u.to_string(),
            None => meta_str(&obj, "uid")
                .map(str::to_string)
                .unwrap_or_else(|| self.next_uid()),
        };
        let now = self.now();
        let rv = self.next_rv();
        let obj_spec = obj.get("spec").cloned();
        let m = meta(&mut obj);
        if def.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(uid));
        m.entry("creationTimestamp").or_insert_with(|| json!(now));
        if !m.contains_key("generation") {
            let generation = match &old {
                Some(o) => {
                    let g = o
                        .value
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    if o.value.get("spec") != obj_spec.as_ref() {
                        g + 1
                    } else {
                        g
                    }
                }
                None => 1,
            };
            m.insert("generation".into(), json!(generation));
        }
        m.insert("resourceVersion".into(), json!(rv.to_string()));
        let etype = if old.is_some() { "MODIFIED" } else { "ADDED" };
        let managers = old.map(|o| o.managers).unwrap_or_default();
        self.objects.entry(def.key()).or_default().insert(
            (ns.clone(), name),
            Obj {
                value: Arc::new(obj.clone()),
                managers,
            },
        );
        self.emit(def, &ns, etype, &obj);
        Ok(obj)
    }

    /// Changes a stored object with `f` and bumps its resourceVersion (no admission rules).
    pub fn modify(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let ns = if def.namespaced { ns } else { "" };
        let key = (ns.to_string(), name.to_string());
        let mut obj = self.objects.get(&def.key())?.get(&key)?.clone();
        let mut v = (*obj.value).clone();
        f(&mut v);
        if v == *obj.value {
            return Some(v);
        }
        let rv = self.next_rv();
        meta(&mut v).insert("resourceVersion".into(), json!(rv.to_string()));
        if meta_str(&v, "deletionTimestamp").is_some() && finalizers_empty(&v) {
            self.remove_final(def, ns, name, v.clone());
        } else {
            obj.value = Arc::new(v.clone());
            self.objects.entry(def.key()).or_default().insert(key, obj);
            self.emit(def, ns, "MODIFIED", &v);
        }
        Some(v)
    }

    /// Removes an object at once, ignoring finalizers (like a forced etcd delete).
    pub fn delete_raw(&mut self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let ns = if def.namespaced { ns } else { "" };
        let obj = self
            .objects
            .get(&def.key())?
            .get(&(ns.to_string(), name.to_string()))?
            .value
            .as_ref()
            .clone();
        self.next_rv();
        let mut v = obj;
        meta(&mut v).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.remove_final(def, ns, name, v.clone());
        Some(v)
    }

    fn remove_final(&mut self, def: &ResourceDef, ns: &str, name: &str, v: Value) {
        if let Some(m) = self.objects.get_mut(&def.key()) {
            m.remove(&(ns.to_string(), name.to_string()));
        }
        self.emit(def, ns, "DELETED", &v);
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            self.unregister_crd(&v);
        }
        if let Some(uid) = meta_str(&v, "uid") {
            self.collect_garbage(uid.to_string());
        }
    }

    /// Deletes the dependents of a removed owner whose owners are all gone.
    fn collect_garbage(&mut self, removed_uid: String) {
        let live: BTreeSet<String> = self
            .objects
            .values()
            .flat_map(|m| m.values())
            .filter_map(|o| meta_str(&o.value, "uid").map(str::to_string))
            .collect();
        let mut victims = Vec::new();
        for (rk, m) in &self.objects {
            for ((ns, name), o) in m {
                let Some(refs) = o
                    .value
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                let uids: Vec<&str> = refs
                    .iter()
                    .filter_map(|r| r.get("uid").and_then(Value::as_str))
                    .collect();
                if uids.contains(&removed_uid.as_str()) && uids.iter().all(|u| !live.contains(*u)) {
                    victims.push((rk.clone(), ns.clone(), name.clone()));
                }
            }
        }
        for ((g, p), ns, name) in victims {
            if let Some(def) = self.def(&g, &p) {
                let _ = self.delete(&def, &ns, &name, None, false);
            }
        }
    }

    fn unregister_crd(&mut self, crd: &Value) {
        let (Some(group), Some(plural)) = (
            crd.pointer("/spec/group").and_then(Value::as_str),
            crd.pointer("/spec/names/plural").and_then(Value::as_str),
        ) else {
            return;
        };
        let key = (group.to_string(), plural.to_string());
        let Some(def) = self.defs.remove(&key) else {
            return;
        };
        let objs = self.objects.remove(&key).unwrap_or_default();
        for ((ns, _), o) in objs {
            self.next_rv();
            self.emit(&def, &ns, "DELETED", &o.value);
        }
    }

    fn register_crd_object(&mut self, crd: &mut Value) -> Result<(), ApiError> {
        let s = |p: &str| crd.pointer(p).and_then(Value::as_str).map(str::to_string);
        let group =
            s("/spec/group").ok_or_else(|| ApiError::invalid("spec.group: Required value"))?;
        let plural = s("/spec/names/plural")
            .ok_or_else(|| ApiError::invalid("spec.names.plural: Required value"))?;
        let kind = s("/spec/names/kind")
            .ok_or_else(|| ApiError::invalid("spec.names.kind: Required value"))?;
        let expected = format!("{plural}.{group}");
        if meta_str(crd, "name") != Some(expected.as_str()) {
            return Err(ApiError::invalid(format!("metadata.name: Invalid value: must be spec.names.plural+\".\"+spec.group ({expected})")));
        }
        let namespaced = s("/spec/scope").as_deref() != Some("Cluster");
        let versions: Vec<&Value> = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
                    .collect()
            })
            .unwrap_or_default();
        if versions.is_empty() {
            return Err(ApiError::invalid("spec.versions: Invalid value: must have exactly one version marked as storage version"));
        }
        let mut names: Vec<String> = Vec::new();
        let storage = versions
            .iter()
            .position(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
            .unwrap_or(0);
        names.push(
            versions[storage]
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("v1")
                .to_string(),
        );
        for (i, v) in versions.iter().enumerate() {
            if i != storage {
                names.push(
                    v.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("v1")
                        .to_string(),
                );
            }
        }
        let status = versions
            .iter()
            .any(|v| v.pointer("/subresources/status").is_some());
        let mut def = ResourceDef::new(&group, &names[0], &plural, &kind, namespaced, status);
        def.versions = names;
        def.custom = true;
        if let Some(sg) = s("/spec/names/singular") {
            def.singular = sg;
        }
        def.short_names = crd
            .pointer("/spec/names/shortNames")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(existing) = self.defs.get(&def.key()) {
            if !existing.custom {
                return Err(ApiError::invalid(format!(
                    "spec.names.plural: {plural}.{group} is a built-in resource"
                )));
            }
        }
        let def_version = def.versions[0].clone();
        self.register(def);
        let now = self.now();
        let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let cond = |t: &str, reason: &str| json!({"type": t, "status": "True", "reason": reason, "message": "", "lastTransitionTime": now});
        let stored = json!([def_version]);
        crd.as_object_mut().expect("object").insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "conditions": [cond("NamesAccepted", "NoConflicts"), cond("Established", "InitialNamesAccepted")],
                "storedVersions": stored
            }),
        );
        Ok(())
    }

    fn is_crd(def: &ResourceDef) -> bool {
        def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions"
    }

    /// POST.
    pub fn create(
        &mut self,
        def: &ResourceDef,
        ns: Option<&str>,
        mut body: Value,
        w: &Writer,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format",
            ));
        }
        let ns = if def.namespaced {
            let ns = ns.ok_or_else(|| {
                ApiError::method_not_allowed("a namespaced resource is created in a namespace")
            })?;
            if let Some(bns) = meta_str(&body, "namespace") {
                if !bns.is_empty() && bns != ns {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
            ns.to_string()
        } else {
            String::new()
        };
        let name = match meta_str(&body, "name").filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => match meta_str(&body, "generateName").filter(|n| !n.is_empty()) {
                Some(prefix) => {
                    let prefix = prefix.to_string();
                    loop {
                        let cand = format!("{prefix}{}", self.gen_suffix());
                        if self.get(def, &ns, &cand).is_none() {
                            break cand;
                        }
                    }
                }
                None => {
                    return Err(ApiError::invalid(
                        "metadata.name: Required value: name or generateName is required",
                    ))
                }
            },
        };
        super::names::validate_new(def, &name, &body)?;
        if self.get(def, &ns, &name).is_some() {
            return Err(ApiError::already_exists(def, &name));
        }
        self.normalize_new(def, &mut body);
        if def.status {
            body.as_object_mut().expect("object").remove("status");
        }
        if def.kind == "Namespace" && def.group.is_empty() {
            body.as_object_mut()
                .expect("object")
                .insert("status".into(), json!({"phase": "Active"}));
        }
        if Self::is_crd(def) && !w.dry_run {
            let mut probe = body.clone();
            meta(&mut probe).insert("name".into(), json!(name));
            self.register_crd_object(&mut probe)?;
            body = probe;
        }
        let now = self.now();
        let uid = self.next_uid();
        let m = meta(&mut body);
        m.insert("name".into(), json!(name));
        if def.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now));
        m.insert("generation".into(), json!(1));
        for k in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ] {
            m.remove(k);
        }
        let mut managers = BTreeMap::new();
        managers.insert(
            (w.manager.clone(), "Update".to_string(), String::new()),
            ManagerEntry {
                time: now,
                api_version: def.storage_api_version(),
                fields: patch::leaf_paths(&body),
            },
        );
        if w.dry_run {
            render_managed(&mut body, &managers);
            return Ok(body);
        }
        let rv = self.next_rv();
        meta(&mut body).insert("resourceVersion".into(), json!(rv.to_string()));
        render_managed(&mut body, &managers);
        self.objects.entry(def.key()).or_default().insert(
            (ns.clone(), name),
            Obj {
                value: Arc::new(body.clone()),
                managers,
            },
        );
        self.emit(def, &ns, "ADDED", &body);
        Ok(body)
    }

    fn existing(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Obj, ApiError> {
        let ns = if def.namespaced { ns } else { "" };
        self.objects
            .get(&def.key())
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(def, name))
    }

    /// PUT (main resource or `/status`).
    pub fn replace(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        sub: Option<&str>,
        body: Value,
        w: &Writer,
    ) -> Result<Value, ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format",
            ));
        }
        if meta_str(&body, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let old = self.existing(def, ns, name)?;
        let rv_given = meta_str(&body, "resourceVersion")
            .filter(|r| !r.is_empty())
            .is_some();
        if def.custom && !rv_given {
            return Err(ApiError::invalid(format!(
                "{} \"{name}\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
                def.kind
            )));
        }
        self.commit(def, ns, name, old, body, sub, w, "Update")
    }

    /// PATCH. Returns (HTTP code, object): 201 when an apply created the object.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        sub: Option<&str>,
        kind: PatchKind,
        body: &Value,
        w: &Writer,
    ) -> Result<(u16, Value), ApiError> {
        if kind == PatchKind::Strategic && def.custom {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
            ));
        }
        if let PatchKind::Apply { force } = kind {
            return self.apply(def, ns, name, sub, body, w, force);
        }
        let old = self.existing(def, ns, name)?;
        let mut cand = old.value.as_ref().clone();
        match kind {
            PatchKind::Merge => patch::merge_patch(&mut cand, body),
            PatchKind::Strategic => patch::strategic_merge_patch(&mut cand, body),
            PatchKind::Json => patch::json_patch(&mut cand, body).map_err(ApiError::invalid)?,
            PatchKind::Apply { .. } => unreachable!("handled above"),
        }
        self.commit(def, ns, name, old, cand, sub, w, "Update")
            .map(|v| (200, v))
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        sub: Option<&str>,
        body: &Value,
        w: &Writer,
        force: bool,
    ) -> Result<(u16, Value), ApiError> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format",
            ));
        }
        if w.manager.is_empty() || w.manager == "unknown" {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml: fieldManager must be set",
            ));
        }
        if body
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            || body
                .get("kind")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(
                "invalid object: apiVersion and kind must be set",
            ));
        }
        if body
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(ApiError::bad_request("metadata.managedFields must be nil"));
        }
        if meta_str(body, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let sub_s = sub.unwrap_or("").to_string();
        let mine_key = (w.manager.clone(), "Apply".to_string(), sub_s.clone());
        let scope = |p: &FieldPath| match sub {
            Some("status") => p.first().map(String::as_str) == Some("status"),
            _ => !(def.status && p.first().map(String::as_str) == Some("status")),
        };
        let applied: BTreeSet<FieldPath> = patch::leaf_paths(body)
            .into_iter()
            .filter(|p| scope(p))
            .collect();
        let Ok(old) = self.existing(def, ns, name) else {
            if sub.is_some() {
                return Err(ApiError::not_found(def, name));
            }
            let mut b = body.clone();
            meta(&mut b).insert("name".into(), json!(name));
            let created = self.create(
                def,
                def.namespaced.then_some(ns),
                b,
                &Writer {
                    manager: w.manager.clone(),
                    dry_run: true,
                },
            )?;
            // Re-create for real with Apply ownership.
            let mut v = created;
            let now = self.now();
            let mut managers = BTreeMap::new();
            let fields: BTreeSet<FieldPath> = applied
                .iter()
                .filter(|p| patch::get_path(&v, p).is_some())
                .cloned()
                .collect();
            managers.insert(
                mine_key,
                ManagerEntry {
                    time: now,
                    api_version: def.storage_api_version(),
                    fields,
                },
            );
            if w.dry_run {
                render_managed(&mut v, &managers);
                return Ok((201, v));
            }
            if Self::is_crd(def) {
                self.register_crd_object(&mut v)?;
            }
            let rv = self.next_rv();
            meta(&mut v).insert("resourceVersion".into(), json!(rv.to_string()));
            render_managed(&mut v, &managers);
            let okey = (
                if def.namespaced {
                    ns.to_string()
                } else {
                    String::new()
                },
                name.to_string(),
            );
            self.objects.entry(def.key()).or_default().insert(
                okey.clone(),
                Obj {
                    value: Arc::new(v.clone()),
                    managers,
                },
            );
            self.emit(def, &okey.0, "ADDED", &v);
            return Ok((201, v));
        };
        // Conflicts with other managers that own a field this apply sets to another value.
        let mut conflicts: Vec<String> = Vec::new();
        for (k, e) in &old.managers {
            if *k == mine_key {
                continue;
            }
            for p in &applied {
                if e.fields.iter().any(|f| patch::overlaps(f, p))
                    && patch::get_path(&old.value, p) != patch::get_path(body, p)
                {
                    conflicts.push(format!("conflict with \"{}\": .{}", k.0, p.join(".")));
                }
            }
        }
        conflicts.dedup();
        if !conflicts.is_empty() && !force {
            let mut err = ApiError::conflict_msg(format!(
                "Apply failed with {} conflict{}: {}",
                conflicts.len(),
                if conflicts.len() == 1 { "" } else { "s" },
                conflicts.join(", ")
            ));
            err.causes = conflicts;
            return Err(err);
        }
        let mut managers = old.managers.clone();
        if force {
            for (k, e) in managers.iter_mut() {
                if *k != mine_key {
                    e.fields
                        .retain(|f| !applied.iter().any(|p| patch::overlaps(f, p)));
                }
            }
        }
        let mut cand = old.value.as_ref().clone();
        // Fields this manager applied before and no longer applies, and nobody else owns: removed.
        if let Some(prev) = old.managers.get(&mine_key) {
            for p in prev.fields.difference(&applied) {
                let owned_by_other = managers
                    .iter()
                    .any(|(k, e)| *k != mine_key && e.fields.iter().any(|f| patch::overlaps(f, p)));
                if !owned_by_other {
                    patch::remove_path(&mut cand, p);
                }
            }
        }
        let mut scoped_body = body.clone();
        if let Some(o) = scoped_body.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
        patch::merge_patch(&mut cand, &scoped_body);
        let entry = managers.entry(mine_key).or_default();
        if entry.fields != applied {
            entry.fields = applied;
            entry.time = self.now();
        }
        entry.api_version = def.storage_api_version();
        self.commit_with_managers(def, ns, name, old, cand, sub, w.dry_run, managers)
            .map(|v| (200, v))
    }

    #[allow(clippy::too_many_arguments)]
    fn commit(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        old: Obj,
        cand: Value,
        sub: Option<&str>,
        w: &Writer,
        op: &str,
    ) -> Result<Value, ApiError> {
        // Field ownership of a non-apply write: the writer takes the fields it changed.
        let (iso, _) = self.isolate(def, &old.value, cand.clone(), sub);
        let before = patch::leaf_paths(&old.value);
        let after = patch::leaf_paths(&iso);
        let changed: BTreeSet<FieldPath> = before
            .union(&after)
            .filter(|p| patch::get_path(&old.value, p) != patch::get_path(&iso, p))
            .cloned()
            .collect();
        let mut managers = old.managers.clone();
        if !changed.is_empty() {
            let key = (
                w.manager.clone(),
                op.to_string(),
                sub.unwrap_or("").to_string(),
            );
            for (k, e) in managers.iter_mut() {
                if *k != key {
                    e.fields
                        .retain(|f| !changed.iter().any(|c| patch::overlaps(f, c)));
                }
            }
            let now = self.now();
            let e = managers.entry(key).or_default();
            e.fields.extend(
                changed
                    .iter()
                    .filter(|p| patch::get_path(&iso, p).is_some())
                    .cloned(),
            );
            e.time = now;
            e.api_version = def.storage_api_version();
        }
        self.commit_with_managers(def, ns, name, old, cand, sub, w.dry_run, managers)
    }

    /// Applies status-subresource isolation; returns the candidate and whether spec changed.
    fn isolate(
        &self,
        def: &ResourceDef,
        old: &Value,
        cand: Value,
        sub: Option<&str>,
    ) -> (Value, bool) {
        let mut out = match sub {
            Some(_) => {
                let mut n = old.clone();
                let o = n.as_object_mut().expect("object");
                match cand.get("status") {
                    Some(s) if !s.is_null() => {
                        o.insert("status".into(), s.clone());
                    }
                    _ => {
                        o.remove("status");
                    }
                }
                // Preconditions travel in metadata.resourceVersion.
                if let Some(rv) = cand.pointer("/metadata/resourceVersion") {
                    meta(&mut n).insert("resourceVersion".into(), rv.clone());
                }
                n
            }
            None => {
                let mut c = cand;
                if !c.is_object() {
                    c = json!({});
                }
                if def.status {
                    let o = c.as_object_mut().expect("object");
                    match old.get("status") {
                        Some(s) => {
                            o.insert("status".into(), s.clone());
                        }
                        None => {
                            o.remove("status");
                        }
                    }
                }
                c
            }
        };
        let o = out.as_object_mut().expect("object");
        o.insert("apiVersion".into(), json!(def.storage_api_version()));
        o.insert("kind".into(), json!(def.kind));
        let spec_changed = sub.is_none() && old.get("spec") != out.get("spec");
        // System metadata cannot be changed by clients.
        let om = old.get("metadata").cloned().unwrap_or(json!({}));
        let m = meta(&mut out);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ] {
            match om.get(k) {
                Some(v) => {
                    m.insert(k.into(), v.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
        m.remove("managedFields");
        m.remove("selfLink");
        (out, spec_changed)
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_with_managers(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        old: Obj,
        cand: Value,
        sub: Option<&str>,
        dry_run: bool,
        managers: BTreeMap<ManagerKey, ManagerEntry>,
    ) -> Result<Value, ApiError> {
        let ns = if def.namespaced { ns } else { "" };
        let old_rv = meta_str(&old.value, "resourceVersion")
            .unwrap_or("")
            .to_string();
        let (mut new, spec_changed) = self.isolate(def, &old.value, cand, sub);
        if let Some(rv) = meta_str(&new, "resourceVersion") {
            if !rv.is_empty() && rv != old_rv {
                return Err(ApiError::conflict(def, name));
            }
        }
        if def.kind == "Secret" {
            secret_string_data(&mut new);
        }
        if meta_str(&old.value, "deletionTimestamp").is_some() {
            // Finalizers cannot be added to an object being deleted.
            let old_f: BTreeSet<String> = string_list(&old.value, "/metadata/finalizers");
            let new_f: BTreeSet<String> = string_list(&new, "/metadata/finalizers");
            if !new_f.is_subset(&old_f) {
                return Err(ApiError::forbidden_msg(format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers {:?}",
                    new_f.difference(&old_f).collect::<Vec<_>>()
                )));
            }
        }
        if spec_changed {
            let g = old
                .value
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            meta(&mut new).insert("generation".into(), json!(g + 1));
        }
        if Self::is_crd(def) && sub.is_none() {
            self.register_crd_object(&mut new)?;
        }
        meta(&mut new).insert("resourceVersion".into(), json!(old_rv));
        render_managed(&mut new, &managers);
        if new == *old.value {
            return Ok(new);
        }
        if dry_run {
            return Ok(new);
        }
        let rv = self.next_rv();
        meta(&mut new).insert("resourceVersion".into(), json!(rv.to_string()));
        if meta_str(&new, "deletionTimestamp").is_some() && finalizers_empty(&new) {
            self.remove_final(def, ns, name, new.clone());
        } else {
            self.objects.entry(def.key()).or_default().insert(
                (ns.to_string(), name.to_string()),
                Obj {
                    value: Arc::new(new.clone()),
                    managers,
                },
            );
            self.emit(def, ns, "MODIFIED", &new);
        }
        Ok(new)
    }

    /// DELETE of one object. `options` is the DeleteOptions body (preconditions honoured).
    pub fn delete(
        &mut self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        options: Option<&Value>,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let ns = if def.namespaced { ns } else { "" };
        let old = self.existing(def, ns, name)?;
        if let Some(pre) = options.and_then(|o| o.get("preconditions")) {
            let want_rv = pre.get("resourceVersion").and_then(Value::as_str);
            let want_uid = pre.get("uid").and_then(Value::as_str);
            if want_rv.is_some_and(|r| Some(r) != meta_str(&old.value, "resourceVersion"))
                || want_uid.is_some_and(|u| Some(u) != meta_str(&old.value, "uid"))
            {
                return Err(ApiError::conflict_msg(format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed",
                    def.qualified()
                )));
            }
        }
        if dry_run {
            return Ok(old.value.as_ref().clone());
        }
        let mut v = old.value.as_ref().clone();
        if !finalizers_empty(&v) {
            if meta_str(&v, "deletionTimestamp").is_some() {
                return Ok(v);
            }
            let now = self.now();
            let rv = self.next_rv();
            let m = meta(&mut v);
            m.insert("deletionTimestamp".into(), json!(now));
            m.insert("deletionGracePeriodSeconds".into(), json!(0));
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            self.objects.entry(def.key()).or_default().insert(
                (ns.to_string(), name.to_string()),
                Obj {
                    value: Arc::new(v.clone()),
                    managers: old.managers,
                },
            );
            self.emit(def, ns, "MODIFIED", &v);
            return Ok(v);
        }
        let rv = self.next_rv();
        meta(&mut v).insert("resourceVersion".into(), json!(rv.to_string()));
        self.remove_final(def, ns, name, v.clone());
        Ok(v)
    }
}

fn string_list(v: &Value, ptr: &str) -> BTreeSet<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn render_managed(v: &mut Value, managers: &BTreeMap<ManagerKey, ManagerEntry>) {
    let entries: Vec<Value> = managers
        .iter()
        .filter(|(_, e)| !e.fields.is_empty())
        .map(|((mgr, op, sub), e)| {
            let mut o = json!({
                "manager": mgr,
                "operation": op,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": patch::fields_v1(&e.fields),
            });
            if !sub.is_empty() {
                o["subresource"] = json!(sub);
            }
            o
        })
        .collect();
    let m = meta(v);
    if entries.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), Value::Array(entries));
    }
}

/// Secrets: `stringData` is merged into `data` (base64) on write, as the real apiserver does.
fn secret_string_data(v: &mut Value) {
    let Some(o) = v.as_object_mut() else { return };
    let Some(Value::Object(sd)) = o.remove("stringData") else {
        return;
    };
    let data = o.entry("data").or_insert_with(|| json!({}));
    if let Some(d) = data.as_object_mut() {
        for (k, val) in sd {
            if let Some(s) = val.as_str() {
                d.insert(k, json!(base64(s.as_bytes())));
            }
        }
    }
}

fn builtin_defs() -> Vec<ResourceDef> {
    let d = ResourceDef::new;
    vec![
        d("", "v1", "namespaces", "Namespace", false, true).short(&["ns"]),
        d("", "v1", "events", "Event", true, false).short(&["ev"]),
        d("", "v1", "pods", "Pod", true, true).short(&["po"]),
        d("", "v1", "services", "Service", true, true).short(&["svc"]),
        d("", "v1", "endpoints", "Endpoints", true, false).short(&["ep"]),
        d("", "v1", "configmaps", "ConfigMap", true, false).short(&["cm"]),
        d("", "v1", "secrets", "Secret", true, false),
        d("", "v1", "serviceaccounts", "ServiceAccount", true, false).short(&["sa"]),
        d("", "v1", "nodes", "Node", false, true).short(&["no"]),
        d(
            "",
            "v1",
            "persistentvolumeclaims",
            "PersistentVolumeClaim",
            true,
            true,
        )
        .short(&["pvc"]),
        d("events.k8s.io", "v1", "events", "Event", true, false).short(&["ev"]),
        d("apps", "v1", "deployments", "Deployment", true, true).short(&["deploy"]),
        d("apps", "v1", "statefulsets", "StatefulSet", true, true).short(&["sts"]),
        d("batch", "v1", "jobs", "Job", true, true),
        d(
            "policy",
            "v1",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            true,
        )
        .short(&["pdb"]),
        d("coordination.k8s.io", "v1", "leases", "Lease", true, false),
        d(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
            true,
        )
        .short(&["crd", "crds"]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_k8s_base64_and_uid_shape() {
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
        struct C;
        impl WallClock for C {
            fn now(&self) -> chrono::DateTime<chrono::Utc> {
                chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
            }
        }
        let mut s = Store::new(Arc::new(C));
        let u = s.next_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(&u[14..15], "4");
        assert_eq!(s.now(), "2023-11-14T22:13:20Z");
    }
}
