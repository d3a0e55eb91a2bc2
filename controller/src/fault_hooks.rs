//! Test-only fault hooks: deliberately broken behaviours and a crash point between the
//! mutations of a failover, so the chaos harness can show each safety oracle failing on a
//! controller that misbehaves. Built only with the `fault-hooks` cargo feature (the
//! harness enables it); without it [`FaultHooks`] is an empty type whose checks are
//! constant `false` and whose mutation point does nothing, so production code carries one
//! call per point and no behaviour.
//!
//! One [`FaultHooks`] belongs to one controller instance (it travels in its
//! [`Registry`](crate::topology::Registry)) and to the sidecars of the same simulated run
//! (handed to `bloodraven_sidecar::run_with_hooks`), never to the process: simulations
//! run in parallel threads.

/// A behaviour a test can break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Broken {
    /// Promote without fencing the old primary (breaks SW).
    SkipFenceOldPrimary,
    /// Point DNS at the candidate before its writability is confirmed (breaks DNS-W).
    DnsBeforeConfirm,
    /// Promote inside the anti-flap cooldown (breaks FLAP).
    IgnoreCooldown,
    /// Repoint a site whose GTID set is not contained in the active's (breaks NDA).
    RepointDivergent,
    /// Promote the first reachable candidate in priority order even when another holds a
    /// strict GTID superset (breaks RPO-A).
    IgnoreGtidFreshness,
    /// Leave a split brain alone (breaks DW).
    SkipSplitBrainFence,
    /// Give every apiserver call of a poll its full 10s and never skip the rest after a
    /// timeout, so a hanging apiserver holds the poll loop (breaks PLV).
    UnboundedApiCalls,
    /// Sidecar: the fencing monitor decides to self-fence but never does (breaks FENCE
    /// and SW-H).
    NeverSelfFence,
    /// Declare a site unreachable on its first failed probe instead of F straight ones
    /// (breaks DEB, and NOFO under a flapping link).
    NoDebounce,
    /// Promote a planned target without waiting for it to apply the fenced source's GTIDs
    /// (breaks NAL-P and PF).
    SkipPlannedCatchUp,
    /// Accept any reclone annotation, skipping the GTID-prefix / confirm interlock (breaks
    /// RCL).
    SkipRecloneInterlock,
    /// Unfence the promoted candidate first and fence the old primary only afterwards
    /// (breaks FBP, and PWO when the old primary was just read writable).
    UnfenceBeforeFence,
    /// Never lift the group's taint from a site that turned writable (breaks TAINT).
    SkipUntaint,
    /// Publish the last site seen writable as `activeSite` when none is writable now,
    /// however long it has been down or read-only (breaks the STATUS safety form).
    ReportLastWriter,
}

impl Broken {
    pub const ALL: [Broken; 14] = [
        Broken::SkipFenceOldPrimary,
        Broken::DnsBeforeConfirm,
        Broken::IgnoreCooldown,
        Broken::RepointDivergent,
        Broken::IgnoreGtidFreshness,
        Broken::SkipSplitBrainFence,
        Broken::UnboundedApiCalls,
        Broken::NeverSelfFence,
        Broken::NoDebounce,
        Broken::SkipPlannedCatchUp,
        Broken::SkipRecloneInterlock,
        Broken::UnfenceBeforeFence,
        Broken::SkipUntaint,
        Broken::ReportLastWriter,
    ];

    /// The name used in repro files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Broken::SkipFenceOldPrimary => "skip-fence-old-primary",
            Broken::DnsBeforeConfirm => "dns-before-confirm",
            Broken::IgnoreCooldown => "ignore-cooldown",
            Broken::RepointDivergent => "repoint-divergent",
            Broken::IgnoreGtidFreshness => "ignore-gtid-freshness",
            Broken::SkipSplitBrainFence => "skip-split-brain-fence",
            Broken::UnboundedApiCalls => "unbounded-api-calls",
            Broken::NeverSelfFence => "never-self-fence",
            Broken::NoDebounce => "no-debounce",
            Broken::SkipPlannedCatchUp => "skip-planned-catch-up",
            Broken::SkipRecloneInterlock => "skip-reclone-interlock",
            Broken::UnfenceBeforeFence => "unfence-before-fence",
            Broken::SkipUntaint => "skip-untaint",
            Broken::ReportLastWriter => "report-last-writer",
        }
    }

    pub fn parse(name: &str) -> Option<Broken> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

#[cfg(feature = "fault-hooks")]
mod enabled {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    use super::Broken;

    #[derive(Default)]
    struct State {
        broken: BTreeSet<Broken>,
        /// Failover mutations seen since the instance's hooks were created.
        mutations: u64,
        /// Crash before the mutation with this number (1-based, counted from `armed_at`).
        crash_at: Option<u64>,
        armed_at: u64,
        /// Set when the crash point was reached; the harness crashes the host.
        crash_requested: bool,
    }

    /// Shared by the harness (which sets it up and watches for crash requests) and the
    /// controller (which consults it). Clones share state.
    #[derive(Clone, Default)]
    pub struct FaultHooks {
        state: Arc<Mutex<State>>,
    }

    impl FaultHooks {
        pub fn break_behaviour(&self, b: Broken) {
            self.state.lock().unwrap().broken.insert(b);
        }

        pub fn broken(&self, b: Broken) -> bool {
            self.state.lock().unwrap().broken.contains(&b)
        }

        /// Arms a controller crash before the `n`th failover mutation from now (n ≥ 1).
        pub fn crash_before_mutation(&self, n: u64) {
            let mut s = self.state.lock().unwrap();
            s.armed_at = s.mutations;
            s.crash_at = Some(n.max(1));
        }

        /// Failover mutations seen so far.
        pub fn mutations(&self) -> u64 {
            self.state.lock().unwrap().mutations
        }

        /// True once (per arming) when the controller reached the armed crash point.
        pub fn take_crash_request(&self) -> bool {
            std::mem::take(&mut self.state.lock().unwrap().crash_requested)
        }

        /// Called before each mutation of a failover. At the armed point it never returns:
        /// the controller stops there, and the harness crashes its host.
        pub async fn mutation(&self, step: &'static str) {
            let crash = {
                let mut s = self.state.lock().unwrap();
                s.mutations += 1;
                let due = s.crash_at.is_some_and(|n| s.mutations - s.armed_at == n);
                if due {
                    s.crash_at = None;
                    s.crash_requested = true;
                }
                due
            };
            if crash {
                tracing::warn!(step, "fault hook: controller crash before this mutation");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(feature = "fault-hooks")]
pub use enabled::FaultHooks;

/// Without the feature: nothing to break, nothing to wait for.
#[cfg(not(feature = "fault-hooks"))]
#[derive(Clone, Copy, Default)]
pub struct FaultHooks;

#[cfg(not(feature = "fault-hooks"))]
impl FaultHooks {
    #[inline(always)]
    pub fn broken(&self, _: Broken) -> bool {
        false
    }

    #[inline(always)]
    pub async fn mutation(&self, _step: &'static str) {}
}
