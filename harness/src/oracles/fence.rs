//! FENCE: the sidecar's self-fencing. (a) an isolated writable primary goes read-only
//! within H of losing the controller and every peer; (b) a writable site that can hear the
//! controller or a peer goes read-only within F1 of activeSite naming another site; (c) the sidecar never fences a
//! read-only instance outside its startup safety net; (d) it unfences only in the safety
//! net, after the controller named its site; (e) it never fences on the lease before the
//! lease has run out, i.e. without a long enough isolation.
//!
//! Who sent a statement: the sidecar and a human both connect as `root`. A `root`
//! statement right after a `rogue-unfence` or `manual-fence` fault event (same instant)
//! is the human's; the
//! sidecar's own log line before a statement says which part of it acted ("sidecar
//! starting" … safety net, "SELF-FENC…" monitor, "safety net: this is the active site" the
//! only unfence).

use std::collections::BTreeMap;
use std::time::Duration;

use super::truth::{fmt_secs, is_any_unfence, is_fence, Writability};
use super::{Input, Verdict};
use crate::scenario::{TimedFault, CONTROLLER_RESTART_DOWN, SIDECAR_KILL_DOWN};
use crate::trace::{Event, EventKind};
use crate::world::SIDECAR_SQL_USER;

/// What the sidecar of a site last logged about its own actions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Phase {
    /// Booting: the startup safety net fences first.
    SafetyNet,
    /// The safety net was told this site is active and clears read_only.
    SafetyUnfence,
    /// The monitor decided to self-fence.
    SelfFence,
}

/// A `root` statement changing read_only, attributed.
#[derive(Clone, Debug, PartialEq)]
pub struct RootAct {
    pub at_ms: u64,
    pub site: String,
    pub fence: bool,
    /// The instance was already read-only before this statement.
    pub was_read_only: bool,
    /// `None`: a human (rogue-unfence), else the sidecar phase that sent it.
    pub phase: Option<Phase>,
}

/// Attributes every successful `root` fence or unfence in the trace.
pub fn root_acts(input: &Input) -> Vec<RootAct> {
    let mut phase: BTreeMap<String, Phase> = BTreeMap::new();
    // Per site: read_only now, read_only before the last change, index of the last change.
    let mut ro: BTreeMap<String, (bool, bool, usize)> = BTreeMap::new();
    let mut human: Option<(u64, String)> = None;
    let mut out = vec![];
    for (i, e) in input.events.iter().enumerate() {
        match &e.kind {
            EventKind::Log { host, msg, .. } => {
                let Some(site) = input.site_of_host(host) else {
                    continue;
                };
                let p = if msg.starts_with("sidecar starting") {
                    Phase::SafetyNet
                } else if msg.starts_with("safety net: this is the active site") {
                    Phase::SafetyUnfence
                } else if msg.starts_with("SELF-FENC") {
                    Phase::SelfFence
                } else {
                    continue;
                };
                phase.insert(site, p);
            }
            EventKind::MysqlState {
                site, read_only, ..
            } => {
                let before = ro.get(site).map_or(*read_only, |s| s.0);
                ro.insert(site.clone(), (*read_only, before, i));
            }
            EventKind::Fault { op, detail, .. }
                if op == "rogue-unfence" || op == "manual-fence" =>
            {
                human = Some((e.at_ms, detail.clone()));
            }
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == SIDECAR_SQL_USER => {
                let fence = is_fence(sql);
                if !fence && !is_any_unfence(sql) {
                    continue;
                }
                let was_read_only = match ro.get(site) {
                    Some((_, before, at)) if *at + 1 == i => *before,
                    Some((now, _, _)) => *now,
                    None => false,
                };
                let by_human = human
                    .as_ref()
                    .is_some_and(|(t, s)| *t == e.at_ms && s == site);
                out.push(RootAct {
                    at_ms: e.at_ms,
                    site: site.clone(),
                    fence,
                    was_read_only,
                    phase: if by_human {
                        None
                    } else {
                        Some(phase.get(site).copied().unwrap_or(Phase::SafetyNet))
                    },
                });
            }
            _ => {}
        }
    }
    out
}

/// The sidecar's log line when it fences on rule 2 (controller and every peer lost).
const LEASE_FENCE_LOG: &str = "SELF-FENCING: Bloodraven and every peer unreachable";

