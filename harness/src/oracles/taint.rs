//! TAINT: the group's NoExecute taint sits on a candidate or dr-only site's node iff the
//! site is not writable, lagging ground truth by at most detection plus one poll
//! (F·(P+τ) plus P); reader nodes are never tainted; another group's taint is never
//! touched (its first sighting is the baseline). At the end it matches ground truth
//! exactly. Canary pods (when seeded): one tolerating the taint is never evicted; one not
//! tolerating it leaves only once its node carries the taint, and is gone by the end if it
//! does.

use std::collections::BTreeMap;

use super::bounds::{end_ms, Bounds, Frozen, SAMPLING_MS};
use super::truth::{fmt_secs, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn taint(input: &Input) -> Verdict {
    let b = Bounds::of(input);
    let end = end_ms(input);
    let bound = b.detect_hung_ms() + b.poll_ms + 2 * SAMPLING_MS;
    let key = bloodraven::topology::k8s::taint_key(crate::world::GROUP);
    let roles: BTreeMap<String, String> = input
        .scenario
        .scenario
        .topology
        .sites
        .iter()
        .map(|s| (s.name.clone(), s.role.clone()))
        .collect();
    let mut w = Writability::default();
    let mut tainted: BTreeMap<String, bool> = BTreeMap::new();
    let mut seen_state: BTreeMap<String, bool> = BTreeMap::new();
    // Per site: since when the taint has disagreed with ground truth.
    let mut wrong: BTreeMap<String, (u64, bool)> = BTreeMap::new();
    let mut worst = 0u64;
    let mut violations = vec![];
    // The controller learns sites on its first poll: judge from its first status.
    let start = input
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::GroupStatus(c) if !c.sites.is_empty()))
        .map_or(end, |e| e.at_ms);
    let mut frozen = Frozen::default();
    let mut foreign_seen: std::collections::BTreeSet<(String, String)> = Default::default();
    // Intolerant canary → (site, present).
    let mut intolerant: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for e in input.events {
        w.apply(e);
        let is_frozen = frozen.apply(e);
        match &e.kind {
            EventKind::Canary {
                pod,
                site,
                tolerates,
                present,
                ..
            } => {
                let at = fmt_secs(e.at_ms);
                if *tolerates && !present {
                    violations.push(format!("canary {pod} tolerating the taint evicted at {at}"));
                }
                if !tolerates {
                    if !present && !tainted.get(site).copied().unwrap_or(false) {
                        violations.push(format!(
                            "canary {pod} left at {at} while {site}'s node carried no taint of this group"
                        ));
                    }
                    intolerant.insert(pod.clone(), (site.clone(), *present));
                }
            }
            EventKind::Taint {
                site,
                key: k,
                present,
                node,
            } => {
                if *k != key {
                    if !foreign_seen.insert((node.clone(), k.clone())) {
                        violations.push(format!(
                            "foreign taint {k} on {node} changed at {}",
                            fmt_secs(e.at_ms)
                        ));
                    }
                    continue;
                }
                if roles.get(site).map(String::as_str) == Some("read-only") && *present {
                    violations.push(format!(
                        "reader {site}'s node {node} tainted at {}",
                        fmt_secs(e.at_ms)
                    ));
                }
                tainted.insert(site.clone(), *present);
            }
            EventKind::MysqlState { site, .. } => {
                seen_state.insert(site.clone(), true);
            }
            _ => {}
        }
        if e.at_ms < start {
            continue;
        }
        for (site, role) in &roles {
            if role == "read-only" || !seen_state.contains_key(site) {
                continue;
            }
            let want = !w.writable(site);
            let has = tainted.get(site).copied().unwrap_or(false);
            // Frozen (controller down, apiserver faults): the clock restarts on thaw.
            match (is_frozen || want == has, wrong.get(site).copied()) {
                (false, None) => {
                    wrong.insert(site.clone(), (e.at_ms.max(start), false));
                }
                (true, Some((since, _))) => {
                    worst = worst.max(e.at_ms - since);
                    wrong.remove(site);
                }
                (false, Some((since, false))) if e.at_ms > since + bound => {
                    violations.push(format!(
                        "{site}'s node {} from {} past {}",
                        if want {
                            "untainted while not writable"
                        } else {
                            "tainted while writable"
                        },
                        fmt_secs(since),
                        fmt_secs(since + bound)
                    ));
                    wrong.insert(site.clone(), (since, true));
                }
                _ => {}
            }
        }
    }
    for (since, _) in wrong.values() {
        worst = worst.max(end.saturating_sub(*since));
    }
    for s in &input.fin.sites {
        if roles.get(&s.name).map(String::as_str) == Some("read-only") {
            continue;
        }
        let want = !s.up || s.read_only;
        let has = tainted.get(&s.name).copied().unwrap_or(false);
        if want != has {
            violations.push(format!(
                "at the end {} is {} but its node is {}",
                s.name,
                if want { "not writable" } else { "writable" },
                if has { "tainted" } else { "untainted" }
            ));
        }
    }
    for (pod, (site, present)) in &intolerant {
        if *present && tainted.get(site).copied().unwrap_or(false) {
            violations.push(format!(
                "at the end canary {pod} still runs on {site}'s tainted node"
            ));
        }
    }
    let figure = format!("taint lag {}", fmt_secs(worst));
    match violations.first() {
        None => Verdict::new(
            "TAINT",
            true,
            figure,
            format!("taints follow writability within {}", fmt_secs(bound)),
        ),
        Some(first) => Verdict::new(
            "TAINT",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}
