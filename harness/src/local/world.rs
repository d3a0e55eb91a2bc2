//! One local run: the fake apiserver and one fake mysqld per site served on loopback in
//! this process, fault proxies on every link, the real controller and sidecar processes,
//! the counter workload over `mysql_async`, the fault schedule and the observer.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use bloodraven::clock::SystemClock;
use bloodraven::crd;
use bloodraven::net::{BoxIo, Dialer, TokioListener};
use bloodraven::resolve::{Overrides, ResolvingConnector};
use bloodraven::sql::MysqlAsyncConnector;
use rand::SeedableRng;
use serde_json::json;
use tokio::net::TcpListener;

use super::children::{Binaries, ChildProc, Ledger, Spec};
use super::net::Net;
use super::scale;
use super::schedule::{Action, Schedule};
use crate::fake_k8s::ApiServer;
use crate::fake_mysql::{self, Engine};
use crate::oracles::{Final, SiteTruth};
use crate::scenario::Loaded;
use crate::trace::{Event, EventKind, Trace};
use crate::txn_gtid::TxnGtid;
use crate::world::counter::{Counter, Resolver};
use crate::world::fault_plan::Action as Fault;
use crate::world::{
    claims, lb_ip, operator_secret, APISERVER_HOST, APP_SQL_USER, CONTROLLER_HOST,
    CONTROLLER_SQL_USER, COUNTER_HOST, GROUP, NAMESPACE, REPL_USER, SIDECAR_SQL_USER,
};

/// How often the observer samples the apiserver, in scenario time (as in the simulator).
const OBSERVE_EVERY: Duration = Duration::from_millis(500);
/// Driver step (real time).
const STEP: Duration = Duration::from_millis(10);
/// The counter's connect and write bound (real time; loopback answers in microseconds).
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

pub fn site_host(site: &str) -> String {
    crd::internal_service(GROUP, site)
}

/// A free loopback port (bound then released: used for a child's own listener).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn loopback() -> std::io::Result<(TcpListener, u16)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let port = l.local_addr()?.port();
    Ok((l, port))
}

/// The fake mysqld's replication IO thread dials Service names; each site reaches the
/// others through its own proxies.
struct SiteDialer(BTreeMap<(String, u16), u16>);

#[async_trait]
impl Dialer for SiteDialer {
    async fn dial(&self, host: &str, port: u16) -> std::io::Result<BoxIo> {
        let Some(p) = self.0.get(&(host.to_string(), port)) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{host}:{port}: no such host on the local target"),
            ));
        };
        let s = tokio::net::TcpStream::connect(("127.0.0.1", *p)).await?;
        s.set_nodelay(true)?;
        Ok(Box::new(s))
    }
}

struct Site {
    name: String,
    host: String,
    engine: Engine,
    dialer: Arc<SiteDialer>,
    replica: Option<tokio::task::JoinHandle<()>>,
    sidecar_env: Vec<(String, String)>,
    sidecar: Option<ChildProc>,
}

impl Site {
    fn boot_mysqld(&mut self, fenced: bool) {
        self.engine.boot(fenced);
        self.start_replica_threads();
    }

    fn start_replica_threads(&mut self) {
        if let Some(t) = self.replica.take() {
            t.abort();
        }
        self.replica = Some(tokio::spawn(fake_mysql::run_replica_threads(
            self.engine.clone(),
            self.dialer.clone(),
        )));
    }

    fn stop_mysqld(&mut self) {
        self.engine.shutdown();
        if let Some(t) = self.replica.take() {
            t.abort();
        }
    }
}

/// The controller's command line and environment, as the playground Deployment gives them
/// (`args: ["run"]`, the same variables), with loopback addresses, plus what running
/// outside a pod needs: the kubeconfig, the probe port (a pod's 8081 is its own), and
/// the Service-name overrides of [`bloodraven::resolve`].
pub fn controller_command(
    aux: u16,
    metrics: u16,
    probe: u16,
    kubeconfig: &Path,
    resolve: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let env = [
        ("AUX_ADDR", format!("127.0.0.1:{aux}")),
        ("METRICS_ADDR", format!("127.0.0.1:{metrics}")),
        ("WATCH_NAMESPACE", NAMESPACE.to_string()),
        // The Deployment's `info`, plus the per-poll line PLV needs.
        ("RUST_LOG", "info,bloodraven::poll=debug".to_string()),
        ("MYSQL_OPERATOR_USER", CONTROLLER_SQL_USER.to_string()),
        ("MYSQL_OPERATOR_PASSWORD", "secret".to_string()),
        ("MYSQL_REPLICATION_USER", REPL_USER.to_string()),
        ("MYSQL_REPLICATION_PASSWORD", "repl".to_string()),
        ("PROBE_ADDR", format!("127.0.0.1:{probe}")),
        ("KUBECONFIG", kubeconfig.display().to_string()),
        (bloodraven::resolve::ENV, resolve.to_string()),
    ];
    (
        vec!["run".to_string()],
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    )
}

