//! Safety properties: SW, DNS-W, NOFO before the fault, NDA.

use std::collections::BTreeSet;

use bloodraven::gtid::GtidSet;

use super::truth::{fmt_secs, is_unfence, promotions, Executed, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

/// SW: no two different sites each commit an acknowledged client write inside one
/// interval where both are writable.
pub fn single_writer(input: &Input) -> Verdict {
    let acked: BTreeSet<u64> = input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ack { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let mut w = Writability::default();
    let mut dual_since: Option<u64> = None;
    let mut dual_ms = 0u64;
    let mut writers_in_interval: BTreeSet<String> = BTreeSet::new();
    let mut violations = vec![];
    for e in input.events {
        w.apply(e);
        let dual = w.writers().len() >= 2;
        match (dual, dual_since) {
            (true, None) => {
                dual_since = Some(e.at_ms);
                writers_in_interval.clear();
            }
            (false, Some(start)) => {
                dual_ms += e.at_ms - start;
                dual_since = None;
            }
            _ => {}
        }
        if let (
            Some(_),
            EventKind::Commit {
                site,
                row: Some(id),
                replicated: false,
                ..
            },
        ) = (dual_since, &e.kind)
        {
            if acked.contains(id) {
                writers_in_interval.insert(site.clone());
                if writers_in_interval.len() >= 2 {
                    violations.push(format!(
                        "at {}: acked writes on {} inside one dual-writer interval",
                        fmt_secs(e.at_ms),
                        writers_in_interval
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ));
                }
            }
        }
    }
    if let (Some(start), Some(last)) = (dual_since, input.events.last()) {
        dual_ms += last.at_ms.saturating_sub(start);
    }
    let figure = format!("{} with two writers", fmt_secs(dual_ms));
    match violations.first() {
        None => Verdict::new(
            "SW",
            true,
            figure,
            "never two sites acknowledging writes at once",
        ),
        Some(first) => Verdict::new(
            "SW",
            false,
            figure,
            format!("{} violation(s); first {first}", violations.len()),
        ),
    }
}

/// DNS-W: every DNS change names a candidate that the controller had read writable
/// within 5s (plus the external-dns delay) and that is writable in ground truth.
pub fn dns_to_confirmed_writer(input: &Input) -> Verdict {
    const WINDOW_MS: u64 = 6_000;
    let candidates = input.candidates();
    let mut w = Writability::default();
    let mut last_writable_at: std::collections::BTreeMap<String, u64> = Default::default();
    let mut last_probe_writable: std::collections::BTreeMap<String, u64> = Default::default();
    let (mut changes, mut races) = (0, 0);
    let mut violations = vec![];
    for e in input.events {
        w.apply(e);
        for s in w.writers() {
            last_writable_at.insert(s, e.at_ms);
        }
        match &e.kind {
            EventKind::ReadOnlyProbe {
                site,
                user,
                read_only: false,
            } if user == crate::world::CONTROLLER_SQL_USER => {
                last_probe_writable.insert(site.clone(), e.at_ms);
            }
            EventKind::Dns { target: Some(site) } => {
                changes += 1;
                let at = fmt_secs(e.at_ms);
                if !candidates.contains(site) {
                    violations.push(format!(
                        "at {at}: DNS names {site}, which is not a primary-candidate"
                    ));
                    continue;
                }
                let probed = last_probe_writable
                    .get(site)
                    .is_some_and(|t| e.at_ms - t <= WINDOW_MS);
                if !probed {
                    violations.push(format!("at {at}: DNS names {site} without a controller read of read_only=0 in the previous 6s"));
                    continue;
                }
                if !w.writable(site) {
                    if last_writable_at
                        .get(site)
                        .is_some_and(|t| e.at_ms - t < 5_000)
                    {
                        races += 1;
                    } else {
                        violations.push(format!(
                            "at {at}: DNS names {site}, which is read-only or down"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let figure = format!("{changes} DNS change(s), {races} race(s)");
    match violations.first() {
        None => Verdict::new(
            "DNS-W",
            true,
            figure,
            "DNS only ever named a confirmed writer",
        ),
        Some(first) => Verdict::new("DNS-W", false, figure, first.clone()),
    }
}

/// NOFO before the first fault: no promotion, no fence of the active site by the
/// controller, and activeSite never names another site.
pub fn no_failover_before_fault(input: &Input) -> Verdict {
    let t0 = input.t0_ms();
    let active = &input.scenario.scenario.topology.active;
    let mut violations = vec![];
    for e in input.events.iter().filter(|e| e.at_ms < t0) {
        match &e.kind {
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == crate::world::CONTROLLER_SQL_USER => {
                let lower = sql.to_ascii_lowercase().replace(' ', "");
                if is_unfence(sql) {
                    violations.push(format!(
                        "at {}: controller unfenced {site}",
                        fmt_secs(e.at_ms)
                    ));
                } else if site == active && lower.contains("super_read_only=on") {
                    violations.push(format!(
                        "at {}: controller fenced the active site {site}",
                        fmt_secs(e.at_ms)
                    ));
                }
            }
            EventKind::ActiveSite { site } if !site.is_empty() && site != active => {
                violations.push(format!("at {}: activeSite named {site}", fmt_secs(e.at_ms)));
            }
            _ => {}
        }
    }
    let figure = format!("until {}", fmt_secs(t0));
    match violations.first() {
        None => Verdict::new(
            "NOFO-PRE",
            true,
            figure,
            "no failover activity before the first fault",
        ),
        Some(first) => Verdict::new("NOFO-PRE", false, figure, first.clone()),
    }
}

/// NDA: (1) replication is only ever pointed from R at S when gtid(R) ⊆ gtid(S);
/// (3) at the end every site not contained in the primary is reported RecoveryBlocked
/// with the exact divergence and is not replicating.
pub fn no_divergent_apply(input: &Input) -> Verdict {
    let mut ex = Executed::default();
    let mut violations = vec![];
    let mut repoints = 0;
    for e in input.events {
        ex.apply(e);
        if let EventKind::ReplicationSource { site, source, .. } = &e.kind {
            let Some(src) = input.site_of_host(source) else {
                continue;
            };
            repoints += 1;
            let extra = ex.of(site).subtract(&ex.of(&src));
            if !extra.is_empty() {
                violations.push(format!(
                    "at {}: {site} pointed at {src} while holding {} transaction(s) {src} lacks ({extra})",
                    fmt_secs(e.at_ms),
                    extra.count()
                ));
            }
        }
    }
    let fin = input.fin;
    if let Some(primary) = fin.sole_writer() {
        let pset = GtidSet::parse(&primary.gtid_executed).unwrap_or_default();
        for s in fin.sites.iter().filter(|s| s.up && s.name != primary.name) {
            let set = GtidSet::parse(&s.gtid_executed).unwrap_or_default();
            let div = set.subtract(&pset);
            if div.is_empty() {
                continue;
            }
            let st = fin.status_site(&s.name);
            let blocked = st.is_some_and(|v| v["recoveryState"] == "RecoveryBlocked");
            let count = st
                .and_then(|v| v["divergentTransactionCount"].as_u64())
                .unwrap_or(0);
            if !blocked || count != div.count() {
                violations.push(format!(
                    "at the end {} holds {} divergent transaction(s) but status says recoveryState={:?}, count={count}",
                    s.name,
                    div.count(),
                    st.map(|v| v["recoveryState"].clone()).unwrap_or_default()
                ));
            }
            if s.io_running
                && input.site_of_host(&s.source_host).as_deref() == Some(primary.name.as_str())
            {
                violations.push(format!(
                    "at the end divergent {} replicates from {}",
                    s.name, primary.name
                ));
            }
        }
    }
    let figure = format!(
        "{repoints} repoint(s), {} promotion(s)",
        promotions(input.events).len()
    );
    match violations.first() {
        None => Verdict::new("NDA", true, figure, "no divergent apply"),
        Some(first) => Verdict::new("NDA", false, figure, first.clone()),
    }
}
