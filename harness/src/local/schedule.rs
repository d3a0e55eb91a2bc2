//! The fault timeline of a local run, in scenario time: the catalog's faults expanded as
//! the simulator expands them ([`fault_plan::expand`]), plus the steps only real
//! processes need. [`unsupported`] names the
//! faults that have no faithful local expression, so such a scenario is skipped whole.

use std::time::Duration;

use crate::scenario::TimedFault;
use crate::world::fault_plan::{self, Delays};
use crate::world::{site::FIRST_BOOT_SIDECAR_DELAY, MYSQLD_BOOT_DELAY, POD_RESTART_DELAY};

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

/// The local target's delays: the simulator's, so both targets judge the same timeline.
const DELAYS: Delays = Delays {
    pod_restart: POD_RESTART_DELAY,
    mysqld_boot: MYSQLD_BOOT_DELAY,
};

#[derive(Clone, Debug)]
pub enum Action {
    /// First boot: the sidecars start once the controller has had time to publish the
    /// active site (a steady-state group, as in the simulator).
    StartSidecars,
    /// mysqld of a returned pod starts ([`fault_plan::Action::Up`]'s delay later).
    MysqldBoot { site: String, fenced: bool },
    /// A world change a fault expanded to.
    Fault(fault_plan::Action),
}

pub struct Schedule {
    items: Vec<(Duration, Action)>,
}

impl Schedule {
    /// Callers check [`unsupported`] first.
    pub fn new(faults: &[TimedFault], all: &[String]) -> Self {
        let mut items = vec![(FIRST_BOOT_SIDECAR_DELAY, Action::StartSidecars)];
        items.extend(
            fault_plan::expand(faults, all, &DELAYS)
                .into_iter()
                .map(|(at, a)| (at, Action::Fault(a))),
        );
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
