//! DF (spec §7): at the end exactly one Dragonfly master is up, on the expected site (the
//! MySQL active site unless the scenario says otherwise), and the status agrees; when the
//! scenario expects `sessions_preserved`, the planned failover reports it, and (when true)
//! every session key acknowledged before the first fault is on the final master.

use std::collections::BTreeSet;

use super::{Input, Verdict};
use crate::trace::EventKind;

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
                keys,
            } => truth.push((site.clone(), *up, role.clone(), keys.clone())),
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
    let masters: Vec<&(String, bool, String, Vec<String>)> =
        truth.iter().filter(|t| t.1 && t.2 == "master").collect();
    let mut problems = vec![];
    if masters.len() != 1 || masters[0].0 != expected {
        problems.push(format!(
            "expected one Dragonfly master on {expected:?}, found {:?}",
            masters.iter().map(|m| &m.0).collect::<Vec<_>>()
        ));
    }
    let claimed = status["dragonfly"]["activeSite"]
        .as_str()
        .unwrap_or_default();
    if claimed != expected {
        problems.push(format!(
            "status.dragonfly.activeSite is {claimed:?}, expected {expected:?}"
        ));
    }
    let mut figure = format!("master {}", masters.first().map_or("-", |m| m.0.as_str()));
    if let Some(want) = e.sessions_preserved {
        let got = status["plannedFailover"]["dragonfly"]["sessionsPreserved"].as_bool();
        if got != Some(want) {
            problems.push(format!(
                "plannedFailover.dragonfly.sessionsPreserved is {got:?}, expected {want}"
            ));
        }
        if want {
            let held: BTreeSet<&String> = masters
                .first()
                .map(|m| m.3.iter().collect())
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
