//! A site pod: the fake mysqld and the real sidecar on one turmoil host, like two
//! containers of one pod. Killing the host kills both; the kubelet restarts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bloodraven::clock::WallClock;
use bloodraven::net::SharedDialer;
use tokio::sync::watch;

use crate::fake_mysql::{self, Engine, FramedSqlConnector};
use crate::simnet::SimListener;

use super::{CONTROLLER_AUX_PORT, CONTROLLER_HOST, GROUP, NAMESPACE, SIDECAR_SQL_USER};

/// How the next (re)boot of the pod goes.
#[derive(Clone, Debug)]
struct Boot {
    first: bool,
    fenced: bool,
    mysqld_delay: Duration,
}

/// Shared between the fault scheduler and the host closure: how the next boot goes, and
/// whether the sidecar container should be running (`sidecar-kill`).
#[derive(Clone)]
pub struct SiteCtl(
    Arc<Mutex<Boot>>,
    Arc<watch::Sender<bool>>,
    /// Bumped to restart mysqld alone (`mysqld-kill`), with whether it boots fenced.
    Arc<watch::Sender<(u64, bool)>>,
);

/// On the very first boot sidecars start after the controller has had time to publish
/// the active site (a steady-state group, not a fresh deploy).
pub(crate) const FIRST_BOOT_SIDECAR_DELAY: Duration = Duration::from_secs(8);

impl SiteCtl {
    pub fn initial(active: bool) -> Self {
        Self(
            Arc::new(Mutex::new(Boot {
                first: true,
                fenced: !active,
                mysqld_delay: Duration::ZERO,
            })),
            Arc::new(watch::channel(true).0),
            Arc::new(watch::channel((0, true)).0),
        )
    }

    /// Starts mysqld again (replication stopped) after a `mysqld-kill`: fenced, as the
    /// boot-fence file the pod's init container wrote makes it, or writable (no fence).
    pub fn restart_mysqld(&self, fenced: bool) {
        self.2.send_modify(|(n, f)| {
            *n += 1;
            *f = fenced;
        });
    }

    /// The next boot of the pod (the kubelet starts every container again).
    pub fn restart(&self, fenced: bool, mysqld_delay: Duration) {
        *self.0.lock().unwrap() = Boot {
            first: false,
            fenced,
            mysqld_delay,
        };
        self.1.send_replace(true);
    }

    /// Kills (`false`) or restarts (`true`) only the sidecar container; mysqld stays.
    pub fn set_sidecar(&self, running: bool) {
        self.1.send_replace(running);
    }
}

#[derive(Clone)]
pub struct SiteHost {
    pub site: String,
    pub host: String,
    pub peers: Vec<String>,
    pub engine: Engine,
    pub ctl: SiteCtl,
    pub dialer: SharedDialer,
    pub wall: Arc<dyn WallClock>,
    /// The run's test-only broken behaviours (the sidecar consults `NeverSelfFence`).
    pub hooks: bloodraven::fault_hooks::FaultHooks,
    pub lease: Duration,
    pub peer_check: Duration,
}

impl SiteHost {
    pub async fn boot(self) -> turmoil::Result {
        let boot = self.ctl.0.lock().unwrap().clone();
        let sidecar_delay = if boot.first {
            FIRST_BOOT_SIDECAR_DELAY
        } else {
            Duration::ZERO
        };
        let cfg = bloodraven_sidecar::SidecarConfig {
            site: self.site.clone(),
            namespace: NAMESPACE.into(),
            group: GROUP.into(),
            pod_name: format!("mysql-{GROUP}-{}-0", self.site),
            mysql_host: self.host.clone(),
            mysql_port: 3306,
            controller_host: CONTROLLER_HOST.into(),
            controller_port: CONTROLLER_AUX_PORT,
            peers: self.peers.iter().map(|p| (p.clone(), 8080)).collect(),
            lease_timeout: self.lease,
            peer_check_interval: self.peer_check,
            listen_port: 8080,
        }
        .clamped();
        let seams = bloodraven_sidecar::Seams {
            dialer: self.dialer.clone(),
            sql: Arc::new(FramedSqlConnector::new(
                self.dialer.clone(),
                SIDECAR_SQL_USER,
                "secret",
            )),
            clock: self.wall.clone(),
        };
        // The sidecar container, supervised so `sidecar-kill` can stop and restart it
        // alone. A killed sidecar's run future is dropped: its listener closes, its SQL
        // sessions and HTTP calls end; connection tasks already accepted finish on their own.
        let mut wanted = self.ctl.1.subscribe();
        let sidecar_hooks = self.hooks.clone();
        tokio::spawn(async move {
            tokio::time::sleep(sidecar_delay).await;
            loop {
                let start = wanted.wait_for(|w| *w).await.is_ok();
                if !start {
                    return;
                }
                let (cfg, seams, hooks) = (cfg.clone(), seams.clone(), sidecar_hooks.clone());
                let mut task = tokio::spawn(async move {
                    match SimListener::bind(8080).await {
                        Ok(l) => {
                            let run =
                                bloodraven_sidecar::run_with_hooks(cfg, seams, Box::new(l), hooks);
                            if let Err(e) = run.await {
                                tracing::error!(error = %e, "sidecar stopped");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "sidecar could not bind :8080"),
                    }
                });
                tokio::select! {
                    biased;
                    _ = &mut task => return,
                    killed = async { wanted.wait_for(|w| !*w).await.is_ok() } => {
                        if !killed {
                            return;
                        }
                        task.abort();
                        let _ = task.await;
                    }
                }
            }
        });
        // mysqld alone restarted by its container runtime (`mysqld-kill`).
        {
            let mut boots = self.ctl.2.subscribe();
            let (engine, dialer) = (self.engine.clone(), self.dialer.clone());
            tokio::spawn(async move {
                while boots.changed().await.is_ok() {
                    let fenced = boots.borrow_and_update().1;
                    engine.boot(fenced);
                    tokio::spawn(fake_mysql::run_replica_threads(
                        engine.clone(),
                        dialer.clone(),
                    ));
                }
            });
        }
        tokio::time::sleep(boot.mysqld_delay).await;
        self.engine.boot(boot.fenced);
        tokio::spawn(fake_mysql::run_replica_threads(
            self.engine.clone(),
            self.dialer.clone(),
        ));
        fake_mysql::serve(
            self.engine.clone(),
            Box::new(SimListener::bind(3306).await?),
        )
        .await;
        Ok(())
    }
}
