//! Component-test rig for the topology manager: the real `bloodraven::topology::Manager`,
//! driven poll by poll from a turmoil client, against fake mysqld hosts and the fake
//! apiserver, with virtual time under the test's control.
//!
//! Each test builds a [`Setup`], then runs a body that gets a [`Ctx`]: it builds managers
//! (fresh from the apiserver object, like the runner does), polls them, injects faults
//! directly on the engines (`shutdown`, `boot`, `errant_write`, ...), and reads back what
//! the manager did: status and DNSEndpoint in the apiserver, the registry and metrics, and
//! the trace (SQL mutations sent as the controller's user, the controller's log lines).

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bloodraven::crd;
use bloodraven::net::SharedDialer;
use bloodraven::sql::{QueryResult, SqlConnector};
use bloodraven::topology::k8s::GroupApi;
use bloodraven::topology::{Manager, Registry, ReplicationCredentials, Seams};
use chaos::fake_k8s::ApiServer;
use chaos::fake_mysql::{self, Engine, FramedSqlConnector};
use chaos::simnet::{SimDialer, SimListener};
use chaos::trace::{EventKind, Trace};
use chaos::world::clock::SimClock;
use chaos::world::logs::SimLogLayer;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;

pub const NS: &str = "comp";
pub const GROUP: &str = "g";
pub const CONTROLLER_USER: &str = "bloodraven";
pub const APISERVER: &str = "apiserver";
pub const APISERVER_PORT: u16 = 6443;

pub fn host(site: &str) -> String {
    crd::internal_service(GROUP, site)
}

pub fn lb_ip(i: usize) -> String {
    format!("10.1.0.{}", i + 1)
}

/// Deterministic server UUID of the i-th site.
pub fn uuid(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", 0xa0 + i, i + 1)
}

/// The world a test starts from.
#[derive(Clone, Debug)]
pub struct Setup {
    /// (name, role) in declared order.
    pub sites: Vec<(String, String)>,
    /// Boots writable with `rows` committed; every other site boots fenced and replicates
    /// from it. None: every site boots fenced with no replication.
    pub primary: Option<String>,
    pub rows: u64,
    pub priorities: Vec<String>,
    pub poll_interval: String,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub cooldown: String,
    /// Extra fields merged into the object's metadata (annotations) and status.
    pub annotations: Value,
    pub status: Value,
    pub seed: u64,
    /// `spec.dragonfly` (Null: disabled). When set, one fake Dragonfly per site runs at
    /// `mysql-g-dragonfly-<site>`, each with its pod in the apiserver.
    pub dragonfly: Value,
}

impl Setup {
    /// Two primary-candidates `a` (primary) and `b`.
    pub fn two_sites() -> Self {
        Self::sites(&[("a", "primary-candidate"), ("b", "primary-candidate")])
    }

    pub fn sites(sites: &[(&str, &str)]) -> Self {
        Self {
            sites: sites
                .iter()
                .map(|(n, r)| (n.to_string(), r.to_string()))
                .collect(),
            primary: Some(sites[0].0.to_string()),
            rows: 3,
            priorities: vec![],
            poll_interval: "2s".into(),
            failure_threshold: 3,
            recovery_threshold: 2,
            cooldown: "5m".into(),
            annotations: json!({}),
            status: Value::Null,
            seed: 1,
            dragonfly: Value::Null,
        }
    }

    pub fn group_object(&self) -> Value {
        let sites: Vec<Value> = self
            .sites
            .iter()
            .enumerate()
            .map(|(i, (n, r))| {
                json!({"name": n, "role": r, "lbIP": lb_ip(i),
                       "taintNodeSelector": {"topology.example/site": n}})
            })
            .collect();
        let mut obj = json!({
            "apiVersion": "shipstream.io/v1alpha1",
            "kind": "MysqlFailoverGroup",
            "metadata": {"name": GROUP, "namespace": NS, "annotations": self.annotations},
            "spec": {
                "sites": sites,
                "dns": {"hostname": "db.comp.example", "ttl": 10},
                "pollInterval": self.poll_interval,
                "failureThreshold": self.failure_threshold,
                "recoveryThreshold": self.recovery_threshold,
                "failoverCooldown": self.cooldown,
                "splitBrainPolicy": {"sitePriorities": self.priorities},
            },
        });
        if !self.status.is_null() {
            obj["status"] = self.status.clone();
        }
        if !self.dragonfly.is_null() {
            obj["spec"]["dragonfly"] = self.dragonfly.clone();
        }
        obj
    }

    pub fn poll_every(&self) -> Duration {
        bloodraven::duration::parse(&self.poll_interval).expect("poll interval")
    }
}

/// What a test body works with.
#[derive(Clone)]
pub struct Ctx {
    pub setup: Setup,
    pub api: ApiServer,
    pub engines: Vec<(String, Engine)>,
    pub registry: Registry,
    pub trace: Trace,
    pub dialer: SharedDialer,
    pub clock: Arc<dyn bloodraven::clock::WallClock>,
    /// (site, fake Dragonfly) when `Setup::dragonfly` is set.
    pub dragonflies: Vec<(String, chaos::fake_dragonfly::Node)>,
}

