//! The order of a promotion's mutations (spec §3.4):
//! - PWO: the controller never unfences a site while its latest probe (this poll's) of
//!   another site read `read_only=0`, unless it fenced that site (acked) since.
//! - FBP: an old primary the controller can reach is fenced before the candidate's
//!   unfence: a site writable when the candidate is unfenced and fenced by the controller
//!   later in the same poll was fenced after the promotion, not before it.

use std::collections::BTreeMap;

use super::polls::poll_of_each;
use super::truth::{fmt_secs, is_fence, is_unfence, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;
use crate::world::CONTROLLER_SQL_USER;

/// Controller mutations that succeeded: (time, site, fence?) for fences and unfences.
fn controller_flips(input: &Input) -> Vec<(u64, String, bool)> {
    input
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == CONTROLLER_SQL_USER => {
                if is_unfence(sql) {
                    Some((e.at_ms, site.clone(), false))
                } else if is_fence(sql) {
                    Some((e.at_ms, site.clone(), true))
                } else {
                    None
                }
            }
            _ => None,
        })
        .collect()
}

pub fn no_promote_over_writer(input: &Input) -> Verdict {
    let poll = poll_of_each(input.events);
    // Per site: (time, read_only, poll) of the controller's latest answered probe.
    let mut probed: BTreeMap<String, (u64, bool, usize)> = BTreeMap::new();
    // Per site: time of the controller's latest acked fence.
    let mut fenced: BTreeMap<String, u64> = BTreeMap::new();
    let (mut unfences, mut violations) = (0, vec![]);
    for (e, &k) in input.events.iter().zip(&poll) {
        match &e.kind {
            EventKind::ReadOnlyProbe {
                site,
                user,
                read_only,
            } if user == CONTROLLER_SQL_USER => {
                probed.insert(site.clone(), (e.at_ms, *read_only, k));
            }
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == CONTROLLER_SQL_USER => {
                if is_fence(sql) {
                    fenced.insert(site.clone(), e.at_ms);
                } else if is_unfence(sql) {
                    unfences += 1;
                    for (other, (at, read_only, probe_poll)) in &probed {
                        let this_poll = *probe_poll == k;
                        let fenced_since = fenced.get(other).is_some_and(|f| f >= at);
                        if other != site && this_poll && !read_only && !fenced_since {
                            violations.push(format!(
                                "at {}: {site} unfenced while the controller's probe of {other} at {} read read_only=0 and it was not fenced since",
                                fmt_secs(e.at_ms),
                                fmt_secs(*at)
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let figure = format!("{unfences} unfence(s)");
    match violations.first() {
        None => Verdict::new(
            "PWO",
            true,
            figure,
            "no unfence while another site was read writable",
        ),
        Some(first) => Verdict::new(
            "PWO",
            false,
            figure,
            format!("{} violation(s); first {first}", violations.len()),
        ),
    }
}

pub fn fence_before_promote(input: &Input) -> Verdict {
    let poll = poll_of_each(input.events);
    let flips = controller_flips(input);
    let mut w = Writability::default();
    let (mut checked, mut violations) = (0, vec![]);
    for (i, e) in input.events.iter().enumerate() {
        // Ground truth as it stood when the unfence arrived (its own effect comes after).
        let EventKind::Mutation {
            site,
            user,
            sql,
            ok: true,
        } = &e.kind
        else {
            w.apply(e);
            continue;
        };
        if user != CONTROLLER_SQL_USER || !is_unfence(sql) {
            continue;
        }
        checked += 1;
        // Later flips of the same poll.
        let same_poll = input.events[i..]
            .iter()
            .zip(&poll[i..])
            .take_while(|(_, k)| **k == poll[i])
            .count();
        let poll_end = input.events[i + same_poll - 1].at_ms;
        for other in w.writers().into_iter().filter(|o| o != site) {
            let late = flips
                .iter()
                .find(|(t, o, fence)| *fence && *o == other && *t >= e.at_ms && *t <= poll_end);
            if let Some((t, _, _)) = late {
                violations.push(format!(
                    "at {}: {site} unfenced while {other} was writable; the controller fenced {other} only at {}",
                    fmt_secs(e.at_ms),
                    fmt_secs(*t)
                ));
            }
        }
    }
    let figure = format!("{checked} unfence(s) checked");
    match violations.first() {
        None => Verdict::new(
            "FBP",
            true,
            figure,
            "every reachable old primary fenced before the candidate's unfence",
        ),
        Some(first) => Verdict::new(
            "FBP",
            false,
            figure,
            format!("{} violation(s); first {first}", violations.len()),
        ),
    }
}
