//! Executes a k3d plan and watches the cluster: the fault steps run on their own thread at
//! their times while this thread samples the cluster about once a second ([`super::sample`]).
//! The samples become the same trace events the simulator records, so the same oracles
//! judge. Wall time is fine here: a cluster run is an observation, not a reproducible
//! simulation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use super::cluster::{kubectl, run_cmd, site_truth, unix_ms};
use super::plan::{Plan, GROUP, SITES};
use super::sample::{pod_logs, push, Clock, Events, Observer};
use crate::oracles::{self, Final, Input, SiteTruth};
use crate::report::{timeline, Report};
use crate::scenario::Loaded;
use crate::trace::{hash_events, EventKind};

const SAMPLE_EVERY: Duration = Duration::from_secs(1);

pub fn execute(
    loaded: &Loaded,
    plan: &Plan,
    judged: &[String],
    not_judged: &[(String, String)],
) -> anyhow::Result<Report> {
    for c in &plan.precheck {
        run_cmd(&plan.context, c).map_err(|e| anyhow::anyhow!("precheck failed: {e}"))?;
    }
    let active = kubectl(
        &plan.context,
        &[
            "get",
            &format!("mfg/{GROUP}"),
            "-o",
            "jsonpath={.status.activeSite}",
        ],
    )
    .map_err(|e| anyhow::anyhow!("reading the group: {e}"))?;
    if active != loaded.scenario.topology.active {
        bail!(
            "the group's activeSite is {active:?}, the scenario starts with {:?} active (playground/reset-mysql.sh resets the playground)",
            loaded.scenario.topology.active
        );
    }
    let clock = Clock {
        start: Instant::now(),
        start_unix_ms: unix_ms(),
    };
    let events: Events = Arc::default();
    let wall = Instant::now();
    let (fin, result) = std::thread::scope(|s| {
        let injector = s.spawn(|| {
            for step in &plan.steps {
                let wait = step.at.saturating_sub(clock.start.elapsed());
                std::thread::sleep(wait);
                push(
                    &events,
                    clock.at_ms(),
                    EventKind::Fault {
                        op: step.op.clone(),
                        detail: step.detail.clone(),
                        heal: step.heal,
                    },
                );
                for c in &step.cmds {
                    if let Err(e) = run_cmd(&plan.context, c) {
                        return Err(anyhow::anyhow!("step {:?} failed: {e}", step.label));
                    }
                }
            }
            Ok(())
        });
        let mut obs = Observer {
            context: &plan.context,
            clock: &clock,
            events: events.clone(),
            last_state: BTreeMap::new(),
            last_active: None,
            last_dns: None,
            ack_cursor: 0,
            ids: None,
            log_cursor: BTreeMap::new(),
        };
        while clock.start.elapsed() < plan.duration {
            let tick = Instant::now();
            obs.sample();
            if injector.is_finished() && plan.steps.iter().any(|st| st.at > clock.start.elapsed()) {
                break; // a step failed early; stop observing
            }
            std::thread::sleep(SAMPLE_EVERY.saturating_sub(tick.elapsed()));
        }
        let injected = injector.join().expect("the injector thread panicked");
        let fin_sites: Vec<SiteTruth> = SITES
            .iter()
            .map(|s| site_truth(&plan.context, s, obs.ids))
            .collect();
        let status = kubectl(
            &plan.context,
            &["get", &format!("mfg/{GROUP}"), "-o", "json"],
        )
        .ok()
        .and_then(|o| serde_json::from_str::<Value>(&o).ok())
        .map(|v| v["status"].clone())
        .unwrap_or(Value::Null);
        let fin = Final {
            sites: fin_sites,
            status,
            dns_target: obs.last_dns.clone().flatten(),
        };
        (fin, injected)
    });
    for c in &plan.cleanup {
        if let Err(e) = run_cmd(&plan.context, c) {
            eprintln!("warning: cleanup command failed: {e}");
        }
    }
    result.context("running the plan")?;
    pod_logs(
        &plan.context,
        &clock,
        &events,
        &["deploy/bloodraven"],
        crate::world::CONTROLLER_HOST,
    );
    for site in SITES {
        let deploy = format!("deploy/mysql-{GROUP}-{site}");
        let host = bloodraven::crd::internal_service(GROUP, site);
        pod_logs(
            &plan.context,
            &clock,
            &events,
            &[&deploy, "-c", "sidecar"],
            &host,
        );
    }
    let mut events = events.lock().unwrap().clone();
    events.sort_by_key(|e| e.at_ms);
    let mut judged_scenario = loaded.clone();
    judged_scenario.scenario.expect.properties = judged.to_vec();
    let verdicts = oracles::judge(&Input {
        events: &events,
        fin: &fin,
        scenario: &judged_scenario,
        group: GROUP,
    });
    let count = |f: fn(&EventKind) -> bool| events.iter().filter(|e| f(&e.kind)).count() as u64;
    let mut description = loaded.scenario.description.clone();
    if !not_judged.is_empty() {
        description.push_str(&format!(
            " (k3d: not judged {})",
            not_judged
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Report {
        pass: verdicts.iter().all(|v| v.pass),
        description,
        verdicts,
        trace_hash: hash_events(&events),
        acked_writes: count(|k| matches!(k, EventKind::Ack { .. })),
        failed_writes: count(|k| matches!(k, EventKind::WriteError { .. })),
        virtual_seconds: wall.elapsed().as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        replay: format!(
            "cargo run -p chaos -- run {} --target k3d --context {}",
            loaded.scenario.id, plan.context
        ),
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        timeline: timeline(&events),
        final_state: fin,
        events,
        scenario: loaded.scenario.id.clone(),
        seed: 0,
        target: "k3d".into(),
    })
}
