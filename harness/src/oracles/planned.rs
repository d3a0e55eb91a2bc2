//! Oracles of the day-2 operations (spec §4, §5):
//! - PF: the planned failover ends in the expected phase and reason; a Succeeded one lost
//!   no transaction, left its target the sole writer and every other running site on a
//!   direct replication source to it.
//! - NAL-P: no acknowledged write is lost across a planned switchover (no excuse: unlike
//!   an emergency, the source is fenced and drained before the target is promoted).
//! - RCL: a reclone request was carried out (one clone, the site recovered and replicates
//!   from the primary) or refused (no clone), with the expected number of rejections.

use std::collections::BTreeSet;

use super::truth::{fmt_secs, is_unfence, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;
use crate::world::CONTROLLER_HOST;

pub fn planned_outcome(input: &Input) -> Verdict {
    let e = &input.scenario.scenario.expect;
    let p = &input.fin.status["plannedFailover"];
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let (phase, reason, target) = (s("phase"), s("reason"), s("targetSite"));
    let figure = if reason.is_empty() {
        phase.clone()
    } else {
        format!("{phase} ({reason})")
    };
    let mut wrong = vec![];
    if let Some(want) = &e.planned_phase {
        if &phase != want {
            wrong.push(format!("phase is {phase:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &e.planned_reason {
        if &reason != want {
            wrong.push(format!("reason is {reason:?}, expected {want:?}"));
        }
    }
    if let Some(want) = &e.planned_target {
        if &target != want {
            wrong.push(format!("targetSite is {target:?}, expected {want:?}"));
        }
    }
    if phase == "Succeeded" {
        if p["transactionsLost"].as_u64() != Some(0) {
            wrong.push(format!("transactionsLost is {}", p["transactionsLost"]));
        }
        match input.fin.sole_writer() {
            Some(w) if w.name == target => {
                let host = bloodraven::crd::internal_service(input.group, &target);
                for f in input.fin.sites.iter().filter(|f| f.up && f.name != target) {
                    if f.source_host != host || !(f.io_running && f.sql_running) {
                        wrong.push(format!(
                            "follower {} replicates from {:?} (running {}), not directly from {target}",
                            f.name,
                            f.source_host,
                            f.io_running && f.sql_running
                        ));
                    }
                }
            }
            Some(w) => wrong.push(format!("the writer at the end is {}, not {target}", w.name)),
            None => wrong.push("no single writable site at the end".into()),
        }
    }
    if p.is_null() {
        wrong.push("status.plannedFailover is absent".into());
    }
    wrong.extend(target_unfenced_over_source(
        input,
        &s("sourcePrimary"),
        &target,
    ));
    Verdict::new(
        "PF",
        wrong.is_empty(),
        figure,
        if wrong.is_empty() {
            format!("plannedFailover {p}")
        } else {
            wrong.join("; ")
        },
    )
}

/// PF's protocol order: after the planned-failover annotation, the controller's first
/// unfence of the target finds the source already read-only (fenced in Draining).
fn target_unfenced_over_source(input: &Input, source: &str, target: &str) -> Option<String> {
    if source.is_empty() || target.is_empty() {
        return None;
    }
    let mut w = Writability::default();
    let mut asked = false;
    for e in input.events {
        match &e.kind {
            EventKind::Fault { op, detail, .. }
                if op == "annotate" && detail.contains("planned-failover=") =>
            {
                asked = true;
            }
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if asked
                && site == target
                && user == crate::world::CONTROLLER_SQL_USER
                && is_unfence(sql) =>
            {
                return w.writable(source).then(|| {
                    format!(
                        "at {}: target {target} unfenced while the source {source} was still writable",
                        fmt_secs(e.at_ms)
                    )
                });
            }
            _ => {}
        }
        w.apply(e);
    }
    None
}

pub fn no_acked_loss_planned(input: &Input) -> Verdict {
    let Some(primary) = input.fin.sole_writer() else {
        return Verdict::new(
            "NAL-P",
            false,
            "-",
            "no single writable site at the end: loss cannot be judged",
        );
    };
    let rows: BTreeSet<u64> = primary.rows.iter().copied().collect();
    let acked: Vec<u64> = input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ack { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let lost: Vec<u64> = acked
        .iter()
        .copied()
        .filter(|i| !rows.contains(i))
        .collect();
    let figure = format!("{} of {} acked writes lost", lost.len(), acked.len());
    if acked.is_empty() {
        return Verdict::new(
            "NAL-P",
            false,
            figure,
            "no write was acknowledged: nothing was tested",
        );
    }
    match lost.first() {
        None => Verdict::new(
            "NAL-P",
            true,
            figure,
            format!("every acked write is on {}", primary.name),
        ),
        Some(first) => Verdict::new(
            "NAL-P",
            false,
            figure,
            format!(
                "acked writes missing from {} (first id {first})",
                primary.name
            ),
        ),
    }
}

pub fn reclone_outcome(input: &Input) -> Verdict {
    let e = &input.scenario.scenario.expect;
    let site = e.reclone_site.clone().unwrap_or_default();
    let count = |pred: &dyn Fn(&str) -> bool| {
        input
            .events
            .iter()
            .filter(|ev| matches!(&ev.kind, EventKind::Log { host, msg, .. } if host == CONTROLLER_HOST && pred(msg)))
            .count()
    };
    let rejections = count(&|m| m == "reclone rejected");
    let clones = count(&|m| m.starts_with("starting bootstrap {source=reclone}"));
    let completed = count(&|m| m == "bootstrap completed successfully");
    let figure = format!("{clones} clone(s), {completed} completed, {rejections} rejected");
    let mut wrong = vec![];
    match e.reclone.as_deref() {
        Some("completed") => {
            if clones != 1 || completed != 1 {
                wrong.push("expected exactly one completed clone".to_string());
            }
            let st = input.fin.status["sites"]
                .as_array()
                .and_then(|ss| ss.iter().find(|s| s["name"] == site.as_str()).cloned())
                .unwrap_or_default();
            if st["recoveryState"].as_str().is_some_and(|r| !r.is_empty()) {
                wrong.push(format!("{site} still reports {}", st["recoveryState"]));
            }
            let writer = input.fin.sole_writer().map(|w| w.name.clone());
            let truth = input.fin.sites.iter().find(|s| s.name == site);
            match (writer, truth) {
                (Some(w), Some(t)) => {
                    let host = bloodraven::crd::internal_service(input.group, &w);
                    if t.source_host != host || !(t.io_running && t.sql_running) {
                        wrong.push(format!("{site} does not replicate from the primary {w}"));
                    }
                }
                _ => wrong.push("no single writer, or the site is unknown".into()),
            }
        }
        Some("rejected") => {
            if clones != 0 {
                wrong.push(format!("{clones} clone(s) ran, expected none"));
            }
            if rejections == 0 {
                wrong.push("no rejection".into());
            }
        }
        other => wrong.push(format!("expect.reclone is {other:?}")),
    }
    if let Some(n) = e.reclone_rejections {
        if rejections != n as usize {
            wrong.push(format!("{rejections} rejection(s), expected {n}"));
        }
    }
    Verdict::new(
        "RCL",
        wrong.is_empty(),
        figure,
        if wrong.is_empty() {
            format!(
                "reclone of {site} {}",
                e.reclone.clone().unwrap_or_default()
            )
        } else {
            wrong.join("; ")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracles::{judge, Final, SiteTruth};
    use crate::scenario::parse;
    use crate::trace::Event;

    fn scenario(expect: &str) -> crate::scenario::Loaded {
        parse(
            "t.toml",
            &format!(
                "id = \"t\"\ndescription = \"synthetic\"\nduration = \"100s\"\n[topology]\nsites = [{{ name = \"a\" }}, {{ name = \"b\" }}, {{ name = \"c\" }}]\nactive = \"a\"\n[expect]\n{expect}\n"
            ),
        )
        .unwrap()
    }

    fn verdict(expect: &str, events: &[Event], fin: &Final) -> Verdict {
        let s = scenario(expect);
        judge(&Input {
            events,
            fin,
            scenario: &s,
            group: "demo",
        })
        .remove(0)
    }

    fn site(name: &str, writer: bool, source: &str, rows: &[u64]) -> SiteTruth {
        SiteTruth {
            name: name.into(),
            up: true,
            read_only: !writer,
            rows: rows.to_vec(),
            source_host: if source.is_empty() {
                String::new()
            } else {
                format!("mysql-demo-{source}-internal")
            },
            io_running: !source.is_empty(),
            sql_running: !source.is_empty(),
            ..Default::default()
        }
    }

    fn switched(b_source_of_c: &str, lost: u64) -> Final {
        Final {
            sites: vec![
                site("a", false, "b", &[1, 2]),
                site("b", true, "", &[1, 2]),
                site("c", false, b_source_of_c, &[1, 2]),
            ],
            status: serde_json::json!({"plannedFailover": {
                "phase": "Succeeded", "targetSite": "b", "transactionsLost": lost}}),
            dns_target: Some("b".into()),
        }
    }

    const PF: &str = "properties = [\"PF\"]\nplanned_phase = \"Succeeded\"\nplanned_target = \"b\"";

    #[test]
    fn pf_passes_a_clean_switchover_and_flags_indirect_followers_and_losses() {
        assert!(verdict(PF, &[], &switched("b", 0)).pass);
        let v = verdict(PF, &[], &switched("a", 0));
        assert!(!v.pass && v.detail.contains("follower c"), "{v:?}");
        let v = verdict(PF, &[], &switched("b", 2));
        assert!(!v.pass && v.detail.contains("transactionsLost"), "{v:?}");
        let mut fin = switched("b", 0);
        fin.status["plannedFailover"]["phase"] = "Failed".into();
        fin.status["plannedFailover"]["reason"] = "LagTimeout".into();
        let v = verdict(PF, &[], &fin);
        assert!(!v.pass && v.figure == "Failed (LagTimeout)", "{v:?}");
        let want_failed =
            "properties = [\"PF\"]\nplanned_phase = \"Failed\"\nplanned_reason = \"LagTimeout\"";
        assert!(verdict(want_failed, &[], &fin).pass);
        let absent = Final::default();
        assert!(!verdict(want_failed, &[], &absent).pass);
    }

    fn ack(at_ms: u64, id: u64) -> Event {
        Event {
            at_ms,
            kind: EventKind::Ack {
                id,
                site: "a".into(),
                server_uuid: "u".into(),
                gtid: format!("u:{id}").into(),
            },
        }
    }

    #[test]
    fn nal_p_flags_any_lost_ack_and_an_empty_run() {
        let fin = switched("b", 0);
        let p = "properties = [\"NAL-P\"]";
        assert!(verdict(p, &[ack(1, 1), ack(2, 2)], &fin).pass);
        let v = verdict(p, &[ack(1, 1), ack(2, 2), ack(3, 3)], &fin);
        assert!(!v.pass && v.figure == "1 of 3 acked writes lost", "{v:?}");
        assert!(!verdict(p, &[], &fin).pass, "no writes: nothing tested");
    }

    fn log(msg: &str) -> Event {
        Event {
            at_ms: 1,
            kind: EventKind::Log {
                host: CONTROLLER_HOST.into(),
                level: "INFO".into(),
                msg: msg.into(),
            },
        }
    }

    #[test]
    fn rcl_tells_a_completed_clone_from_a_rejection() {
        let done = "properties = [\"RCL\"]\nreclone = \"completed\"\nreclone_site = \"c\"";
        let rejected = "properties = [\"RCL\"]\nreclone = \"rejected\"\nreclone_site = \"c\"\nreclone_rejections = 2";
        let fin = switched("b", 0);
        let cloned = [
            log("starting bootstrap {source=reclone}"),
            log("bootstrap completed successfully"),
        ];
        assert!(verdict(done, &cloned, &fin).pass);
        assert!(!verdict(done, &[], &fin).pass, "no clone happened");
        assert!(
            !verdict(done, &cloned, &switched("a", 0)).pass,
            "c not on the primary"
        );
        let refused = [log("reclone rejected"), log("reclone rejected")];
        assert!(verdict(rejected, &refused, &fin).pass);
        assert!(
            !verdict(rejected, &refused[..1], &fin).pass,
            "count differs"
        );
        let mut both = refused.to_vec();
        both.extend(cloned);
        assert!(!verdict(rejected, &both, &fin).pass, "a clone ran");
    }
}
