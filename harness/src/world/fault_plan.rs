//! The expansion of a scenario's timed fault ops into scheduled world changes, shared by
//! the simulator and the local target so a new fault op is expanded in one place (e.g.
//! `pvc-loss` becomes Down, WipeData, Up). Each target applies the [`Action`]s it can; the
//! local target skips scenarios whose ops it cannot express (`local::schedule::unsupported`).

use std::time::Duration;

use crate::scenario::TimedFault;

use super::{dragonfly, site_host, APISERVER_HOST, CONTROLLER_HOST, COUNTER_HOST};

/// The delays an expansion adds to a fault's own times, in scenario time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delays {
    /// A crashed pod (`crash`, `pvc-loss`) is back after this.
    pub pod_restart: Duration,
    /// mysqld answers this long after its pod is back (carried by [`Action::Up`]).
    pub mysqld_boot: Duration,
}

/// One scheduled world change.
#[derive(Clone, Debug)]
pub(crate) enum Action {
    Down {
        site: String,
        op: String,
        boot_fenced: bool,
    },
    Up {
        site: String,
        op: String,
        boot_fenced: bool,
        mysqld_delay: Duration,
    },
    /// Cut (or heal) the links between `site`'s host and each of `peers` (host names).
    Cut {
        op: String,
        site: String,
        peers: Vec<String>,
        detail: String,
        heal: bool,
        /// `refuse` mode: connections reset at once instead of packets dropped.
        refuse: bool,
    },
    Sidecar {
        site: String,
        running: bool,
    },
    Controller {
        up: bool,
    },
    /// Arm the controller crash hook; `down` is how long the host stays down once it fires.
    ArmCrash {
        n: u64,
        down: Duration,
    },
    /// The armed crash point was reached: crash the controller host now (pushed by the
    /// simulator when the hook fires, never by [`expand`]).
    CrashNow,
    ErrantWrite {
        site: String,
        n: u64,
    },
    /// `pvc-loss`: the (downed) site's data directory is replaced by a fresh one.
    WipeData {
        site: String,
        uuid: String,
        local_txns: u64,
    },
    /// A human with SUPER: `rogue-unfence` or `manual-fence`.
    Human {
        site: String,
        fence: bool,
    },
    /// A human annotates the group (`value` None removes the annotation).
    Annotate {
        key: String,
        value: Option<String>,
    },
    /// A human creates a MysqlBackup (`op` = `backup`) or a MysqlBackupVerification.
    BackupRequest {
        op: String,
        req: crate::scenario::BackupRequest,
    },
    /// Planted fault: the next backup leaves out its newest `n` rows.
    BackupDropRows {
        n: u64,
    },
    /// `spec-patch`: a JSON merge patch of the group's spec.
    SpecPatch {
        patch: String,
    },
    /// `mysqld-kill`: mysqld alone dies (`up: false`) or restarts (`fenced` or writable).
    Mysqld {
        site: String,
        up: bool,
        fenced: bool,
    },
    /// `apply-stall`: the SQL thread's rate (None = back to normal).
    ApplyRate {
        site: String,
        rate: Option<f64>,
    },
    /// `pause`: mysqld frozen (or thawed).
    Pause {
        site: String,
        frozen: bool,
    },
    /// `partition-oneway`: drop packets from `from_host` to `site`'s host (or heal).
    OneWay {
        site: String,
        from: String,
        heal: bool,
    },
    /// An apiserver fault starts (or heals).
    Api {
        op: String,
        fault: crate::scenario::ApiFault,
        heal: bool,
    },
    /// `aux-unready` (or its heal).
    Aux {
        unready: bool,
    },
    /// `sql-fail` / `sql-ambiguous`: arm the engine for the next `n` statements of `stmt`.
    Sql {
        op: String,
        site: String,
        stmt: String,
        n: u64,
    },
    ClockSkew {
        host: String,
        offset_ms: i64,
    },
    /// A `dragonfly-*` fault (or its heal).
    Dragonfly(dragonfly::DfAction),
}

