//! DEB: the controller's published site states are debounced (spec §3.3). A site is
//! claimed `unreachable` only after F straight polls in which the controller's probe of it
//! went unanswered; a promotable site is claimed `writable` only after R straight polls
//! whose probe read `read_only=0`, unless the controller itself unfenced it in that poll
//! (a confirmed promotion or re-assert takes effect at once). `read-only` is taken at once.

use std::collections::BTreeMap;

use super::polls::{is_status_write, poll_of_each};
use super::truth::{fmt_secs, is_unfence};
use super::{Input, Verdict};
use crate::trace::EventKind;
use crate::world::CONTROLLER_SQL_USER;

/// What the controller's probes of one site returned in one poll.
#[derive(Clone, Copy, Default)]
struct PollSeen {
    answered: bool,
    writable: bool,
    unfenced: bool,
}

pub fn debounce(input: &Input) -> Verdict {
    let spec = super::effective_spec(input);
    let (f, r) = (
        spec.failure_threshold as usize,
        spec.recovery_threshold as usize,
    );
    let promotable: Vec<String> = input.candidates();
    let poll = poll_of_each(input.events);
    // (site, poll) -> what the controller saw.
    let mut seen: BTreeMap<(String, usize), PollSeen> = BTreeMap::new();
    for (e, &k) in input.events.iter().zip(&poll) {
        match &e.kind {
            EventKind::ReadOnlyProbe {
                site,
                user,
                read_only,
            } if user == CONTROLLER_SQL_USER => {
                let s = seen.entry((site.clone(), k)).or_default();
                s.answered = true;
                s.writable |= !read_only;
            }
            EventKind::Mutation {
                site,
                user,
                sql,
                ok: true,
            } if user == CONTROLLER_SQL_USER && is_unfence(sql) => {
                seen.entry((site.clone(), k)).or_default().unfenced = true;
            }
            _ => {}
        }
    }
    let polls = |site: &str, k: usize, n: usize| -> Vec<PollSeen> {
        (k + 1).checked_sub(n).map_or_else(Vec::new, |first| {
            (first..=k)
                .map(|j| {
                    seen.get(&(site.to_string(), j))
                        .copied()
                        .unwrap_or_default()
                })
                .collect()
        })
    };
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let (mut judged, mut violations) = (0, vec![]);
    // The poll of the latest accepted status write: the one whose view a claim shows.
    let mut written_in = 0;
    for (e, &k) in input.events.iter().zip(&poll) {
        if is_status_write(e) {
            written_in = k;
        }
        let EventKind::GroupStatus(c) = &e.kind else {
            continue;
        };
        let k = written_in;
        for s in &c.sites {
            let before = claimed.insert(s.name.clone(), s.state.clone());
            if before.as_deref() == Some(s.state.as_str()) {
                continue;
            }
            let at = fmt_secs(e.at_ms);
            match s.state.as_str() {
                "unreachable" => {
                    judged += 1;
                    let window = polls(&s.name, k, f);
                    if window.len() < f || window.iter().any(|p| p.answered) {
                        violations.push(format!(
                            "at {at}: {} claimed unreachable without {f} straight unanswered probes",
                            s.name
                        ));
                    }
                }
                "writable" if promotable.contains(&s.name) => {
                    judged += 1;
                    let unfenced = polls(&s.name, k, 1).first().is_some_and(|p| p.unfenced);
                    let window = polls(&s.name, k, r);
                    let debounced = window.len() == r && window.iter().all(|p| p.writable);
                    if !unfenced && !debounced {
                        violations.push(format!(
                            "at {at}: {} claimed writable without {r} straight writable probes or an unfence",
                            s.name
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    let figure = format!("{judged} debounced transition(s)");
    match violations.first() {
        None => Verdict::new(
            "DEB",
            true,
            figure,
            format!("unreachable after {f} failed polls, writable after {r} writable ones"),
        ),
        Some(first) => Verdict::new(
            "DEB",
            false,
            figure,
            format!("{} violation(s); first {first}", violations.len()),
        ),
    }
}
