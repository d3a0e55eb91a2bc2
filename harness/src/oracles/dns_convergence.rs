//! DNS-C: the DNS record follows `status.activeSite`: within one poll of each activeSite
//! change, within two polls after a DNS or apiserver fault heals, and at the end.

use super::bounds::{end_ms, Bounds, SAMPLING_MS};
use super::truth::fmt_secs;
use super::{Input, Verdict};
use crate::trace::EventKind;

/// Faults that stop the controller writing DNS (apiserver outages, denials, DNS faults).
pub fn blocks_dns(op: &str) -> bool {
    op.contains("apiserver") || op.contains("deny") || op.contains("dns")
}

pub fn dns_convergence(input: &Input) -> Verdict {
    let b = Bounds::of(input);
    let end = end_ms(input);
    let one_poll = b.poll_ms + 2 * SAMPLING_MS;
    let two_polls = 2 * b.poll_ms + 2 * SAMPLING_MS;
    let (mut active, mut dns) = (String::new(), None::<String>);
    let mut blocking = 0i32;
    // Open mismatch: since when, and the deadline it must end by (None while blocked).
    let mut open: Option<(u64, Option<u64>)> = None;
    let mut worst = 0u64;
    let mut violations = vec![];
    for e in input.events {
        match &e.kind {
            EventKind::ActiveSite { site } => active = site.clone(),
            EventKind::Dns { target } => dns = target.clone(),
            EventKind::Fault { op, heal, .. } if blocks_dns(op) => {
                blocking += if *heal { -1 } else { 1 };
                if let Some((_, deadline)) = &mut open {
                    *deadline = (blocking <= 0).then_some(e.at_ms + two_polls);
                }
            }
            _ => continue,
        }
        let mismatch = !active.is_empty() && dns.as_deref() != Some(active.as_str());
        match (mismatch, open) {
            (true, None) => {
                open = Some((e.at_ms, (blocking <= 0).then_some(e.at_ms + one_poll)));
            }
            (false, Some((since, deadline))) => {
                worst = worst.max(e.at_ms - since);
                if let Some(d) = deadline {
                    if e.at_ms > d {
                        violations.push(format!(
                            "DNS named {:?} while activeSite was {active:?} from {} to {} (bound {})",
                            dns,
                            fmt_secs(since),
                            fmt_secs(e.at_ms),
                            fmt_secs(d - since)
                        ));
                    }
                }
                open = None;
            }
            _ => {}
        }
    }
    if let Some((since, deadline)) = open {
        worst = worst.max(end - since);
        if deadline.is_some_and(|d| d < end) || deadline.is_none() {
            violations.push(format!(
                "at the end DNS names {dns:?} but activeSite is {active:?} (since {})",
                fmt_secs(since)
            ));
        }
    }
    let figure = format!("DNS staleness {}", fmt_secs(worst));
    match violations.first() {
        None => Verdict::new(
            "DNS-C",
            true,
            figure,
            "DNS followed activeSite within a poll",
        ),
        Some(first) => Verdict::new(
            "DNS-C",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}