pub struct RunOutput {
    pub events: Vec<Event>,
    pub fin: Final,
    pub scenario_elapsed: Duration,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub &'static str);

pub async fn run(
    loaded: &Loaded,
    seed: u64,
    bins: &Binaries,
    dir: &Path,
    trace: Trace,
) -> anyhow::Result<RunOutput> {
    let ledger = Ledger::create(dir)?;
    let topo = &loaded.scenario.topology;
    let names: Vec<String> = topo.sites.iter().map(|s| s.name.clone()).collect();
    let group = scale::group_object(loaded).map_err(|e| anyhow!(e))?;
    let spec: crd::MysqlFailoverGroupSpec = serde_json::from_value(group["spec"].clone())?;

    // The apiserver, seeded like the simulator's, keeping real time.
    let api = ApiServer::with_bloodraven_crds(Arc::new(SystemClock), trace.clone());
    let seed_err = |what: &'static str| move |e| anyhow!("seeding {what}: {e:?}");
    api.put_raw(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
    )
    .map_err(seed_err("the namespace"))?;
    api.put_raw("mysqlfailovergroups", group)
        .map_err(seed_err("the MysqlFailoverGroup"))?;
    claims::seed_nodes(&api, &names)?;
    api.put_raw("secrets", operator_secret())
        .map_err(seed_err("the operator Secret"))?;
    let (l, api_port) = loopback().await?;
    ledger.note(&format!("port {api_port} apiserver"));
    let serving = tokio::spawn(api.clone().serve(Box::new(TokioListener(l))));

    // Fake mysqlds: the wire protocol for the real clients, the framed one for replication.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut wire = BTreeMap::new();
    let mut framed = BTreeMap::new();
    let mut engines = vec![];
    for (i, s) in topo.sites.iter().enumerate() {
        let engine = Engine::new(
            &s.name,
            &crate::world::server_uuid(&mut rng),
            (i + 1) as u32,
            trace.clone(),
        );
        let port = fake_mysql::mysql_protocol::serve_loopback(engine.clone()).await?;
        ledger.note(&format!("port {port} mysqld {} (wire)", s.name));
        wire.insert(s.name.clone(), port);
        let (l, port) = loopback().await?;
        ledger.note(&format!("port {port} mysqld {} (replication)", s.name));
        framed.insert(s.name.clone(), port);
        tokio::spawn(fake_mysql::serve(
            engine.clone(),
            Box::new(TokioListener(l)),
        ));
        engines.push(engine);
    }
    for (name, engine) in names.iter().zip(&engines) {
        let donors: Vec<(String, &Engine)> = names
            .iter()
            .zip(&engines)
            .filter(|(n, _)| *n != name)
            .map(|(n, e)| (site_host(n), e))
            .collect();
        engine.set_clone_donors(donors.iter().map(|(h, e)| (h.as_str(), *e)));
    }

    // Links: every connection a partition may cut goes through a proxy.
    let mut net = Net::default();
    let controller_aux = free_port()?;
    let api_proxy = net.link(CONTROLLER_HOST, APISERVER_HOST, api_port).await?;
    let mut controller_resolve = vec![];
    let mut counter_resolve = Overrides::new();
    let sidecar_ports: BTreeMap<String, u16> = names
        .iter()
        .map(|n| Ok((n.clone(), free_port()?)))
        .collect::<std::io::Result<_>>()?;
    let mut sites = vec![];
    for (s, engine) in names.iter().zip(&engines) {
        let host = site_host(s);
        let p = net.link(CONTROLLER_HOST, &host, wire[s]).await?;
        controller_resolve.push(format!("{host}:3306=127.0.0.1:{p}"));
        let p = net.link(COUNTER_HOST, &host, wire[s]).await?;
        counter_resolve.insert((host.clone(), 3306), ("127.0.0.1".into(), p));
        let to_controller = net.link(&host, CONTROLLER_HOST, controller_aux).await?;
        let mut peers = vec![];
        let mut replication = BTreeMap::new();
        for t in names.iter().filter(|t| *t != s) {
            let th = site_host(t);
            peers.push(format!(
                "127.0.0.1:{}",
                net.link(&host, &th, sidecar_ports[t]).await?
            ));
            replication.insert((th.clone(), 3306), net.link(&host, &th, framed[t]).await?);
        }
        let env = [
            ("MY_SITE", s.clone()),
            ("POD_NAMESPACE", NAMESPACE.into()),
            ("MY_POD_NAME", format!("mysql-{GROUP}-{s}-0")),
            ("FAILOVER_GROUP", GROUP.into()),
            ("PEER_ADDRESSES", peers.join(",")),
            ("LEASE_TIMEOUT", spec.sidecar.lease_timeout.clone()),
            (
                "PEER_CHECK_INTERVAL",
                spec.sidecar.peer_check_interval.clone(),
            ),
            ("MYSQL_HOST", "127.0.0.1".into()),
            ("MYSQL_PORT", wire[s].to_string()),
            ("LISTEN_ADDR", format!("127.0.0.1:{}", sidecar_ports[s])),
            ("MYSQL_USER", SIDECAR_SQL_USER.into()),
            ("MYSQL_PASSWORD", "secret".into()),
            ("BLOODRAVEN_ADDRESS", format!("127.0.0.1:{to_controller}")),
            ("RUST_LOG", "info".into()),
        ];
        let mut site = Site {
            name: s.clone(),
            host,
            engine: engine.clone(),
            dialer: Arc::new(SiteDialer(replication)),
            replica: None,
            sidecar_env: env.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            sidecar: None,
        };
        site.boot_mysqld(*s != topo.active);
        sites.push(site);
    }
    for (port, what) in net.ports() {
        ledger.note(&format!("port {port} {what}"));
    }
    for (s, port) in &sidecar_ports {
        ledger.note(&format!("port {port} sidecar {s}"));
    }
    ledger.note(&format!("port {controller_aux} controller aux"));

    // Replication at start: every other site replicates from the active one.
    let active_host = site_host(&topo.active);
    for s in sites.iter().filter(|s| s.name != topo.active) {
        for sql in [
            format!("CHANGE REPLICATION SOURCE TO SOURCE_HOST='{active_host}', SOURCE_PORT=3306, SOURCE_USER='{REPL_USER}', SOURCE_PASSWORD='repl', SOURCE_AUTO_POSITION=1"),
            "START REPLICA".to_string(),
        ] {
            s.engine
                .query(SIDECAR_SQL_USER, &sql)
                .await
                .map_err(|e| anyhow!("replication setup on {}: {e}", s.name))?;
        }
    }

    // The controller, started like the Deployment starts it.
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: http://127.0.0.1:{api_proxy}\n\
             contexts:\n- name: local\n  context:\n    cluster: local\n    user: local\n    namespace: {NAMESPACE}\n\
             current-context: local\nusers:\n- name: local\n  user: {{}}\n"
        ),
    )
    .with_context(|| format!("writing {}", kubeconfig.display()))?;
    let (metrics, probe) = (free_port()?, free_port()?);
    ledger.note(&format!("port {metrics} controller metrics"));
    ledger.note(&format!("port {probe} controller probe"));
    let (args, env) = controller_command(
        controller_aux,
        metrics,
        probe,
        &kubeconfig,
        &controller_resolve.join(","),
    );
    let controller_spec = Spec {
        host: CONTROLLER_HOST.into(),
        name: "controller".into(),
        program: bins.controller.clone(),
        args,
        env,
    };

    // The workload, through mysql_async and the counter's proxies.
    let resolver = Resolver::default();
    let counter = Counter {
        connector: ResolvingConnector::wrap(
            Arc::new(MysqlAsyncConnector {
                user: APP_SQL_USER.into(),
                password: "app".into(),
                connect_timeout: WRITE_TIMEOUT,
            }),
            counter_resolve,
        ),
        resolver: resolver.clone(),
        trace: trace.clone(),
        rate: loaded.scenario.workload.counter_rate,
        client_ttl: scale::real(bloodraven::duration::parse(
            &loaded.scenario.workload.dns_ttl,
        )?),
        stop_at: scale::real(loaded.duration),
        write_timeout: WRITE_TIMEOUT,
    };

    let mut world = World {
        api: api.clone(),
        sites,
        net,
        controller: None,
        controller_spec,
        dir: dir.to_path_buf(),
        trace: trace.clone(),
        ledger,
        bins_sidecar: bins.sidecar.clone(),
    };
    world.start_controller()?;
    let workload = tokio::spawn(counter.run());

    let mut schedule = Schedule::new(&loaded.faults, &names);
    let mut interrupt = Signals::new()?;
    let mut next_observe = Duration::ZERO;
    let mut observed = Observed::default();
    let mut claims_seen = claims::ClaimsSeen::default();
    let elapsed = || trace.scaled_elapsed().expect("a scaled real-time trace");
    let result = loop {
        let now = elapsed();
        if now >= loaded.duration {
            break Ok(());
        }
        let mut failed = None;
        for action in schedule.due(now) {
            if let Err(e) = world.apply(action, now, &mut schedule).await {
                failed = Some(e);
                break;
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if now >= next_observe {
            next_observe = now + OBSERVE_EVERY;
            observed.observe(&api, &names, &resolver, &trace);
            claims::observe_claims(&api, &trace, &mut claims_seen);
        }
        tokio::select! {
            _ = tokio::time::sleep(STEP) => {}
            sig = interrupt.next() => break Err(Interrupted(sig).into()),
        }
    };
    workload.abort();
    world.stop_processes();
    result?;
    let scenario_elapsed = elapsed();
    let fin = Final {
        sites: world
            .sites
            .iter()
            .map(|s| {
                let e = s.engine.snapshot();
                SiteTruth {
                    name: s.name.clone(),
                    up: e.up,
                    read_only: e.read_only,
                    server_uuid: e.server_uuid,
                    gtid_executed: e.gtid_executed,
                    rows: e.rows,
                    source_host: e.source_host.unwrap_or_default(),
                    io_running: e.io_running,
                    sql_running: e.sql_running,
                }
            })
            .collect(),
        status: api
            .get("mysqlfailovergroups", NAMESPACE, GROUP)
            .map(|o| o["status"].clone())
            .unwrap_or_default(),
        dns_target: observed.dns.flatten(),
    };
    // The trace ends here: tearing the fakes down is not part of the run.
    let mut events = trace.take();
    serving.abort();
    for s in &mut world.sites {
        s.stop_mysqld();
    }
    fill_ack_gtids(&mut events);
    Ok(RunOutput {
        events,
        fin,
        scenario_elapsed,
    })
}

/// opensrv-mysql does not offer CLIENT_SESSION_TRACK, so `mysql_async` gets no GTID with
/// an acknowledgement: take it from the commit of that row on the acknowledging site.
fn fill_ack_gtids(events: &mut [Event]) {
    let mut commits: BTreeMap<(String, u64), TxnGtid> = BTreeMap::new();
    for e in events.iter() {
        if let EventKind::Commit {
            site,
            gtid,
            row: Some(row),
            replicated: false,
        } = &e.kind
        {
            commits
                .entry((site.to_string(), *row))
                .or_insert_with(|| gtid.clone());
        }
    }
    for e in events.iter_mut() {
        if let EventKind::Ack {
            id,
            site,
            server_uuid,
            gtid,
        } = &mut e.kind
        {
            if gtid.is_empty() {
                if let Some(g) = commits.get(&(site.to_string(), *id)) {
                    *gtid = g.to_string().into();
                    *server_uuid = g.uuid.clone();
                }
            }
        }
    }
}

/// SIGINT and SIGTERM end the run (the children die with their guards).
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// What external-dns and the status watcher last saw.
#[derive(Default)]
struct Observed {
    active: Option<String>,
    dns: Option<Option<String>>,
}

impl Observed {
    /// Samples `status.activeSite` and the DNSEndpoint (acting as external-dns, which
    /// moves the workload's resolver), like the simulator's observer.
    fn observe(&mut self, api: &ApiServer, sites: &[String], resolver: &Resolver, trace: &Trace) {
        let group = api.get("mysqlfailovergroups", NAMESPACE, GROUP);
        let a = group
            .as_ref()
            .and_then(|g| g["status"]["activeSite"].as_str().map(String::from))
            .unwrap_or_default();
        if self.active.as_ref() != Some(&a) {
            trace.record(EventKind::ActiveSite { site: a.clone() });
            self.active = Some(a);
        }
        let record = api.get("dnsendpoints", NAMESPACE, &crd::dns_endpoint_name(GROUP));
        let ip = record.as_ref().and_then(|r| {
            r["spec"]["endpoints"][0]["targets"][0]
                .as_str()
                .map(String::from)
        });
        let target = ip.and_then(|ip| {
            (0..sites.len())
                .find(|i| lb_ip(*i) == ip)
                .map(|i| sites[i].clone())
        });
        if self.dns.as_ref() != Some(&target) {
            trace.record(EventKind::Dns {
                target: target.clone(),
            });
            resolver.set(target.clone().map(|s| (s.clone(), site_host(&s))));
            self.dns = Some(target);
        }
    }
}

/// The mutable side of a run that fault actions reach into.
struct World {
    api: ApiServer,
    sites: Vec<Site>,
    net: Net,
    controller: Option<ChildProc>,
    controller_spec: Spec,
    dir: std::path::PathBuf,
    trace: Trace,
    ledger: Ledger,
    bins_sidecar: std::path::PathBuf,
}

impl World {
    fn start_controller(&mut self) -> anyhow::Result<()> {
        self.controller = Some(ChildProc::spawn(
            &self.controller_spec,
            &self.dir,
            &self.trace,
            &self.ledger,
        )?);
        Ok(())
    }

    fn start_sidecar(&mut self, i: usize) -> anyhow::Result<()> {
        let s = &self.sites[i];
        let spec = Spec {
            host: s.host.clone(),
            name: format!("sidecar-{}", s.name),
            program: self.bins_sidecar.clone(),
            args: vec![],
            env: s.sidecar_env.clone(),
        };
        let child = ChildProc::spawn(&spec, &self.dir, &self.trace, &self.ledger)?;
        self.sites[i].sidecar = Some(child);
        Ok(())
    }

    fn stop_processes(&mut self) {
        self.controller = None;
        for s in &mut self.sites {
            s.sidecar = None;
        }
    }

    fn site(&self, name: &str) -> usize {
        self.sites
            .iter()
            .position(|s| s.name == name)
            .expect("validated site")
    }

    fn fault(&self, op: &str, detail: String, heal: bool) {
        self.trace.record(EventKind::Fault {
            op: op.into(),
            detail,
            heal,
        });
    }

    fn host_event(&self, host: &str, up: bool) {
        self.trace.record(EventKind::Host {
            host: host.into(),
            up,
        });
    }

    async fn apply(
        &mut self,
        action: Action,
        now: Duration,
        schedule: &mut Schedule,
    ) -> anyhow::Result<()> {
        match action {
            Action::StartSidecars => {
                for i in 0..self.sites.len() {
                    self.start_sidecar(i)?;
                }
            }
            Action::Fault(Fault::Down {
                site,
                op,
                boot_fenced,
            }) => {
                let i = self.site(&site);
                let host = self.sites[i].host.clone();
                self.fault(
                    &op,
                    format!(
                        "{site} (boot {})",
                        if boot_fenced { "fenced" } else { "writable" }
                    ),
                    false,
                );
                self.sites[i].sidecar = None;
                self.sites[i].stop_mysqld();
                self.net.set_down(&host, true);
                self.host_event(&host, false);
            }
            Action::Fault(Fault::Up {
                site,
                op,
                boot_fenced,
                mysqld_delay,
            }) => {
                let i = self.site(&site);
                let host = self.sites[i].host.clone();
                self.fault(&op, site.clone(), true);
                self.net.set_down(&host, false);
                self.start_sidecar(i)?;
                self.host_event(&host, true);
                schedule.push(
                    now + mysqld_delay,
                    Action::MysqldBoot {
                        site,
                        fenced: boot_fenced,
                    },
                );
            }
            Action::MysqldBoot { site, fenced } => {
                let i = self.site(&site);
                self.sites[i].boot_mysqld(fenced);
            }
            Action::Fault(Fault::Cut {
                op,
                site,
                peers,
                detail,
                heal,
                // A local cut always refuses new connections and stalls established ones
                // (net.rs); `refuse` mode's resets are not modelled here.
                refuse: _,
            }) => {
                self.fault(&op, detail, heal);
                let host = site_host(&site);
                for p in peers {
                    self.net.cut(&host, &p, heal);
                }
            }
            Action::Fault(Fault::OneWay { site, from, heal }) => {
                self.fault("partition-oneway", format!("{site} <- {from}"), heal);
                self.net.oneway(&from, &site_host(&site), heal);
            }
            Action::Fault(Fault::Sidecar { site, running }) => {
                let i = self.site(&site);
                self.fault("sidecar-kill", site, running);
                if running {
                    self.start_sidecar(i)?;
                } else {
                    self.sites[i].sidecar = None;
                }
            }
            Action::Fault(Fault::Controller { up }) => {
                self.fault("controller-restart", CONTROLLER_HOST.into(), up);
                if up {
                    self.start_controller()?;
                } else {
                    self.controller = None;
                }
                self.net.set_down(CONTROLLER_HOST, !up);
                self.host_event(CONTROLLER_HOST, up);
            }
            Action::Fault(Fault::ErrantWrite { site, n }) => {
                self.fault("errant-write", format!("{site} x{n}"), false);
                self.sites[self.site(&site)].engine.errant_write(n);
            }
            Action::Fault(Fault::WipeData {
                site,
                uuid,
                local_txns,
            }) => {
                self.fault(
                    "pvc-loss",
                    format!("{site}: fresh datadir {uuid}, {local_txns} local transaction(s)"),
                    false,
                );
                let e = &self.sites[self.site(&site)].engine;
                e.wipe_datadir(&uuid);
                e.errant_write(local_txns);
            }
            Action::Fault(Fault::Human { site, fence }) => {
                let (op, sql) = if fence {
                    ("manual-fence", "SET GLOBAL super_read_only = ON")
                } else {
                    ("rogue-unfence", "SET GLOBAL read_only = OFF")
                };
                self.fault(op, site.clone(), false);
                let e = self.sites[self.site(&site)].engine.clone();
                let _ = e.query(SIDECAR_SQL_USER, sql).await;
            }
            Action::Fault(Fault::Annotate { key, value }) => {
                let value = value.map(|v| scale::annotation_value(&v));
                crate::world::annotate(&self.api, &key, value.as_deref(), &self.trace);
            }
            Action::Fault(Fault::Mysqld { site, up, fenced }) => {
                let i = self.site(&site);
                self.fault("mysqld-kill", site, up);
                if up {
                    self.sites[i].boot_mysqld(fenced);
                } else {
                    self.sites[i].stop_mysqld();
                }
            }
            Action::Fault(Fault::ApplyRate { site, rate }) => {
                self.fault(
                    "apply-stall",
                    match rate {
                        Some(r) => format!("{site} at {r}/s"),
                        None => site.clone(),
                    },
                    rate.is_none(),
                );
                self.sites[self.site(&site)]
                    .engine
                    .set_apply_rate(rate.unwrap_or(crate::world::NORMAL_APPLY_RATE));
            }
            Action::Fault(Fault::Pause { site, frozen }) => {
                self.fault("pause", site.clone(), !frozen);
                let e = &self.sites[self.site(&site)].engine;
                e.set_hang(frozen);
                e.set_apply_rate(if frozen {
                    0.0
                } else {
                    crate::world::NORMAL_APPLY_RATE
                });
            }
            Action::Fault(Fault::Api { op, fault, heal }) => {
                crate::world::api_fault::apply(&self.api, &op, &fault, heal, &self.trace);
            }
            Action::Fault(Fault::Sql { op, site, stmt, n }) => {
                self.fault(&op, format!("{site} {stmt} x{n}"), false);
                let n = u32::try_from(n).expect("validated n");
                let e = &self.sites[self.site(&site)].engine;
                if op == "sql-fail" {
                    e.fail_next(&stmt, n);
                } else {
                    e.ambiguous_next(&stmt, n);
                }
            }
            Action::Fault(other) => {
                anyhow::bail!(
                    "{other:?} has no local expression (unsupported() skips such scenarios)"
                )
            }
        }
        Ok(())
    }
}
