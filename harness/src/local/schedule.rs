//! The fault timeline of a local run, in scenario time: the catalog's faults turned into
//! actions on processes, proxies and the in-process fakes. [`unsupported`] names the
//! faults that have no faithful local expression, so such a scenario is skipped whole.

use std::time::Duration;

use crate::scenario::{ApiFault, TimedFault};
use crate::world::{
    site::FIRST_BOOT_SIDECAR_DELAY, APISERVER_HOST, CONTROLLER_HOST, COUNTER_HOST,
    POD_RESTART_DELAY,
};

use super::world::site_host;

/// Why the local target cannot run a fault op (None: it can).
pub fn unsupported(op: &str) -> Option<&'static str> {
    match op {
        "node-down" | "site-down" | "crash" | "partition" | "partition-pair" | "fetch-stall"
        | "partition-oneway" | "sidecar-kill" | "controller-restart" | "errant-write"
        | "mysqld-kill" | "apply-stall" | "pause" | "pvc-loss" | "rogue-unfence"
        | "manual-fence" | "annotate" | "apiserver-outage" | "deny" | "watch-drop"
        | "api-latency" | "stale-read" | "sql-fail" | "sql-ambiguous" => None,
        "controller-crash" => Some(
            "controller-crash arms a fault hook inside the controller at a failover mutation; the local target runs the unmodified binary, which has no such trigger",
        ),
        "aux-unready" => Some(
            "aux-unready gates the controller's aux listener inside its process; the local binary serves it itself",
        ),
        "clock-skew" => Some(
            "clock-skew moves one process's clock; real processes all read the system clock",
        ),
        _ => Some("this fault has no local expression yet"),
    }
}

#[derive(Clone, Debug)]
pub enum Action {
    /// First boot: the sidecars start once the controller has had time to publish the
    /// active site (a steady-state group, as in the simulator).
    StartSidecars,
    Down {
        site: String,
        op: String,
        boot_fenced: bool,
    },
    Up {
        site: String,
        op: String,
        boot_fenced: bool,
    },
    MysqldBoot {
        site: String,
        fenced: bool,
    },
    /// Cut (or heal) the links between `site`'s host and each of `peers` (host names).
    Cut {
        op: String,
        site: String,
        peers: Vec<String>,
        detail: String,
        heal: bool,
    },
    OneWay {
        site: String,
        from: String,
        heal: bool,
    },
    Sidecar {
        site: String,
        running: bool,
    },
    Controller {
        up: bool,
    },
    ErrantWrite {
        site: String,
        n: u64,
    },
    WipeData {
        site: String,
        uuid: String,
        local_txns: u64,
    },
    Human {
        site: String,
        fence: bool,
    },
    Annotate {
        key: String,
        value: Option<String>,
    },
    Mysqld {
        site: String,
        up: bool,
        fenced: bool,
    },
    ApplyRate {
        site: String,
        rate: Option<f64>,
    },
    Pause {
        site: String,
        frozen: bool,
    },
    Api {
        op: String,
        fault: ApiFault,
        heal: bool,
    },
    Sql {
        op: String,
        site: String,
        stmt: String,
        n: u64,
    },
}

pub struct Schedule {
    items: Vec<(Duration, Action)>,
}

/// Everything a `partition` of `site` cuts it from.
fn others(site: &str, all: &[String]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        CONTROLLER_HOST.into(),
        APISERVER_HOST.into(),
        COUNTER_HOST.into(),
    ];
    v.extend(all.iter().filter(|s| *s != site).map(|s| site_host(s)));
    v
}

fn pair_host(peer: &str) -> String {
    match peer {
        "controller" => CONTROLLER_HOST.into(),
        "apiserver" => APISERVER_HOST.into(),
        "clients" => COUNTER_HOST.into(),
        site => site_host(site),
    }
}

/// The server_uuid of a fresh data directory (as the simulator derives it).
fn fresh_uuid(site: &str, at: Duration) -> String {
    let h = site.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!(
        "{:08x}-{:04x}-4{:03x}-8000-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        at.as_millis() as u64 & 0xffff_ffff_ffff
    )
}

/// The action at `at` and, when it heals, its counterpart at `heal_at`.
fn both(
    items: &mut Vec<(Duration, Action)>,
    at: Duration,
    heal_at: Option<Duration>,
    mk: &dyn Fn(bool) -> Action,
) {
    items.push((at, mk(false)));
    if let Some(h) = heal_at {
        items.push((h, mk(true)));
    }
}