/// Intervals `[start, end)` in ms during which `site` could reach neither the controller
/// nor any peer's sidecar, from the scenario's faults (`end` = end of run if never healed).
pub fn isolation(input: &Input, site: &str) -> Vec<(u64, u64)> {
    let s = input.scenario;
    let sites: Vec<String> = s
        .scenario
        .topology
        .sites
        .iter()
        .map(|x| x.name.clone())
        .collect();
    let end = s.duration.as_millis() as u64;
    // (time, entity pair cut or healed / entity down or up, +1 or -1)
    let mut changes: Vec<(u64, Change, i32)> = vec![];
    let ms = |d: Duration| d.as_millis() as u64;
    for f in &s.faults {
        let TimedFault { at, heal_at, .. } = f;
        let mut span = |c: Change, until: Option<Duration>| {
            changes.push((ms(*at), c.clone(), 1));
            if let Some(u) = until {
                changes.push((ms(u), c, -1));
            }
        };
        match f.op.as_str() {
            "node-down" | "site-down" => span(Change::Down(f.site.clone()), *heal_at),
            // The sidecar is back with the pod, 5s after the crash.
            "crash" => span(
                Change::Down(f.site.clone()),
                Some(*at + Duration::from_secs(5)),
            ),
            "sidecar-kill" => span(
                Change::Down(f.site.clone()),
                Some(*at + f.down.unwrap_or(SIDECAR_KILL_DOWN)),
            ),
            "controller-restart" => span(
                Change::Down("controller".into()),
                Some(*at + f.down.unwrap_or(CONTROLLER_RESTART_DOWN)),
            ),
            // The controller runs but no sidecar can reach its aux endpoints.
            "aux-unready" => span(Change::Down("controller".into()), *heal_at),
            "partition" => {
                for other in sites
                    .iter()
                    .filter(|x| **x != f.site)
                    .cloned()
                    .chain(["controller".to_string()])
                {
                    span(Change::Cut(f.site.clone(), other), *heal_at);
                }
            }
            "partition-pair" => {
                let peer = f.peer.clone().unwrap_or_default();
                span(Change::Cut(f.site.clone(), peer), *heal_at);
            }
            _ => {}
        }
    }
    changes.sort_by_key(|c| c.0);
    let mut state: BTreeMap<Change, i32> = BTreeMap::new();
    let isolated = |state: &BTreeMap<Change, i32>| {
        let on = |c: Change| state.get(&c).copied().unwrap_or(0) > 0;
        let reach = |other: &str| {
            !on(Change::Down(other.to_string()))
                && !on(Change::Cut(site.to_string(), other.to_string()))
                && !on(Change::Cut(other.to_string(), site.to_string()))
        };
        !on(Change::Down(site.to_string()))
            && !reach("controller")
            && sites.iter().filter(|x| *x != site).all(|x| !reach(x))
    };
    let mut out = vec![];
    let mut since: Option<u64> = None;
    let mut i = 0;
    while i < changes.len() {
        let t = changes[i].0;
        while i < changes.len() && changes[i].0 == t {
            *state.entry(changes[i].1.clone()).or_insert(0) += changes[i].2;
            i += 1;
        }
        match (isolated(&state), since) {
            (true, None) => since = Some(t),
            (false, Some(s)) => {
                out.push((s, t));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push((s, end));
    }
    out
}

/// Intervals `[start, end)` in ms during which `site`'s sidecar is not running (pod down,
/// crashed until the kubelet restarts it, or the sidecar killed).
pub fn sidecar_down(input: &Input, site: &str) -> Vec<(u64, u64)> {
    let s = input.scenario;
    let end = s.duration.as_millis() as u64;
    let ms = |d: Duration| d.as_millis() as u64;
    s.faults
        .iter()
        .filter(|f| f.site == site)
        .filter_map(|f| {
            let until = match f.op.as_str() {
                "node-down" | "site-down" => f.heal_at.map_or(end, ms),
                "crash" => ms(f.at + Duration::from_secs(5)),
                "sidecar-kill" => ms(f.at + f.down.unwrap_or(SIDECAR_KILL_DOWN)),
                _ => return None,
            };
            Some((ms(f.at), until))
        })
        .collect()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Down(String),
    Cut(String, String),
}

/// H: the expectation's `fence_within`, else leaseTimeout + peerCheckInterval + 5s.
pub fn horizon(input: &Input) -> Duration {
    if let Some(h) = input.scenario.fence_within {
        return h;
    }
    let spec = super::effective_spec(input);
    let lease = bloodraven::duration::parse(&spec.sidecar.lease_timeout).unwrap_or_default();
    let peer = bloodraven::duration::parse(&spec.sidecar.peer_check_interval).unwrap_or_default();
    lease + peer + Duration::from_secs(5)
}

fn writable_at(events: &[Event], site: &str, t: u64) -> bool {
    let mut w = Writability::default();
    for e in events.iter().take_while(|e| e.at_ms <= t) {
        w.apply(e);
    }
    w.writable(site)
}

pub fn sidecar_fencing(input: &Input) -> Verdict {
    let h = horizon(input).as_millis() as u64;
    let mut violations = vec![];
    let mut measured = vec![];
    let mut healed_first = 0;
    // (a) isolated writable primaries go read-only within H.
    for site in input
        .scenario
        .scenario
        .topology
        .sites
        .iter()
        .map(|s| s.name.clone())
    {
        for (start, end) in isolation(input, &site) {
            if !writable_at(input.events, &site, start) {
                continue;
            }
            let mut w = Writability::default();
            let mut fenced_at = None;
            for e in input.events {
                w.apply(e);
                if e.at_ms > start && !w.writable(&site) {
                    fenced_at = Some(e.at_ms);
                    break;
                }
            }
            match fenced_at {
                Some(t) if t <= start + h => {
                    measured.push(format!("{site} after {}", fmt_secs(t - start)))
                }
                _ if end < start + h => healed_first += 1,
                other => violations.push(format!(
                    "{site} isolated at {} while writable, still writable at {} (H {}){}",
                    fmt_secs(start),
                    fmt_secs(start + h),
                    fmt_secs(h),
                    other
                        .map(|t| format!("; read-only only at {}", fmt_secs(t)))
                        .unwrap_or_default()
                )),
            }
        }
    }
    // (b) a writable site whose sidecar can hear the controller or a peer is read-only
    // within F1 = peerCheckInterval + 4s (+0.5s status sampling) of activeSite naming
    // another site.
    let spec = super::effective_spec(input);
    let f1 = bloodraven::duration::parse(&spec.sidecar.peer_check_interval)
        .unwrap_or_default()
        .as_millis() as u64
        + 4_500;
    let sites: Vec<String> = input
        .scenario
        .scenario
        .topology
        .sites
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let excused: BTreeMap<String, Vec<(u64, u64)>> = sites
        .iter()
        .map(|x| {
            let mut v = isolation(input, x);
            v.extend(sidecar_down(input, x));
            (x.clone(), v)
        })
        .collect();
    let mut w = Writability::default();
    let mut foreign: BTreeMap<String, u64> = BTreeMap::new();
    let run_end = input.scenario.duration.as_millis() as u64;
    let late = |x: &str, since: u64, now: u64, violations: &mut Vec<String>| {
        let excused = excused[x].iter().any(|(s, t)| *s < now && *t > since);
        if !excused {
            violations.push(format!(
                "{x} still writable at {}, {} after activeSite named another site (F1 {})",
                fmt_secs(since + f1),
                fmt_secs(f1),
                fmt_secs(f1)
            ));
        }
    };
    for e in input.events {
        // Judged on the state before this event: was x writable past its deadline?
        for (x, since) in foreign.iter_mut() {
            if w.writable(x) && e.at_ms > *since + f1 {
                late(x, *since, e.at_ms, &mut violations);
                *since = u64::MAX / 2; // once per episode
            }
        }
        w.apply(e);
        if let EventKind::ActiveSite { site: active } = &e.kind {
            foreign.retain(|x, _| x != active && !active.is_empty());
            if !active.is_empty() {
                for x in sites.iter().filter(|x| *x != active) {
                    foreign.entry(x.clone()).or_insert(e.at_ms);
                }
            }
        }
        for (x, since) in foreign.iter_mut() {
            if !w.writable(x) {
                // Read-only (or down): the clock restarts if it turns writable again.
                *since = e.at_ms;
            }
        }
    }
    for (x, since) in &foreign {
        if w.writable(x) && run_end > *since + f1 {
            late(x, *since, run_end, &mut violations);
        }
    }
    // (e) never before the lease: a lease fence ("every peer unreachable") at t needs an
    // isolation that began by t - (lease - peerCheckInterval) (the last contact is at most
    // one check interval before the isolation began; 1s slack for the request itself).
    let lease = bloodraven::duration::parse(&spec.sidecar.lease_timeout)
        .unwrap_or_default()
        .as_millis() as u64;
    let peer_check = bloodraven::duration::parse(&spec.sidecar.peer_check_interval)
        .unwrap_or_default()
        .as_millis() as u64;
    let earliest_after_isolation = lease.saturating_sub(peer_check + 1_000);
    for e in input.events {
        let EventKind::Log { host, msg, .. } = &e.kind else {
            continue;
        };
        if !msg.starts_with(LEASE_FENCE_LOG) {
            continue;
        }
        let Some(site) = input.site_of_host(host) else {
            continue;
        };
        let covered = isolation(input, &site).iter().any(|(start, end)| {
            start + earliest_after_isolation <= e.at_ms && *end + peer_check + 4_000 >= e.at_ms
        });
        if !covered {
            violations.push(format!(
                "at {}: {site}'s sidecar fenced on the lease without having been isolated for \
                 at least the lease ({}) minus one check interval",
                fmt_secs(e.at_ms),
                fmt_secs(lease)
            ));
        }
    }
    // (c) and (d).
    for act in root_acts(input) {
        let at = fmt_secs(act.at_ms);
        match (act.fence, act.phase) {
            (true, Some(Phase::SelfFence)) if act.was_read_only => violations.push(format!(
                "at {at}: the sidecar self-fenced {}, which was already read-only",
                act.site
            )),
            (false, Some(Phase::SafetyNet | Phase::SelfFence)) => violations.push(format!(
                "at {at}: the sidecar unfenced {} outside its safety net",
                act.site
            )),
            _ => {}
        }
    }
    if healed_first > 0 {
        measured.push(format!("{healed_first} isolation(s) healed within H"));
    }
    let figure = if measured.is_empty() {
        format!("no isolated writer (H {})", fmt_secs(h))
    } else {
        format!("{} (H {})", measured.join(", "), fmt_secs(h))
    };
    match violations.first() {
        None => Verdict::new(
            "FENCE",
            true,
            figure,
            "isolated writers fenced in time; no fence of a read-only instance; unfence only in the safety net",
        ),
        Some(_) => Verdict::new("FENCE", false, figure, violations.join("; ")),
    }
}