impl Ctx {
    pub fn engine(&self, site: &str) -> &Engine {
        &self
            .engines
            .iter()
            .find(|(n, _)| n == site)
            .unwrap_or_else(|| panic!("no site {site}"))
            .1
    }

    /// A manager built like the runner builds one: from the live object.
    pub async fn manager(&self) -> Manager {
        let kube = bloodraven::kube_client::client_over(
            self.dialer.clone(),
            APISERVER,
            APISERVER_PORT,
            NS,
        );
        let api = GroupApi {
            client: kube.clone(),
            namespace: NS.into(),
            name: GROUP.into(),
            clock: self.clock.clone(),
        };
        let group = api.get().await.expect("reading the group");
        let cfg = group.spec.validate().expect("valid spec");
        Manager::new(
            api,
            cfg,
            Seams {
                kube,
                sql: Arc::new(FramedSqlConnector::new(
                    self.dialer.clone(),
                    CONTROLLER_USER,
                    "secret",
                )),
                clock: self.clock.clone(),
                dialer: self.dialer.clone(),
            },
            ReplicationCredentials {
                user: "repl".into(),
                password: "repl".into(),
            },
            self.registry.clone(),
            &group,
        )
    }

    /// A group reconciler built like the runner builds one.
    pub fn reconciler(&self) -> bloodraven::reconcile::GroupReconciler {
        bloodraven::reconcile::GroupReconciler::new(
            self.kube(),
            self.registry.clone(),
            self.clock.clone(),
            NS,
            GROUP,
        )
    }

    /// A kube client over the simulated network to the fake apiserver.
    pub fn kube(&self) -> kube::Client {
        bloodraven::kube_client::client_over(self.dialer.clone(), APISERVER, APISERVER_PORT, NS)
    }

    /// The group as the controller reads it.
    pub async fn group(&self) -> crd::MysqlFailoverGroup {
        let api: kube::Api<crd::MysqlFailoverGroup> = kube::Api::namespaced(self.kube(), NS);
        api.get(GROUP).await.expect("reading the group")
    }

    /// One poll, then the poll interval of virtual time.
    pub async fn poll(&self, m: &mut Manager) {
        m.poll().await;
        tokio::time::sleep(self.setup.poll_every()).await;
    }

    pub async fn polls(&self, m: &mut Manager, n: usize) {
        for _ in 0..n {
            self.poll(m).await;
        }
    }

    /// Runs one statement on a site as root (test setup, not the controller).
    pub async fn sql(&self, site: &str, stmt: &str) -> QueryResult {
        let c = FramedSqlConnector::new(self.dialer.clone(), "root", "secret");
        let mut conn = c.connect(&host(site), 3306).await.expect("connect");
        conn.query(stmt)
            .await
            .unwrap_or_else(|e| panic!("{site}: {stmt}: {e}"))
    }

    pub fn status(&self) -> Value {
        self.api
            .get("mysqlfailovergroups", NS, GROUP)
            .map(|o| o["status"].clone())
            .unwrap_or(Value::Null)
    }

    pub fn object(&self) -> Value {
        self.api
            .get("mysqlfailovergroups", NS, GROUP)
            .unwrap_or(Value::Null)
    }

    pub fn condition(&self, type_: &str) -> Value {
        self.status()["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_).cloned())
            .unwrap_or(Value::Null)
    }

    pub fn site_status(&self, site: &str) -> Value {
        self.status()["sites"]
            .as_array()
            .and_then(|ss| ss.iter().find(|s| s["name"] == site).cloned())
            .unwrap_or(Value::Null)
    }

    /// The IP the DNSEndpoint names, if any.
    pub fn dns_target(&self) -> Option<String> {
        self.api
            .get("dnsendpoints", NS, &crd::dns_endpoint_name(GROUP))
            .and_then(|r| {
                r["spec"]["endpoints"][0]["targets"][0]
                    .as_str()
                    .map(String::from)
            })
    }

    pub fn read_only(&self, site: &str) -> bool {
        self.engine(site).snapshot().read_only
    }

    /// The controller's mutations so far, as (site, sql, ok).
    pub fn mutations(&self) -> Vec<(String, String, bool)> {
        self.trace
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Mutation {
                    site,
                    user,
                    sql,
                    ok,
                } if user == CONTROLLER_USER => Some((site, sql, ok)),
                _ => None,
            })
            .collect()
    }

    pub fn mutation_count(&self) -> usize {
        self.mutations().len()
    }

    /// The controller's log messages so far, as (level, msg).
    pub fn logs(&self) -> Vec<(String, String)> {
        self.trace
            .events()
            .into_iter()
            .filter_map(|e| match e.kind {
                EventKind::Log { level, msg, .. } => Some((level, msg)),
                _ => None,
            })
            .collect()
    }

    pub fn logged(&self, msg_prefix: &str) -> usize {
        self.logs()
            .iter()
            .filter(|(_, m)| m.starts_with(msg_prefix))
            .count()
    }

    pub fn metric(&self, family: &str, labels: &[(&str, &str)]) -> i64 {
        self.registry.metrics().value(family, labels).unwrap_or(0)
    }

    /// Waits until every replica has executed everything the primary has.
    pub async fn wait_replicated(&self, primary: &str) {
        let want = self.engine(primary).snapshot().gtid_executed;
        for _ in 0..200 {
            let done = self
                .engines
                .iter()
                .filter(|(n, _)| n != primary)
                .all(|(_, e)| e.snapshot().gtid_executed == want);
            if done {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("replicas did not catch up with {primary} ({want})");
    }
}

/// Runs `body` as the controller host of a fresh world built from `setup`, to completion.
/// Returns the trace.
pub fn simulate<F, Fut>(setup: Setup, body: F) -> Trace
where
    F: FnOnce(Ctx) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let trace = Trace::new();
    let layer = SimLogLayer {
        trace: trace.clone(),
        print: std::env::var_os("COMPONENT_LOG").is_some(),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || run(setup, body, trace.clone()));
    trace
}