impl Schedule {
    /// Callers check [`unsupported`] first.
    pub fn new(faults: &[TimedFault], all: &[String]) -> Self {
        let mut items = vec![(FIRST_BOOT_SIDECAR_DELAY, Action::StartSidecars)];
        for f in faults {
            let site = f.site.clone();
            match f.op.as_str() {
                "node-down" | "site-down" | "crash" => {
                    let up_at = match f.op.as_str() {
                        "crash" => Some(f.at + POD_RESTART_DELAY),
                        _ => f.heal_at,
                    };
                    both(&mut items, f.at, up_at, &|heal| {
                        if heal {
                            Action::Up {
                                site: site.clone(),
                                op: f.op.clone(),
                                boot_fenced: f.boot_fenced,
                            }
                        } else {
                            Action::Down {
                                site: site.clone(),
                                op: f.op.clone(),
                                boot_fenced: f.boot_fenced,
                            }
                        }
                    });
                }
                "partition" | "partition-pair" | "fetch-stall" => {
                    let (peers, detail) = match (&f.peer, f.op.as_str()) {
                        (_, "fetch-stall") => (
                            all.iter()
                                .filter(|s| **s != site)
                                .map(|s| site_host(s))
                                .collect(),
                            format!("{site} <-> other sites"),
                        ),
                        (Some(p), _) => (vec![pair_host(p)], format!("{site} <-> {p}")),
                        (None, _) => (others(&site, all), format!("{site} <-> everything")),
                    };
                    both(&mut items, f.at, f.heal_at, &|heal| Action::Cut {
                        op: f.op.clone(),
                        site: site.clone(),
                        peers: peers.clone(),
                        detail: detail.clone(),
                        heal,
                    });
                }
                "partition-oneway" => {
                    let from = pair_host(f.peer.as_deref().unwrap_or_default());
                    both(&mut items, f.at, f.heal_at, &|heal| Action::OneWay {
                        site: site.clone(),
                        from: from.clone(),
                        heal,
                    });
                }
                "sidecar-kill" => {
                    let down = f.down.unwrap_or(crate::scenario::SIDECAR_KILL_DOWN);
                    both(&mut items, f.at, Some(f.at + down), &|running| {
                        Action::Sidecar {
                            site: site.clone(),
                            running,
                        }
                    });
                }
                "controller-restart" => {
                    let down = f.down.unwrap_or(crate::scenario::CONTROLLER_RESTART_DOWN);
                    both(&mut items, f.at, Some(f.at + down), &|up| {
                        Action::Controller { up }
                    });
                }
                "errant-write" => both(&mut items, f.at, None, &|_| Action::ErrantWrite {
                    site: site.clone(),
                    n: f.n,
                }),
                "mysqld-kill" => {
                    let down = f.down.unwrap_or(crate::scenario::MYSQLD_KILL_DOWN);
                    both(&mut items, f.at, Some(f.at + down), &|up| Action::Mysqld {
                        site: site.clone(),
                        up,
                        fenced: f.boot_fenced,
                    });
                }
                "apply-stall" => both(&mut items, f.at, f.heal_at, &|heal| Action::ApplyRate {
                    site: site.clone(),
                    rate: (!heal).then_some(f.rate),
                }),
                "pause" => both(&mut items, f.at, f.heal_at, &|heal| Action::Pause {
                    site: site.clone(),
                    frozen: !heal,
                }),
                "pvc-loss" => {
                    items.push((
                        f.at,
                        Action::Down {
                            site: site.clone(),
                            op: "pvc-loss".into(),
                            boot_fenced: f.boot_fenced,
                        },
                    ));
                    items.push((
                        f.at,
                        Action::WipeData {
                            site: site.clone(),
                            uuid: fresh_uuid(&site, f.at),
                            local_txns: if f.mode.as_deref() == Some("new-uuid") {
                                f.n
                            } else {
                                0
                            },
                        },
                    ));
                    items.push((
                        f.at + POD_RESTART_DELAY,
                        Action::Up {
                            site,
                            op: f.op.clone(),
                            boot_fenced: f.boot_fenced,
                        },
                    ));
                }
                "rogue-unfence" | "manual-fence" => items.push((
                    f.at,
                    Action::Human {
                        site,
                        fence: f.op == "manual-fence",
                    },
                )),
                "annotate" => items.push((
                    f.at,
                    Action::Annotate {
                        key: f.key.clone().unwrap_or_default(),
                        value: f.value.clone(),
                    },
                )),
                "apiserver-outage" | "deny" | "watch-drop" | "api-latency" | "stale-read" => {
                    let fault = f.api.clone().expect("validated apiserver fault");
                    both(&mut items, f.at, f.heal_at, &|heal| Action::Api {
                        op: f.op.clone(),
                        fault: fault.clone(),
                        heal,
                    });
                }
                "sql-fail" | "sql-ambiguous" => items.push((
                    f.at,
                    Action::Sql {
                        op: f.op.clone(),
                        site,
                        stmt: f.stmt.clone().expect("validated stmt"),
                        n: f.n,
                    },
                )),
                other => unreachable!("fault op {other:?} is not supported locally"),
            }
        }
        items.sort_by_key(|(t, _)| *t);
        Self { items }
    }

    pub fn push(&mut self, at: Duration, action: Action) {
        self.items.push((at, action));
        self.items.sort_by_key(|(t, _)| *t);
    }

    pub fn due(&mut self, now: Duration) -> Vec<Action> {
        let n = self.items.iter().take_while(|(t, _)| *t <= now).count();
        self.items.drain(..n).map(|(_, a)| a).collect()
    }
}
