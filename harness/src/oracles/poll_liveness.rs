//! PLV: the controller's poll loop keeps turning. Consecutive poll completions are at most
//! the adaptive interval the first one announced (capped at 30s) + τ + 2s apart, despite
//! hung sockets, frozen mysqlds and a slow apiserver (issue #93: a hung read froze Poll
//! while it kept reporting the old state).
//!
//! A poll that runs a failover does MySQL mutations whose own budgets the spec bounds
//! elsewhere (fence of a dead host, the relay drain D, the confirmation): a gap in which
//! the controller sent a mutation may take those budgets on top. The wait from the last
//! completion to the end of the run counts too (a poll that never returns), and a
//! controller restart starts the count afresh.

use std::time::Duration;

use super::truth::fmt_secs;
use super::{Input, Verdict};
use crate::trace::EventKind;
use crate::world::{CONTROLLER_HOST, CONTROLLER_SQL_USER};

/// τ: the probe timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The slack of the definition beyond interval + τ.
const SLACK: Duration = Duration::from_secs(2);
/// The adaptive interval never exceeds this.
const MAX_INTERVAL: Duration = Duration::from_secs(30);
/// What a poll with mutations may add: the relay drain D plus three statement timeouts
/// (fence of the old primary, unfence, confirmation).
const MUTATION_BUDGET: Duration = Duration::from_secs(30 + 3 * 5);

/// The allowed gap after a completion announcing `interval_ms`.
pub fn bound_ms(interval_ms: u64, mutated: bool) -> u64 {
    let interval = interval_ms.min(MAX_INTERVAL.as_millis() as u64);
    let extra = if mutated {
        MUTATION_BUDGET.as_millis() as u64
    } else {
        0
    };
    interval + (PROBE_TIMEOUT + SLACK).as_millis() as u64 + extra
}

pub fn poll_liveness(input: &Input) -> Verdict {
    let end = super::bounds::end_ms(input);
    // (completion time, announced interval) of the last poll, None while the controller
    // is down or has not completed a poll since it started.
    let mut last: Option<(u64, u64)> = None;
    let mut mutated = false;
    let mut polls = 0usize;
    let mut worst_late: i64 = i64::MIN;
    let mut violations = vec![];
    let mut check = |from: (u64, u64), to: u64, mutated: bool, what: &str| {
        let gap = to.saturating_sub(from.0);
        let bound = bound_ms(from.1, mutated);
        worst_late =
            worst_late.max(gap as i64 - from.1.min(MAX_INTERVAL.as_millis() as u64) as i64);
        if gap > bound {
            violations.push(format!(
                "no poll completed from {} to {what} {} ({} > bound {})",
                fmt_secs(from.0),
                fmt_secs(to),
                fmt_secs(gap),
                fmt_secs(bound)
            ));
        }
    };
    for e in input.events {
        match &e.kind {
            EventKind::Poll { host, interval_ms } if host == CONTROLLER_HOST => {
                polls += 1;
                if let Some(prev) = last {
                    check(prev, e.at_ms, mutated, "the poll at");
                }
                last = Some((e.at_ms, *interval_ms));
                mutated = false;
            }
            EventKind::Mutation { user, .. } if user == CONTROLLER_SQL_USER => mutated = true,
            EventKind::Host { host, .. } if host == CONTROLLER_HOST => {
                last = None;
                mutated = false;
            }
            _ => {}
        }
    }
    if let Some(prev) = last {
        check(prev, end, mutated, "the end of the run at");
    }
    let figure = if polls < 2 {
        format!("{polls} poll(s)")
    } else {
        format!("polls at most {} late", fmt_secs(worst_late.max(0) as u64))
    };
    if polls == 0 {
        return Verdict::new(
            "PLV",
            false,
            figure,
            "the controller completed no poll".to_string(),
        );
    }
    match violations.first() {
        Some(first) => Verdict::new(
            "PLV",
            false,
            figure,
            format!("{first} ({} stall(s))", violations.len()),
        ),
        None => Verdict::new(
            "PLV",
            true,
            figure,
            format!("{polls} polls, each within interval + τ + 2s of the last"),
        ),
    }
}
