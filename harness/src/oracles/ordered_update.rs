//! UPD: the ordered update a `spec-patch` starts (spec §3.9) runs to its end. After the
//! patch, `status.updatePhase` (the `Updating` condition) engages, its phases come in the
//! spec's order (followers `UpdateReplica`/`WaitReplica`, then the handoff `Failover`, then
//! `UpdateOldPrimary`/`WaitOldPrimary`), it never reports `Failed`, it ends
//! `Updating=False/Complete`, and every site's pod was replaced (its host restarted).

use super::truth::fmt_secs;
use super::{Input, Verdict};
use crate::trace::EventKind;

const ORDER: &[&[&str]] = &[
    &["UpdateReplica", "WaitReplica"],
    &["Failover"],
    &["UpdateOldPrimary", "WaitOldPrimary"],
];

fn stage(phase: &str) -> Option<usize> {
    ORDER.iter().position(|s| s.contains(&phase))
}

pub fn ordered_update(input: &Input) -> Verdict {
    let verdict =
        |pass: bool, figure: String, detail: String| Verdict::new("UPD", pass, figure, detail);
    let Some(patched) = input.events.iter().find_map(|e| match &e.kind {
        EventKind::Fault { op, .. } if op == "spec-patch" => Some(e.at_ms),
        _ => None,
    }) else {
        return verdict(
            false,
            "-".into(),
            "no spec-patch in the run: UPD judges the update a spec-patch starts".into(),
        );
    };
    let mut phases: Vec<String> = vec![];
    let mut last = None::<String>;
    let mut violations = vec![];
    let mut reached = 0usize;
    for e in input.events.iter().filter(|e| e.at_ms >= patched) {
        let EventKind::GroupStatus(claim) = &e.kind else {
            continue;
        };
        let Some(c) = claim.conditions.iter().find(|c| c.starts_with("Updating=")) else {
            continue;
        };
        last = Some(c.clone());
        let Some(phase) = c.strip_prefix("Updating=True/") else {
            continue;
        };
        if phases.last().map(String::as_str) != Some(phase) {
            phases.push(phase.to_string());
        }
        match stage(phase) {
            Some(s) if s < reached => violations.push(format!(
                "{phase} at {} after a later phase ({})",
                fmt_secs(e.at_ms),
                phases.join(" → ")
            )),
            Some(s) => reached = s,
            None => violations.push(format!("updatePhase {phase} at {}", fmt_secs(e.at_ms))),
        }
    }
    if phases.is_empty() {
        violations.push("updatePhase never engaged after the spec-patch".into());
    }
    if last.as_deref() != Some("Updating=False/Complete") {
        violations.push(format!(
            "the update did not end Complete (last Updating condition {})",
            last.as_deref().unwrap_or("none")
        ));
    }
    for site in &input.scenario.scenario.topology.sites {
        let host = bloodraven::crd::internal_service(input.group, &site.name);
        let replaced = input.events.iter().any(|e| {
            e.at_ms >= patched
                && matches!(&e.kind, EventKind::Host { host: h, up: false } if *h == host)
        });
        if !replaced {
            violations.push(format!("{}'s pod was never replaced", site.name));
        }
    }
    let figure = if phases.is_empty() {
        "-".to_string()
    } else {
        phases.join(" → ")
    };
    match violations.is_empty() {
        true => verdict(
            true,
            figure,
            "updatePhase engaged, in order, and cleared; every pod replaced".into(),
        ),
        false => verdict(false, figure, violations.join("; ")),
    }
}
