//! The derived time bounds of SCENARIOS.md §0, from the group's effective spec.

use super::Input;

/// Probe timeout τ (spec default; the controller's SQL probes give up after it).
pub const PROBE_TIMEOUT_MS: u64 = 5_000;
/// The observer samples the apiserver every 500ms: a claim is seen up to this late.
pub const SAMPLING_MS: u64 = 500;
/// T_EG: from the last heal, a primary exists within this.
pub const EVENTUALLY_MS: u64 = 30_000;
/// B_fo for a hung primary: fault to a new writer.
pub const FAILOVER_HUNG_MS: u64 = 45_000;

pub struct Bounds {
    pub poll_ms: u64,
    pub failure_threshold: u64,
    pub cooldown_ms: u64,
}

impl Bounds {
    pub fn of(input: &Input) -> Self {
        let spec = super::effective_spec(input);
        let ms = |v: &str| {
            bloodraven::duration::parse(v)
                .unwrap_or_default()
                .as_millis() as u64
        };
        Self {
            poll_ms: ms(&spec.poll_interval),
            failure_threshold: spec.failure_threshold as u64,
            cooldown_ms: ms(&spec.failover_cooldown),
        }
    }

    /// T_det for a hung host: F·(P+τ).
    pub fn detect_hung_ms(&self) -> u64 {
        self.failure_threshold * (self.poll_ms + PROBE_TIMEOUT_MS)
    }

    /// 2P+τ: how long a claim may lag ground truth once the controller can see it.
    pub fn claim_lag_ms(&self) -> u64 {
        2 * self.poll_ms + PROBE_TIMEOUT_MS
    }
}

/// Spans `[start, end)` where `pred` holds, replaying `events` through `step` (which
/// updates the caller's state and returns whether `pred` holds after the event). A span
/// still open at the end closes at `end_ms`.
pub fn spans<S>(
    events: &[crate::trace::Event],
    end_ms: u64,
    state: &mut S,
    mut step: impl FnMut(&mut S, &crate::trace::Event) -> bool,
) -> Vec<(u64, u64)> {
    let mut out = vec![];
    let mut since: Option<u64> = None;
    for e in events {
        let holds = step(state, e);
        match (holds, since) {
            (true, None) => since = Some(e.at_ms),
            (false, Some(s)) => {
                out.push((s, e.at_ms));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, end_ms.max(s)));
    }
    out
}

/// The end of the run as the oracles see it: the scenario's duration, or the last event.
pub fn end_ms(input: &Input) -> u64 {
    let d = input.scenario.duration.as_millis() as u64;
    d.max(input.events.last().map_or(0, |e| e.at_ms))
}

/// The last time any fault was injected or healed (0 with no fault).
pub fn last_fault_ms(input: &Input) -> u64 {
    input
        .events
        .iter()
        .filter(|e| matches!(e.kind, crate::trace::EventKind::Fault { .. }))
        .map(|e| e.at_ms)
        .max()
        .unwrap_or(0)
}

/// Whether the controller's published claims are frozen (not judged): the controller is
/// down, or an apiserver fault keeps it from writing.
#[derive(Default)]
pub struct Frozen {
    controller_down: bool,
    api_faults: i32,
}

impl Frozen {
    /// Replays one event; returns whether claims are frozen after it.
    pub fn apply(&mut self, e: &crate::trace::Event) -> bool {
        use crate::trace::EventKind;
        match &e.kind {
            EventKind::Host { host, up } if host == crate::world::CONTROLLER_HOST => {
                self.controller_down = !up;
            }
            EventKind::Fault { op, heal, .. }
                if op.contains("apiserver") || op.starts_with("deny") =>
            {
                self.api_faults += if *heal { -1 } else { 1 };
            }
            _ => {}
        }
        self.frozen()
    }

    pub fn frozen(&self) -> bool {
        self.controller_down || self.api_faults > 0
    }
}
