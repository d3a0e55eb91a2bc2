//! DF (spec §7): at the end exactly one Dragonfly master serves (is up and selected by the
//! active Service), on the expected site (the MySQL active site unless the scenario says
//! otherwise), and the status agrees. Any other master still up (a stale master back
//! from a partition, spec §7.2) must carry no traffic and be reported by the status as
//! `stale-master` or `unreachable`. When the
//! scenario expects `sessions_preserved`, the planned failover reports it, and (when true)
//! every session key acknowledged before the first fault is on the final master.

use std::collections::BTreeSet;

use super::{Input, Verdict};
use crate::trace::EventKind;

/// One site's Dragonfly at the end of the run.
struct Truth {
    site: String,
    up: bool,
    master: bool,
    serving: bool,
    keys: Vec<String>,
}

pub fn dragonfly(input: &Input) -> Verdict {
    let e = &input.scenario.scenario.expect;
    let status = &input.fin.status;
    let mut truth = vec![];
    let mut acked = vec![];
    let t0 = input.t0_ms();
    for ev in input.events {
        match &ev.kind {
            EventKind::DragonflyTruth {
                site,
                up,
                role,
                serving,
                keys,
            } => truth.push(Truth {
                site: site.clone(),
                up: *up,
                master: role == "master",
                serving: *serving,
                keys: keys.clone(),
            }),
            EventKind::SessionAck { key, .. } if ev.at_ms < t0 => acked.push(key.clone()),
            _ => {}
        }
    }
    if truth.is_empty() {
        return Verdict::new(
            "DF",
            false,
            "-",
            "no Dragonfly truth in the trace (was Dragonfly enabled?)",
        );
    }
    let expected = e.dragonfly_active.clone().unwrap_or_else(|| {
        status["activeSite"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    });
    let masters: Vec<&Truth> = truth.iter().filter(|t| t.up && t.master).collect();
    let (serving, stale): (Vec<&Truth>, Vec<&Truth>) = masters.iter().partition(|t| t.serving);
    let mut problems = vec![];
    if serving.len() != 1 || serving[0].site != expected {
        problems.push(format!(
            "expected one serving Dragonfly master on {expected:?}, found {:?} (masters up: {:?})",
            serving.iter().map(|m| &m.site).collect::<Vec<_>>(),
            masters.iter().map(|m| &m.site).collect::<Vec<_>>()
        ));
    }
    for t in truth.iter().filter(|t| t.serving && !(t.up && t.master)) {
        problems.push(format!(
            "the active Service selects {}'s Dragonfly, which is not an up master",
            t.site
        ));
    }
    for m in &stale {
        let reported = status["dragonfly"]["sites"]
            .as_array()
            .and_then(|ss| ss.iter().find(|s| s["name"] == m.site.as_str()))
            .and_then(|s| s["role"].as_str())
            .unwrap_or_default();
        if !matches!(reported, "stale-master" | "unreachable") {
            problems.push(format!(
                "{}'s Dragonfly is a master without traffic but the status calls it {reported:?}",
                m.site
            ));
        }
    }
    let claimed = status["dragonfly"]["activeSite"]
        .as_str()
        .unwrap_or_default();
    if claimed != expected {
        problems.push(format!(
            "status.dragonfly.activeSite is {claimed:?}, expected {expected:?}"
        ));
    }
    let mut figure = format!(
        "master {}",
        serving.first().map_or("-", |m| m.site.as_str())
    );
    if !stale.is_empty() {
        let names: Vec<&str> = stale.iter().map(|m| m.site.as_str()).collect();
        figure = format!("{figure}; stale master(s) {} stripped", names.join(","));
    }
    if let Some(want) = e.sessions_preserved {
        let got = status["plannedFailover"]["dragonfly"]["sessionsPreserved"].as_bool();
        if got != Some(want) {
            problems.push(format!(
                "plannedFailover.dragonfly.sessionsPreserved is {got:?}, expected {want}"
            ));
        }
        if want {
            let held: BTreeSet<&String> = serving
                .first()
                .map(|m| m.keys.iter().collect())
                .unwrap_or_default();
            let missing: Vec<&String> = acked.iter().filter(|k| !held.contains(k)).collect();
            figure = format!(
                "{figure}; {} of {} session keys acked before the fault kept",
                acked.len() - missing.len(),
                acked.len()
            );
            if acked.is_empty() {
                problems.push("no session key was acknowledged before the fault".into());
            }
            if !missing.is_empty() {
                problems.push(format!("session keys lost: {missing:?}"));
            }
        }
    }
    Verdict::new(
        "DF",
        problems.is_empty(),
        figure,
        if problems.is_empty() {
            format!("Dragonfly master on {expected}, status agrees")
        } else {
            problems.join("; ")
        },
    )
}
