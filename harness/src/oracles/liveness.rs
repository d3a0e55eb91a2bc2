//! Liveness properties: the failover bound B_fo and the returning site's rejoin.

use bloodraven::gtid::GtidSet;

use super::truth::{fmt_secs, promotions, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

/// FAILOVER: from the first fault, activeSite and DNS name the new primary, which is
/// writable, within the bound; the expected number of promotions; still so at the end.
pub fn failover_bound(input: &Input) -> Verdict {
    let expect = &input.scenario.scenario.expect;
    let target = expect.new_primary.clone().unwrap_or_default();
    let bound = input
        .scenario
        .failover_within
        .unwrap_or_default()
        .as_millis() as u64;
    let t0 = input.t0_ms();
    let mut w = Writability::default();
    let (mut active, mut dns) = (String::new(), None::<String>);
    let mut reached = None;
    for e in input.events {
        w.apply(e);
        match &e.kind {
            EventKind::ActiveSite { site } => active = site.clone(),
            EventKind::Dns { target } => dns = target.clone(),
            _ => {}
        }
        if reached.is_none()
            && e.at_ms >= t0
            && active == target
            && dns.as_deref() == Some(target.as_str())
            && w.writable(&target)
        {
            reached = Some(e.at_ms - t0);
        }
    }
    let promos: Vec<(u64, String)> = promotions(input.events)
        .into_iter()
        .filter(|(t, _)| *t >= t0)
        .collect();
    let figure = reached
        .map(|ms| format!("new primary after {}", fmt_secs(ms)))
        .unwrap_or_else(|| "no failover".into());
    let fin = input.fin;
    let mut problems = vec![];
    match reached {
        None => problems.push(format!(
            "activeSite and DNS never both moved to a writable {target}"
        )),
        Some(ms) if ms > bound => {
            problems.push(format!("took {} (bound {})", fmt_secs(ms), fmt_secs(bound)))
        }
        _ => {}
    }
    if let Some(n) = expect.failovers {
        if promos.len() != n as usize {
            problems.push(format!(
                "{} promotion(s) after the fault, expected {n}: {promos:?}",
                promos.len()
            ));
        }
    }
    if reached.is_some()
        && (fin.active_site() != target
            || fin.sole_writer().map(|s| s.name.as_str()) != Some(target.as_str()))
    {
        problems.push(format!(
            "at the end activeSite={:?} and the writer is {:?}",
            fin.active_site(),
            fin.sole_writer().map(|s| &s.name)
        ));
    }
    match problems.first() {
        None => Verdict::new(
            "FAILOVER",
            true,
            figure,
            format!("{} promoted, bound {}", target, fmt_secs(bound)),
        ),
        Some(_) => Verdict::new("FAILOVER", false, figure, problems.join("; ")),
    }
}

/// REJOIN: the returning site never turns writable again after the promotion, and ends as a
/// direct replica of the primary (contained in it), or reported blocked with its exact
/// divergence.
pub fn rejoin(input: &Input) -> Verdict {
    let site = input
        .scenario
        .scenario
        .expect
        .returning_site
        .clone()
        .unwrap_or_default();
    let first_promo = promotions(input.events)
        .into_iter()
        .find(|(_, s)| s != &site)
        .map(|(t, _)| t);
    // "Again": a rising edge after the promotion. A deposed primary that is still writable
    // when the promotion happens (partitioned, not dead) is FENCE(a)'s and SW's business.
    let mut w = Writability::default();
    let mut problems = vec![];
    let mut was = false;
    for e in input.events {
        w.apply(e);
        let now = w.writable(&site);
        if first_promo.is_some_and(|p| e.at_ms > p) && now && !was {
            problems.push(format!("{site} writable again at {}", fmt_secs(e.at_ms)));
            break;
        }
        was = now;
    }
    let fin = input.fin;
    let (Some(me), Some(primary)) = (fin.site(&site), fin.sole_writer()) else {
        return Verdict::new(
            "REJOIN",
            false,
            "-",
            format!("at the end {site} is missing or there is no single writer"),
        );
    };
    let mine = GtidSet::parse(&me.gtid_executed).unwrap_or_default();
    let theirs = GtidSet::parse(&primary.gtid_executed).unwrap_or_default();
    let div = mine.subtract(&theirs);
    let status = fin.status_site(&site);
    let figure;
    if div.is_empty() {
        let direct = input.site_of_host(&me.source_host).as_deref() == Some(primary.name.as_str());
        figure = "rejoined as replica".to_string();
        if !(direct && me.io_running && me.sql_running) {
            problems.push(format!(
                "{site} is not replicating from {} (source {:?}, io {}, sql {})",
                primary.name, me.source_host, me.io_running, me.sql_running
            ));
        }
    } else {
        figure = format!("blocked with {} divergent", div.count());
        let blocked = status.is_some_and(|v| v["recoveryState"] == "RecoveryBlocked");
        let count = status.and_then(|v| v["divergentTransactionCount"].as_u64());
        if !blocked || count != Some(div.count()) {
            problems.push(format!(
                "{site} diverged by {} but status says {:?}/{count:?}",
                div.count(),
                status.map(|v| v["recoveryState"].clone())
            ));
        }
    }
    match problems.first() {
        None => Verdict::new("REJOIN", true, figure, format!("{site} returned safely")),
        Some(_) => Verdict::new("REJOIN", false, figure, problems.join("; ")),
    }
}

/// CONV, at the end of the run: exactly one writable site W, which is `status.activeSite`
/// (and the expected `new_primary`, when given); every other up site is read-only; every
/// one not reported RecoveryBlocked replicates directly from W (IO and SQL running,
/// source = W's internal Service) and is `replicating` in status; Ready=True when every
/// site is up and none is blocked.
pub fn convergence(input: &Input) -> Verdict {
    let fin = input.fin;
    let mut problems = vec![];
    let writers: Vec<&str> = fin
        .sites
        .iter()
        .filter(|s| s.up && !s.read_only)
        .map(|s| s.name.as_str())
        .collect();
    let Some(w) = fin.sole_writer() else {
        return Verdict::new(
            "CONV",
            false,
            format!("{} writer(s)", writers.len()),
            format!("expected exactly one writable site at the end, got {writers:?}"),
        );
    };
    if fin.active_site() != w.name {
        problems.push(format!(
            "status.activeSite={:?} but {} is the writer",
            fin.active_site(),
            w.name
        ));
    }
    if let Some(p) = &input.scenario.scenario.expect.new_primary {
        if *p != w.name {
            problems.push(format!("expected {p} to be the primary, {} is", w.name));
        }
    }
    let source = bloodraven::crd::internal_service(input.group, &w.name);
    let mut followers = 0;
    let mut blocked = vec![];
    for s in fin.sites.iter().filter(|s| s.up && s.name != w.name) {
        let st = fin.status_site(&s.name);
        if st.is_some_and(|v| v["recoveryState"] == "RecoveryBlocked") {
            blocked.push(s.name.clone());
            continue;
        }
        followers += 1;
        if !(s.io_running && s.sql_running && s.source_host == source) {
            problems.push(format!(
                "{} is not replicating from {} (source {:?}, io {}, sql {})",
                s.name, w.name, s.source_host, s.io_running, s.sql_running
            ));
        }
        if !st.is_some_and(|v| v["replicating"] == true) {
            problems.push(format!("status does not say {} is replicating", s.name));
        }
    }
    let all_up = fin.sites.iter().all(|s| s.up);
    if blocked.is_empty() && all_up {
        let ready = fin.status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"].clone());
        if ready != Some(serde_json::json!("True")) {
            problems.push(format!("condition Ready is {ready:?}, expected \"True\""));
        }
    }
    let figure = format!(
        "{} writer, {followers} follower(s){}",
        w.name,
        if blocked.is_empty() {
            String::new()
        } else {
            format!(", blocked {}", blocked.join(","))
        }
    );
    match problems.first() {
        None => Verdict::new("CONV", true, figure, "converged on a single writer"),
        Some(_) => Verdict::new("CONV", false, figure, problems.join("; ")),
    }
}
