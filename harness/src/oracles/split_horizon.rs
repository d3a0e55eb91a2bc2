//! SW-H: a deposed primary the controller cannot reach (but clients can) is read-only
//! within the fence horizon H after the promotion, and its acks in between are kept as its
//! divergence (on the deposed site) rather than vanishing.

use std::collections::BTreeSet;

use bloodraven::gtid::GtidSet;

use super::fence::horizon;
use super::truth::{fmt_secs, promotions, Writability};
use super::{Input, Verdict};
use crate::trace::EventKind;

pub fn split_horizon(input: &Input) -> Verdict {
    let h = horizon(input).as_millis() as u64;
    let promos = promotions(input.events);
    let end = super::bounds::end_ms(input);
    let mut violations = vec![];
    let mut longest = 0u64;
    let mut late_acks = 0usize;
    let fin = input.fin;
    let winner_rows: BTreeSet<u64> = fin
        .sole_writer()
        .map(|w| w.rows.iter().copied().collect())
        .unwrap_or_default();
    for (i, (at, target)) in promos.iter().enumerate() {
        // The next promotion ends this one's horizon window.
        let until = promos.get(i + 1).map_or(end, |(t, _)| *t);
        let mut w = Writability::default();
        for e in input.events.iter().take_while(|e| e.at_ms <= *at) {
            w.apply(e);
        }
        let deposed: Vec<String> = w.writers().into_iter().filter(|s| s != target).collect();
        for x in deposed {
            // When x turns read-only (or dies) after the promotion.
            let mut w2 = Writability::default();
            let mut fenced_at = None;
            for e in input.events {
                w2.apply(e);
                if e.at_ms > *at && !w2.writable(&x) {
                    fenced_at = Some(e.at_ms);
                    break;
                }
            }
            let span = fenced_at.unwrap_or(end).min(until).saturating_sub(*at);
            longest = longest.max(span);
            if fenced_at.is_none_or(|f| f > at + h) && at + h <= until {
                violations.push(format!(
                    "{x} still writable {} after {target}'s promotion at {} (H {})",
                    fmt_secs(span),
                    fmt_secs(*at),
                    fmt_secs(h)
                ));
            }
            let x_gtids = fin
                .site(&x)
                .map(|s| GtidSet::parse(&s.gtid_executed).unwrap_or_default())
                .unwrap_or_default();
            for e in input
                .events
                .iter()
                .filter(|e| e.at_ms > *at && e.at_ms <= until)
            {
                if let EventKind::Ack { id, site, gtid, .. } = &e.kind {
                    if site == &x {
                        late_acks += 1;
                        if !winner_rows.contains(id) && !gtid_in(&x_gtids, gtid) {
                            violations.push(format!(
                                "ack {id} ({gtid}) of deposed {x} at {} is neither on the final primary nor kept in {x}'s divergent set",
                                fmt_secs(e.at_ms)
                            ));
                        }
                    }
                }
            }
        }
    }
    let figure = format!(
        "deposed writer {} after promotion, {late_acks} late ack(s)",
        fmt_secs(longest)
    );
    match violations.first() {
        None => Verdict::new(
            "SW-H",
            true,
            figure,
            format!("deposed primaries read-only within H {}", fmt_secs(h)),
        ),
        Some(first) => Verdict::new(
            "SW-H",
            false,
            figure,
            format!("{} violation(s); first: {first}", violations.len()),
        ),
    }
}

fn gtid_in(set: &GtidSet, gtid: &str) -> bool {
    gtid.rsplit_once(':')
        .and_then(|(uuid, n)| Some(set.contains(uuid, n.parse().ok()?)))
        .unwrap_or(false)
}