fn run<F, Fut>(setup: Setup, body: F, trace: Trace)
where
    F: FnOnce(Ctx) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut sim = turmoil::Builder::new()
        .rng_seed(setup.seed)
        .epoch(
            std::time::UNIX_EPOCH
                + Duration::from_secs(chaos::world::clock::epoch().timestamp() as u64),
        )
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(3600))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(2))
        .build();
    let dialer: SharedDialer = Arc::new(SimDialer);
    let clock: Arc<dyn bloodraven::clock::WallClock> = Arc::new(SimClock::new());

    let api = ApiServer::with_bloodraven_crds(clock.clone(), trace.clone());
    api.put_raw(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .expect("namespace");
    api.put_raw("mysqlfailovergroups", setup.group_object())
        .expect("group");
    {
        let api = api.clone();
        sim.host(APISERVER, move || {
            let api = api.clone();
            async move {
                api.serve(Box::new(SimListener::bind(APISERVER_PORT).await?))
                    .await?;
                Ok(())
            }
        });
    }

    let mut engines = vec![];
    for (i, (name, _)) in setup.sites.iter().enumerate() {
        let engine = Engine::new(name, &uuid(i), (i + 1) as u32, trace.clone());
        let fenced = setup.primary.as_deref() != Some(name.as_str());
        let (e, d) = (engine.clone(), dialer.clone());
        sim.host(host(name).as_str(), move || {
            let (e, d) = (e.clone(), d.clone());
            async move {
                e.boot(fenced);
                // Replication threads follow every boot of the engine (the test reboots
                // engines in place instead of crashing the host).
                let (te, td) = (e.clone(), d.clone());
                tokio::spawn(async move {
                    loop {
                        if te.is_up() {
                            fake_mysql::run_replica_threads(te.clone(), td.clone()).await;
                        } else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                });
                fake_mysql::serve(e, Box::new(SimListener::bind(3306).await?)).await;
                Ok(())
            }
        });
        engines.push((name.clone(), engine));
    }

    let mut dragonflies = vec![];
    if !setup.dragonfly.is_null() {
        for (name, _) in &setup.sites {
            let h = bloodraven::dragonfly::names::host(GROUP, name);
            api.put_raw(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": bloodraven::dragonfly::names::pod(GROUP, name),
                                    "namespace": NS,
                                    "labels": bloodraven::dragonfly::names::site_labels(GROUP, name)},
                       "spec": {"containers": [{"name": "dragonfly", "image": "df:v1"}]}}),
            )
            .expect("dragonfly pod");
            let node = chaos::fake_dragonfly::Node::new(name, &h, trace.clone());
            let (n, d) = (node.clone(), dialer.clone());
            sim.host(h.as_str(), move || {
                let (n, d) = (n.clone(), d.clone());
                async move { Ok(chaos::fake_dragonfly::run_host(n, d).await?) }
            });
            dragonflies.push((name.clone(), node));
        }
    }
    let ctx = Ctx {
        dragonflies,
        setup: setup.clone(),
        api,
        engines,
        registry: Registry::default(),
        trace,
        dialer,
        clock,
    };
    sim.client("bloodraven", async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(p) = ctx.setup.primary.clone() {
            for i in 0..ctx.setup.rows {
                ctx.sql(&p, &format!("INSERT INTO chaos.counter (id) VALUES ({})", i + 1))
                    .await;
            }
            for (name, _) in ctx.setup.sites.clone() {
                if name == p {
                    continue;
                }
                ctx.sql(&name, &format!(
                    "CHANGE REPLICATION SOURCE TO SOURCE_HOST='{}', SOURCE_PORT=3306, SOURCE_USER='repl', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1",
                    host(&p)
                ))
                .await;
                ctx.sql(&name, "START REPLICA").await;
            }
            ctx.wait_replicated(&p).await;
        }
        body(ctx).await;
        Ok(())
    });
    sim.run().expect("simulation");
}