/// The hosts a `partition` of `site` cuts it from: everything else in the world.
pub(crate) fn others(site: &str, all_sites: &[String]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        CONTROLLER_HOST.into(),
        APISERVER_HOST.into(),
        COUNTER_HOST.into(),
    ];
    v.extend(
        all_sites
            .iter()
            .filter(|s| *s != site)
            .map(|s| site_host(s)),
    );
    v
}

/// The host a `partition-pair` peer names.
pub(crate) fn pair_host(peer: &str) -> String {
    match peer {
        "controller" => CONTROLLER_HOST.into(),
        "apiserver" => APISERVER_HOST.into(),
        "clients" => COUNTER_HOST.into(),
        site => site_host(site),
    }
}

/// The server_uuid a fresh data directory gets: derived from the site and the fault time,
/// so adding a `pvc-loss` does not shift the run's random stream.
pub(crate) fn fresh_uuid(site: &str, at: Duration) -> String {
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

/// The world changes `faults` expand to, ordered by time; changes due at the same time keep
/// the order of the faults that made them (a stable sort: the simulator's trace depends on it).
pub(crate) fn expand(
    faults: &[TimedFault],
    all_sites: &[String],
    delays: &Delays,
) -> Vec<(Duration, Action)> {
    let mut items = vec![];
    for f in faults {
        let site = f.site.clone();
        match f.op.as_str() {
            "node-down" | "site-down" | "crash" => {
                items.push((
                    f.at,
                    Action::Down {
                        site: site.clone(),
                        op: f.op.clone(),
                        boot_fenced: f.boot_fenced,
                    },
                ));
                let up_at = match f.op.as_str() {
                    "crash" => Some(f.at + delays.pod_restart),
                    _ => f.heal_at,
                };
                if let Some(at) = up_at {
                    items.push((
                        at,
                        Action::Up {
                            site,
                            op: f.op.clone(),
                            boot_fenced: f.boot_fenced,
                            mysqld_delay: delays.mysqld_boot,
                        },
                    ));
                }
            }
            "partition" | "partition-pair" => {
                let (peers, mut detail) = match &f.peer {
                    Some(p) => (vec![pair_host(p)], format!("{site} <-> {p}")),
                    None => (others(&site, all_sites), format!("{site} <-> everything")),
                };
                let refuse = f.mode.as_deref() == Some("refuse");
                if refuse {
                    detail.push_str(" (refuse)");
                }
                let cut = |heal| Action::Cut {
                    op: f.op.clone(),
                    site: site.clone(),
                    peers: peers.clone(),
                    detail: detail.clone(),
                    heal,
                    refuse,
                };
                items.push((f.at, cut(false)));
                if let Some(at) = f.heal_at {
                    items.push((at, cut(true)));
                }
            }
            "sidecar-kill" => {
                items.push((
                    f.at,
                    Action::Sidecar {
                        site: site.clone(),
                        running: false,
                    },
                ));
                let down = f.down.unwrap_or(crate::scenario::SIDECAR_KILL_DOWN);
                items.push((
                    f.at + down,
                    Action::Sidecar {
                        site,
                        running: true,
                    },
                ));
            }
            "controller-restart" => {
                items.push((f.at, Action::Controller { up: false }));
                let down = f.down.unwrap_or(crate::scenario::CONTROLLER_RESTART_DOWN);
                items.push((f.at + down, Action::Controller { up: true }));
            }
            "controller-crash" => items.push((
                f.at,
                Action::ArmCrash {
                    n: f.n,
                    down: f.down.unwrap_or(crate::scenario::CONTROLLER_CRASH_DOWN),
                },
            )),
            "errant-write" => items.push((f.at, Action::ErrantWrite { site, n: f.n })),
            "mysqld-kill" => {
                let down = f.down.unwrap_or(crate::scenario::MYSQLD_KILL_DOWN);
                items.push((
                    f.at,
                    Action::Mysqld {
                        site: site.clone(),
                        up: false,
                        fenced: f.boot_fenced,
                    },
                ));
                items.push((
                    f.at + down,
                    Action::Mysqld {
                        site,
                        up: true,
                        fenced: f.boot_fenced,
                    },
                ));
            }
            "apply-stall" => {
                items.push((
                    f.at,
                    Action::ApplyRate {
                        site: site.clone(),
                        rate: Some(f.rate),
                    },
                ));
                if let Some(at) = f.heal_at {
                    items.push((at, Action::ApplyRate { site, rate: None }));
                }
            }
            "fetch-stall" => {
                let peers: Vec<String> = all_sites
                    .iter()
                    .filter(|s| **s != site)
                    .map(|s| site_host(s))
                    .collect();
                let cut = |heal| Action::Cut {
                    op: f.op.clone(),
                    site: site.clone(),
                    peers: peers.clone(),
                    detail: format!("{site} <-> other sites"),
                    heal,
                    refuse: false,
                };
                items.push((f.at, cut(false)));
                if let Some(at) = f.heal_at {
                    items.push((at, cut(true)));
                }
            }
            "pause" => {
                items.push((
                    f.at,
                    Action::Pause {
                        site: site.clone(),
                        frozen: true,
                    },
                ));
                if let Some(at) = f.heal_at {
                    items.push((
                        at,
                        Action::Pause {
                            site,
                            frozen: false,
                        },
                    ));
                }
            }
            "partition-oneway" => {
                let from = pair_host(f.peer.as_deref().unwrap_or_default());
                items.push((
                    f.at,
                    Action::OneWay {
                        site: site.clone(),
                        from: from.clone(),
                        heal: false,
                    },
                ));
                if let Some(at) = f.heal_at {
                    items.push((
                        at,
                        Action::OneWay {
                            site,
                            from,
                            heal: true,
                        },
                    ));
                }
            }
            "pvc-loss" => {
                let down = |op: &str| Action::Down {
                    site: site.clone(),
                    op: op.into(),
                    boot_fenced: f.boot_fenced,
                };
                items.push((f.at, down("pvc-loss")));
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
                    f.at + delays.pod_restart,
                    Action::Up {
                        site,
                        op: f.op.clone(),
                        boot_fenced: f.boot_fenced,
                        mysqld_delay: delays.mysqld_boot,
                    },
                ));
            }
            "rogue-unfence" => items.push((f.at, Action::Human { site, fence: false })),
            "manual-fence" => items.push((f.at, Action::Human { site, fence: true })),
            "apiserver-outage" | "deny" | "watch-drop" | "api-latency" | "stale-read" => {
                let fault = f.api.clone().expect("validated apiserver fault");
                let act = |heal| Action::Api {
                    op: f.op.clone(),
                    fault: fault.clone(),
                    heal,
                };
                items.push((f.at, act(false)));
                if let Some(at) = f.heal_at {
                    items.push((at, act(true)));
                }
            }
            "backup" | "verify-backup" => items.push((
                f.at,
                Action::BackupRequest {
                    op: f.op.clone(),
                    req: f.request.clone().expect("validated"),
                },
            )),
            "backup-drop-rows" => items.push((f.at, Action::BackupDropRows { n: f.n })),
            "spec-patch" => items.push((
                f.at,
                Action::SpecPatch {
                    patch: f.value.clone().unwrap_or_default(),
                },
            )),
            "annotate" => items.push((
                f.at,
                Action::Annotate {
                    key: f.key.clone().unwrap_or_default(),
                    value: f.value.clone(),
                },
            )),
            "aux-unready" => {
                items.push((f.at, Action::Aux { unready: true }));
                if let Some(at) = f.heal_at {
                    items.push((at, Action::Aux { unready: false }));
                }
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
            "clock-skew" => items.push((
                f.at,
                Action::ClockSkew {
                    host: site,
                    offset_ms: f.offset_ms,
                },
            )),
            "dragonfly-kill" | "dragonfly-partition" => {
                use dragonfly::DfAction;
                let (on, off) = if f.op == "dragonfly-kill" {
                    (
                        DfAction::Kill { site: site.clone() },
                        DfAction::Restart { site: site.clone() },
                    )
                } else {
                    (
                        DfAction::Cut {
                            site: site.clone(),
                            heal: false,
                        },
                        DfAction::Cut {
                            site: site.clone(),
                            heal: true,
                        },
                    )
                };
                items.push((f.at, Action::Dragonfly(on)));
                if let Some(at) = f.heal_at {
                    items.push((at, Action::Dragonfly(off)));
                }
            }
            other => unreachable!("fault op {other:?} passed validation"),
        }
    }
    items.sort_by_key(|(t, _)| *t);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn plan(faults: &str, delays: &Delays) -> Vec<(Duration, Action)> {
        let text = format!(
            "id = \"plan\"\ndescription = \"d\"\nduration = \"120s\"\n\
             [topology]\nsites = [{{ name = \"a\" }}, {{ name = \"b\" }}]\nactive = \"a\"\n{faults}\n\
             [expect]\nproperties = [\"SW\"]\n"
        );
        let loaded = crate::scenario::parse("plan.toml", &text).expect("valid scenario");
        expand(&loaded.faults, &["a".into(), "b".into()], delays)
    }

    /// `(time, variant name)` of each change, to compare shapes.
    fn shape(items: &[(Duration, Action)]) -> Vec<(Duration, String)> {
        items
            .iter()
            .map(|(t, a)| {
                let name = format!("{a:?}");
                let end = name.find([' ', '(']).unwrap_or(name.len());
                (*t, name[..end].to_string())
            })
            .collect()
    }

    #[test]
    fn pvc_loss_is_down_wipe_then_up_after_the_pod_restart_delay() {
        let delays = Delays {
            pod_restart: secs(3),
            mysqld_boot: secs(7),
        };
        let items = plan(
            "[[faults]]\nat = \"20s\"\nop = \"pvc-loss\"\nsite = \"b\"\n",
            &delays,
        );
        assert_eq!(
            shape(&items),
            vec![
                (secs(20), "Down".into()),
                (secs(20), "WipeData".into()),
                (secs(23), "Up".into()),
            ]
        );
        let Action::Up { mysqld_delay, .. } = &items[2].1 else {
            panic!("{:?}", items[2]);
        };
        assert_eq!(*mysqld_delay, secs(7), "the caller's mysqld delay");
    }

    #[test]
    fn heals_are_scheduled_and_same_time_changes_keep_fault_order() {
        let delays = Delays {
            pod_restart: secs(5),
            mysqld_boot: secs(10),
        };
        let items = plan(
            "[[faults]]\nat = \"30s\"\nop = \"partition\"\nsite = \"a\"\nheal_at = \"40s\"\n\
             [[faults]]\nat = \"10s\"\nop = \"crash\"\nsite = \"b\"\n\
             [[faults]]\nat = \"40s\"\nop = \"pause\"\nsite = \"b\"\nheal_at = \"50s\"\n",
            &delays,
        );
        assert_eq!(
            shape(&items),
            vec![
                (secs(10), "Down".into()),
                (secs(15), "Up".into()),
                (secs(30), "Cut".into()),
                (secs(40), "Cut".into()),
                (secs(40), "Pause".into()),
                (secs(50), "Pause".into()),
            ]
        );
        let Action::Cut { peers, heal, .. } = &items[3].1 else {
            panic!("{:?}", items[3]);
        };
        assert!(*heal);
        assert!(
            peers.contains(&CONTROLLER_HOST.to_string()) && peers.contains(&site_host("b")),
            "a partition cuts a from everything: {peers:?}"
        );
    }
}
