//! Safety properties: SW, DNS-W, NOFO before the fault, NDA.

use std::collections::BTreeSet;

use bloodraven::gtid::GtidSet;

use super::fence::{root_acts, Phase};
use super::truth::{
    controller_logs, fmt_secs, is_fence, is_unfence, promotions, Executed, Writability,
};
use super::{Input, Verdict};
use crate::trace::{Event, EventKind};

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
                writers_in_interval.insert(site.to_string());
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
/// The controller's failover activity one event shows, judged against the site that should
/// stay active: an unfence, a fence of the active site, or activeSite naming another site.
fn failover_activity(e: &Event, active: &str) -> Option<String> {
    let at = fmt_secs(e.at_ms);
    match &e.kind {
        EventKind::Mutation {
            site,
            user,
            sql,
            ok: true,
        } if user == crate::world::CONTROLLER_SQL_USER => {
            if is_unfence(sql.as_str()) {
                Some(format!("at {at}: controller unfenced {site}"))
            } else if site == active && is_fence(sql.as_str()) {
                Some(format!("at {at}: controller fenced the active site {site}"))
            } else {
                None
            }
        }
        EventKind::ActiveSite { site } if !site.is_empty() && site != active => {
            Some(format!("at {at}: activeSite named {site}"))
        }
        _ => None,
    }
}

