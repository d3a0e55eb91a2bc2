//! STATUS: the controller's published status tells the truth.
//! - Safety: `activeSite` never names a site that is read-only for more than 2P+τ, or down
//!   for more than the hung-host detection time F·(P+τ) plus 2P+τ (which also covers a
//!   pending promotion's 30s).
//! - End: `activeSite` is the single writable candidate (or ""), each site's `state` matches
//!   ground truth (a site still cut off may read `unreachable`), and `lastFailoverTarget`
//!   names a site that was promoted (or the seeded history).

use std::collections::BTreeSet;

use super::bounds::{end_ms, Bounds, Frozen, SAMPLING_MS};
use super::truth::{fmt_secs, promotions, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn status_truth(input: &Input) -> Verdict {
    let b = Bounds::of(input);
    let end = end_ms(input);
    let ro_bound = b.claim_lag_ms() + SAMPLING_MS;
    let down_bound = b.detect_hung_ms() + b.claim_lag_ms() + SAMPLING_MS;
    let mut w = Writability::default();
    let mut up: BTreeSet<String> = BTreeSet::new();
    let mut active = String::new();
    // Since when the claimed active site has been not writable, and whether it was down.
    let mut wrong: Option<(u64, String, bool)> = None;
    let mut worst = 0u64;
    let mut violations = vec![];
    let mut cut: BTreeSet<String> = BTreeSet::new();
    let mut frozen = Frozen::default();
    for e in input.events {
        w.apply(e);
        let is_frozen = frozen.apply(e);
        match &e.kind {
            EventKind::MysqlState { site, up: u, .. } => {
                if *u {
                    up.insert(site.clone());
                } else {
                    up.remove(site);
                }
            }
            EventKind::GroupStatus(c) => active = c.active_site.clone(),
            EventKind::Fault { op, detail, heal }
                if op.starts_with("partition") || op == "pause" =>
            {
                let site = detail
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                if *heal {
                    cut.remove(&site);
                } else {
                    cut.insert(site);
                }
            }
            _ => {}
        }
        // Frozen claims restart the clock when they thaw.
        let bad = !is_frozen && !active.is_empty() && !w.writable(&active);
        if let Some((since, site, reported)) = &wrong {
            if !bad || *site != active {
                let lasted = e.at_ms - since;
                worst = worst.max(lasted);
                let bound = if up.contains(site.as_str()) {
                    ro_bound
                } else {
                    down_bound
                };
                if !reported && lasted > bound {
                    violations.push(format!(
                        "activeSite named {site} from {} to {} (bound {})",
                        fmt_secs(*since),
                        fmt_secs(e.at_ms),
                        fmt_secs(bound)
                    ));
                }
                wrong = None;
            }
        }
        if bad && wrong.is_none() {
            wrong = Some((e.at_ms, active.clone(), false));
        }
        if let Some((since, site, reported)) = &mut wrong {
            let is_up = up.contains(site.as_str());
            let bound = if is_up { ro_bound } else { down_bound };
            if !*reported && e.at_ms > *since + bound {
                violations.push(format!(
                    "activeSite named {site} ({}) from {} past {}",
                    if is_up { "read-only" } else { "down" },
                    fmt_secs(*since),
                    fmt_secs(*since + bound)
                ));
                *reported = true;
            }
        }
    }
    if let Some((since, _, _)) = &wrong {
        worst = worst.max(end.saturating_sub(*since));
    }
    // End form.
    let fin = input.fin;
    let candidates = input.candidates();
    let writers: Vec<&str> = fin
        .sites
        .iter()
        .filter(|s| s.up && !s.read_only && candidates.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    let expected_active = if writers.len() == 1 { writers[0] } else { "" };
    if fin.active_site() != expected_active {
        violations.push(format!(
            "at the end activeSite={:?}, ground truth {:?}",
            fin.active_site(),
            expected_active
        ));
    }
    for s in &fin.sites {
        let truth = match (s.up, s.read_only) {
            (false, _) => "unreachable",
            (true, false) => "writable",
            (true, true) => "read-only",
        };
        let claimed = fin
            .status_site(&s.name)
            .and_then(|c| c["state"].as_str())
            .unwrap_or("(absent)");
        let ok = claimed == truth || (cut.contains(&s.name) && claimed == "unreachable");
        if !ok {
            violations.push(format!(
                "at the end {} claimed {claimed:?}, ground truth {truth:?}",
                s.name
            ));
        }
    }
    if let Some(t) = fin.status["lastFailoverTarget"].as_str() {
        let promoted: BTreeSet<String> = promotions(input.events)
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        let history = input.scenario.scenario.topology.history.as_deref();
        if !promoted.contains(t) && history != Some(t) {
            violations.push(format!(
                "lastFailoverTarget {t:?} was never promoted (promoted: {promoted:?})"
            ));
        }
    }
    let figure = format!("claim lag {}", fmt_secs(worst));
    match violations.first() {
        None => Verdict::new(
            "STATUS",
            true,
            figure,
            format!(
                "activeSite true within {} (down {}); end state matches",
                fmt_secs(ro_bound),
                fmt_secs(down_bound)
            ),
        ),
        Some(first) => Verdict::new(
            "STATUS",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}
