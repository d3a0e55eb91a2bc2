//! A fake Kubernetes apiserver: a real HTTP/1.1 server (hyper) over the network seam with
//! in-memory state and apiserver semantics, good enough for kube-rs (and kubectl) to do what
//! an operator does. Faults (outages, write denial, latency, dropped watches, compaction)
//! are knobs on [`ApiServer`]. Every write attempt through HTTP is recorded in the trace as
//! [`EventKind::ApiWrite`](crate::trace::EventKind::ApiWrite).

mod eviction;
mod http;
mod loopback;
mod names;
mod openapi;
pub mod patch;
pub mod selector;
mod store;

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bloodraven::clock::WallClock;
use bloodraven::net::Listener;
use serde_json::{json, Value};

use crate::trace::Trace;

pub use loopback::{kubectl_binary, kubectl_for_test, Loopback};
use store::Store;
pub use store::{PatchKind, ResourceDef};

/// Whole-apiserver outage modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutageMode {
    /// Connections are refused: new ones are closed at once, requests on open ones end
    /// the connection without an answer; open watches end.
    Refuse,
    /// Every request gets 503 ServiceUnavailable; open watches end.
    Refuse503,
    /// Requests are accepted and never answered; open watches go silent.
    Hang,
}

/// An API error, rendered as a `Status` object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.causes[].message` (apply conflicts).
    pub causes: Vec<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            causes: Vec::new(),
        }
    }
    pub fn not_found(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", def.qualified()),
        )
    }
    pub fn already_exists(def: &ResourceDef, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", def.qualified()),
        )
    }
    pub fn conflict(def: &ResourceDef, name: &str) -> Self {
        Self::conflict_msg(format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            def.qualified()
        ))
    }
    pub fn conflict_msg(message: impl Into<String>) -> Self {
        Self::new(409, "Conflict", message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    pub fn forbidden_msg(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "ServiceUnavailable", message)
    }
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// The `Status` object kube-rs parses into `kube::Error::Api`.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.causes.is_empty() {
            s["details"] = json!({
                "causes": self.causes.iter().map(|c| json!({"type": "FieldManagerConflict", "message": c})).collect::<Vec<_>>()
            });
        }
        s
    }
}

/// The fake apiserver: a cheap-to-clone handle on shared state.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Mutex<Store>>,
    trace: Trace,
}