pub fn no_failover_before_fault(input: &Input) -> Verdict {
    let t0 = input.t0_ms();
    let active = &input.scenario.scenario.topology.active;
    let mut violations = vec![];
    for e in input.events.iter().filter(|e| e.at_ms < t0) {
        violations.extend(failover_activity(e, active));
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
        if let EventKind::ReplicationSource(r) = &e.kind {
            let (site, source) = (&r.site, &r.source);
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
    for (site, want) in &input.scenario.scenario.expect.divergent {
        let Some(primary) = fin.sole_writer() else {
            violations.push(format!(
                "expected {site} diverged by {want}, but there is no single writer at the end"
            ));
            continue;
        };
        let pset = GtidSet::parse(&primary.gtid_executed).unwrap_or_default();
        let div = fin
            .site(site)
            .map(|s| {
                GtidSet::parse(&s.gtid_executed)
                    .unwrap_or_default()
                    .subtract(&pset)
            })
            .unwrap_or_default();
        let got = div.count();
        let st = fin.status_site(site);
        let reported = st
            .and_then(|v| v["divergentTransactionCount"].as_u64())
            .unwrap_or(0);
        let reported_set = st
            .and_then(|v| v["divergentGtid"].as_str())
            .and_then(|g| GtidSet::parse(g).ok())
            .unwrap_or_default();
        let blocked = st.is_some_and(|v| v["recoveryState"] == "RecoveryBlocked");
        if got != *want || reported != *want || !blocked {
            violations.push(format!(
                "expected {site} diverged by exactly {want} from {}: it holds {got}, status says recoveryState={:?}, count={reported}",
                primary.name,
                st.map(|v| v["recoveryState"].clone()).unwrap_or_default()
            ));
        } else if reported_set != div {
            violations.push(format!(
                "{site}'s divergentGtid is {:?}, the divergent set is {div}",
                reported_set.to_string()
            ));
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

/// How long the startup safety net may keep the active site read-only (SCENARIOS.md,
/// sidecar-crash-no-failover: "safety net may pause writes ≤3s").
const SAFETY_NET_PAUSE_MS: u64 = 3_000;

/// NOFO over the whole run: no promotion of any kind (re-assert included), no fence of the
/// active site by the controller or a sidecar's monitor, a startup safety-net fence of the
/// active lifted within 3s, and `activeSite` never names another site.
pub fn no_failover(input: &Input) -> Verdict {
    let active = &input.scenario.scenario.topology.active;
    let mut violations = vec![];
    let mut pauses = vec![];
    for e in input.events {
        violations.extend(failover_activity(e, active));
    }
    for act in root_acts(input)
        .into_iter()
        .filter(|a| a.fence && &a.site == active && !a.was_read_only)
    {
        let at = fmt_secs(act.at_ms);
        match act.phase {
            Some(Phase::SafetyNet) => {
                let mut w = Writability::default();
                let back = input.events.iter().find_map(|e| {
                    w.apply(e);
                    (e.at_ms > act.at_ms && w.writable(active)).then_some(e.at_ms)
                });
                match back {
                    Some(t) if t - act.at_ms <= SAFETY_NET_PAUSE_MS => {
                        pauses.push(t - act.at_ms);
                    }
                    _ => violations.push(format!(
                        "at {at}: the startup safety net fenced the active site {active} and it was not writable again within {}{}",
                        fmt_secs(SAFETY_NET_PAUSE_MS),
                        back.map(|t| format!(" (writable at {})", fmt_secs(t))).unwrap_or_default()
                    )),
                }
            }
            Some(_) => violations.push(format!(
                "at {at}: the sidecar self-fenced the active site {active}"
            )),
            None => {}
        }
    }
    let figure = format!(
        "{} safety-net pause(s), longest {}",
        pauses.len(),
        fmt_secs(pauses.iter().copied().max().unwrap_or(0))
    );
    match violations.first() {
        None => Verdict::new(
            "NOFO",
            true,
            figure,
            "no promotion, no fence of the active site, activeSite never moved",
        ),
        Some(_) => Verdict::new(
            "NOFO",
            false,
            figure,
            format!(
                "{} violation(s): {}",
                violations.len(),
                violations.join("; ")
            ),
        ),
    }
}

/// FLAP: each failover starts at least `failoverCooldown` after the previous one was
/// recorded ("failover complete"; the durable stamp is truncated to the second, hence 1s
/// of slack). Re-asserts are exempt (their own timer). And a failover the cooldown
/// blocked starts within 3 polls of the cooldown's end (the controller re-evaluates every
/// poll), when the run lasts that long.
pub fn anti_flap(input: &Input) -> Verdict {
    let spec = super::effective_spec(input);
    let cooldown = bloodraven::duration::parse(&spec.failover_cooldown)
        .unwrap_or_default()
        .as_millis() as u64;
    let starts = controller_logs(input.events, "initiating failover");
    let completes = controller_logs(input.events, "failover complete");
    let mut violations = vec![];
    let mut gaps = vec![];
    for s in &starts {
        let Some(prev) = completes.iter().filter(|c| *c < s).max() else {
            continue;
        };
        let gap = s - prev;
        gaps.push(gap);
        if gap + 1_000 < cooldown {
            violations.push(format!(
                "failover started at {}, {} after the one recorded at {} (cooldown {})",
                fmt_secs(*s),
                fmt_secs(gap),
                fmt_secs(*prev),
                fmt_secs(cooldown)
            ));
        }
    }
    // Liveness half: a promotion the cooldown blocked starts within 3 polls of its end.
    let poll = bloodraven::duration::parse(&spec.poll_interval)
        .unwrap_or_default()
        .as_millis() as u64;
    let run_end = input.scenario.duration.as_millis() as u64;
    let mut windows: Vec<u64> =
        controller_logs(input.events, "failover blocked by anti-flap cooldown")
            .into_iter()
            .filter_map(|b| completes.iter().filter(|c| **c < b).max().copied())
            .collect();
    windows.dedup();
    for prev in windows {
        let deadline = prev + cooldown + 3 * poll;
        if deadline > run_end {
            continue;
        }
        if !starts
            .iter()
            .any(|s| *s > prev + cooldown.saturating_sub(1_000) && *s <= deadline)
        {
            violations.push(format!(
                "a failover blocked by the cooldown of the one recorded at {} did not start by {} (cooldown end + 3 polls)",
                fmt_secs(prev),
                fmt_secs(deadline)
            ));
        }
    }
    if let Some(n) = input.scenario.scenario.expect.failovers {
        if completes.len() != n as usize {
            violations.push(format!(
                "{} failover(s) completed, expected {n}",
                completes.len()
            ));
        }
    }
    let figure = format!(
        "{} failover(s), shortest gap {}",
        starts.len(),
        gaps.iter().min().map_or("-".to_string(), |g| fmt_secs(*g))
    );
    match violations.first() {
        None => Verdict::new(
            "FLAP",
            true,
            figure,
            format!(
                "failovers at least the cooldown ({}) apart",
                fmt_secs(cooldown)
            ),
        ),
        Some(_) => Verdict::new("FLAP", false, figure, violations.join("; ")),
    }
}

/// DW: whenever two or more primary-candidates are up and writable at once:
/// - with a recorded failover target (history, or a failover earlier in the run) or
///   sitePriorities, the controller resolves it within 13 polls (SCENARIOS.md T_sb: "fail
///   beyond 13 polls") and leaves one writer (never zero);
/// - with neither (manual), the controller fences no one while it lasts and blanks
///   `activeSite` within R+1 polls (+1s for the status sampling).
///
/// Dual intervals of a writer the controller cannot reach (a partitioned old primary) are
/// SW-H's: scenarios with one do not list DW.
pub fn dual_writable_resolved(input: &Input) -> Verdict {
    let spec = super::effective_spec(input);
    let poll = bloodraven::duration::parse(&spec.poll_interval)
        .unwrap_or_default()
        .as_millis() as u64;
    let bound = 13 * poll;
    let blank_within = (spec.recovery_threshold as u64 + 1) * poll + 1_000;
    let topo = &input.scenario.scenario.topology;
    let candidates = input.candidates();
    let completes = controller_logs(input.events, "failover complete");
    let mut w = Writability::default();
    // (start, end) of each dual interval; end None = still dual at the end of the run.
    let mut intervals: Vec<(u64, Option<u64>)> = vec![];
    let mut since: Option<u64> = None;
    let mut ended: Option<(u64, u64)> = None;
    let mut violations = vec![];
    for e in input.events {
        w.apply(e);
        let writers: Vec<String> = w
            .writers()
            .into_iter()
            .filter(|s| candidates.contains(s))
            .collect();
        match (writers.len() >= 2, since) {
            (true, None) => since = Some(e.at_ms),
            (false, Some(start)) => {
                intervals.push((start, Some(e.at_ms)));
                ended = Some((start, e.at_ms));
                since = None;
            }
            _ => {}
        }
        // The survivor fenced too within a poll of the resolution: no writer left.
        if let Some((start, end)) = ended {
            if e.at_ms > end + poll {
                ended = None;
            } else if writers.is_empty() {
                violations.push(format!(
                    "dual writable from {} resolved at {} to no writer by {}",
                    fmt_secs(start),
                    fmt_secs(end),
                    fmt_secs(e.at_ms)
                ));
                ended = None;
            }
        }
    }
    if let Some(start) = since {
        intervals.push((start, None));
    }
    let run_end = input.scenario.duration.as_millis() as u64;
    let mut longest = 0u64;
    let mut manual_count = 0;
    for (start, end) in &intervals {
        let (start, end_ms) = (*start, end.unwrap_or(run_end));
        longest = longest.max(end_ms.saturating_sub(start));
        let recorded = topo.history.is_some() || completes.iter().any(|c| *c < start);
        if recorded || !topo.priorities.is_empty() {
            match end {
                None => violations.push(format!(
                    "dual writable from {} never resolved (run ended at {})",
                    fmt_secs(start),
                    fmt_secs(run_end)
                )),
                Some(end) if end - start > bound => violations.push(format!(
                    "dual writable from {} lasted {} (bound {})",
                    fmt_secs(start),
                    fmt_secs(end - start),
                    fmt_secs(bound)
                )),
                _ => {}
            }
            continue;
        }
        manual_count += 1;
        let mut blanked = false;
        for e in input
            .events
            .iter()
            .filter(|e| e.at_ms >= start && e.at_ms <= end_ms)
        {
            match &e.kind {
                EventKind::Mutation {
                    site,
                    user,
                    sql,
                    ok: true,
                } if user == crate::world::CONTROLLER_SQL_USER && is_fence(sql) => {
                    violations.push(format!(
                        "at {}: the controller fenced {site} in a manual split brain (no priorities, no recorded target)",
                        fmt_secs(e.at_ms)
                    ));
                }
                EventKind::ActiveSite { site }
                    if site.is_empty() && e.at_ms <= start + blank_within =>
                {
                    blanked = true;
                }
                _ => {}
            }
        }
        if !blanked && end_ms > start + blank_within {
            violations.push(format!(
                "manual split brain from {}: activeSite not blank within {}",
                fmt_secs(start),
                fmt_secs(blank_within)
            ));
        }
    }
    let figure = format!(
        "{} dual interval(s){}, longest {}",
        intervals.len(),
        if manual_count > 0 {
            format!(" ({manual_count} manual)")
        } else {
            String::new()
        },
        fmt_secs(longest)
    );
    match violations.first() {
        None => Verdict::new(
            "DW",
            true,
            figure,
            format!(
                "dual-writable intervals resolved to one writer within {} (manual ones reported, not fenced)",
                fmt_secs(bound)
            ),
        ),
        Some(_) => Verdict::new("DW", false, figure, violations.join("; ")),
    }
}