impl ApiServer {
    /// A server with the built-in resources and the namespaces `default`, `kube-system`,
    /// `kube-public` and `kube-node-lease`. `clock` stamps creationTimestamp and friends.
    pub fn new(clock: Arc<dyn WallClock>, trace: Trace) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Store::new(clock))),
            trace,
        }
    }

    /// Like [`ApiServer::new`], with the Bloodraven CRDs pre-registered
    /// (`mysqlfailovergroups.shipstream.io`, `dnsendpoints.externaldns.k8s.io`).
    pub fn with_bloodraven_crds(clock: Arc<dyn WallClock>, trace: Trace) -> Self {
        let s = Self::new(clock, trace);
        s.register_crd(
            "shipstream.io",
            "v1alpha1",
            "mysqlfailovergroups",
            "MysqlFailoverGroup",
            true,
        );
        for (plural, kind) in [
            ("mysqlbackups", "MysqlBackup"),
            ("mysqlbackupverifications", "MysqlBackupVerification"),
        ] {
            s.register_crd("shipstream.io", "v1alpha1", plural, kind, true);
        }
        s.register_crd(
            "externaldns.k8s.io",
            "v1alpha1",
            "dnsendpoints",
            "DNSEndpoint",
            true,
        );
        s
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Serves HTTP/1.1 on `listener` until accept fails; one task per connection.
    pub async fn serve(self, listener: Box<dyn Listener>) -> std::io::Result<()> {
        http::serve(self, listener).await
    }

    /// Registers a custom resource type (with a `/status` subresource) and stores a matching
    /// CustomResourceDefinition object, so discovery and `kubectl get crd` see it.
    pub fn register_crd(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
    ) {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "names": {"plural": plural, "singular": kind.to_ascii_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
                "scope": if namespaced { "Namespaced" } else { "Cluster" },
                "versions": [{
                    "name": version, "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                    "subresources": {"status": {}}
                }]
            }
        });
        let mut st = self.lock();
        let def = st
            .def("apiextensions.k8s.io", "customresourcedefinitions")
            .expect("builtin");
        let w = store::Writer {
            manager: "fake-apiserver".into(),
            dry_run: false,
        };
        if st.get(&def, "", &format!("{plural}.{group}")).is_none() {
            st.create(&def, None, crd, &w)
                .expect("a well-formed CRD registers");
        }
    }

    /// Registers any resource type directly (no CRD object is stored).
    pub fn register_resource(&self, def: ResourceDef) {
        self.lock().register(def);
    }

    /// The current (global) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv()
    }

    /// One object. `resource` is `plural`, `plural.group` (`deployments.apps`,
    /// `mysqlfailovergroups.shipstream.io`) or a short name; `ns` is ignored for
    /// cluster-scoped resources. Core `events` win over `events.events.k8s.io`.
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let st = self.lock();
        let def = st.resolve(resource)?;
        st.get(&def, ns, name).map(Arc::unwrap_or_clone)
    }

    /// Objects of a resource (all namespaces when `ns` is None), sorted by namespace/name.
    pub fn list(&self, resource: &str, ns: Option<&str>) -> Vec<Value> {
        let list = self.list_shared(resource, ns);
        list.into_iter().map(Arc::unwrap_or_clone).collect()
    }

    /// [`ApiServer::list`] without copying: the stored trees themselves, for readers that
    /// only look (the world's observer samples every object each poll).
    pub fn list_shared(&self, resource: &str, ns: Option<&str>) -> Vec<Arc<Value>> {
        let st = self.lock();
        match st.resolve(resource) {
            Some(def) => st.list(&def, ns),
            None => Vec::new(),
        }
    }

    /// Seeds or overwrites an object as is (upsert; namespace from `metadata.namespace`,
    /// default `default`), filling uid, creationTimestamp, generation and resourceVersion.
    /// Watches see it; no faults, no admission rules, no trace.
    pub fn put_raw(&self, resource: &str, obj: Value) -> Result<Value, ApiError> {
        let mut st = self.lock();
        let def = st.resolve(resource).ok_or_else(|| {
            ApiError::new(404, "NotFound", format!("unknown resource {resource}"))
        })?;
        let r = st.put_raw(&def, obj);
        if r.is_ok() && matches!(def.plural.as_str(), "nodes" | "pods") {
            eviction::sweep(&mut st);
        }
        r
    }

    /// Edits an object in place (any field, status included) with a new resourceVersion;
    /// an object being deleted whose finalizers become empty is removed. None if absent.
    pub fn modify(
        &self,
        resource: &str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let mut st = self.lock();
        let def = st.resolve(resource)?;
        st.modify(&def, ns, name, f)
    }

    /// Removes an object at once, ignoring finalizers (dependents are garbage-collected).
    pub fn delete_raw(&self, resource: &str, ns: &str, name: &str) -> Option<Value> {
        let mut st = self.lock();
        let def = st.resolve(resource)?;
        st.delete_raw(&def, ns, name)
    }

    // ---- fault knobs ----

    /// Whole-server outage (None heals it).
    pub fn set_outage(&self, mode: Option<OutageMode>) {
        let mut st = self.lock();
        st.outage = mode;
        st.outage_tx.send_replace(mode);
    }

    pub fn outage(&self) -> Option<OutageMode> {
        self.lock().outage
    }

    /// Writes (POST/PUT/PATCH/DELETE) to `resource` get 403 Forbidden: with `subresource`
    /// None every write to the resource (subresources included), with `Some("status")` only
    /// writes to `/status`, with `Some("")` only writes to the object itself (its `/status`
    /// stays writable, as with an RBAC rule granting only the subresource). `resource` is the
    /// plural (`mysqlfailovergroups`).
    pub fn deny(&self, resource: &str, subresource: Option<&str>) {
        self.lock()
            .denied
            .insert((resource.to_string(), subresource.map(str::to_string)));
    }

    /// Undoes one [`ApiServer::deny`].
    pub fn allow(&self, resource: &str, subresource: Option<&str>) {
        self.lock()
            .denied
            .remove(&(resource.to_string(), subresource.map(str::to_string)));
    }

    /// Every request waits this long (virtual time) before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.set_latency_range(latency, latency);
    }

    /// Every request waits a delay drawn in `min..=max` (virtual time, deterministic
    /// sequence) before it is handled.
    pub fn set_latency_range(&self, min: Duration, max: Duration) {
        let mut st = self.lock();
        st.latency = min;
        st.latency_max = max.max(min);
    }

    /// GET and LIST answer from a copy of the objects up to `lag` old (None: live again);
    /// writes still go to the live state, so a write based on a stale read conflicts. Watch
    /// streams lag the same way: their initial list is that copy (an older resourceVersion)
    /// and they deliver changes only once the copy has caught up with them.
    pub fn set_stale_reads(&self, lag: Option<Duration>) {
        self.lock().stale = lag.map(store::StaleReads::new);
    }

    /// The next `n` successful writes are applied and then their connection drops before
    /// the answer (the client cannot tell whether they landed).
    pub fn ambiguous_writes(&self, n: u32) {
        self.lock().ambiguous_writes = n;
    }

    /// Consumes one pending ambiguous write, if any.
    pub(crate) fn take_ambiguous_write(&self) -> bool {
        let mut st = self.lock();
        if st.ambiguous_writes == 0 {
            return false;
        }
        st.ambiguous_writes -= 1;
        true
    }

    /// Open watch streams go silent while `stalled` (connection held, no events, no
    /// bookmarks), like a stream behind a dead load balancer; un-stalling ends them, so
    /// clients re-watch and catch up.
    pub fn stall_watches(&self, stalled: bool) {
        let st = self.lock();
        st.watch_stall_tx.send_replace(stalled);
        if !stalled {
            st.drop_tx.send_modify(|n| *n += 1);
        }
    }

    /// Ends every open watch stream (clients see the stream close and re-watch).
    pub fn drop_watches(&self) {
        let st = self.lock();
        st.drop_tx.send_modify(|n| *n += 1);
    }

    /// Forgets the watch history: a watch from any resourceVersion before now gets 410 Gone.
    pub fn compact_history(&self) {
        self.lock().compact();
    }

    /// How many changes the watch history keeps (default 1000).
    pub fn set_history_limit(&self, n: usize) {
        self.lock().set_history_limit(n);
    }
}
