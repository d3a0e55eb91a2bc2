//! The controller's poll cycles read from the trace: each "poll complete" line (and each
//! controller start) closes one poll and opens the next. Between a completion and the
//! next poll's probes the controller only sleeps, so "this poll's probe" of a site is its
//! probe recorded since the last completion. DEB and PWO need that grouping.

use crate::trace::{Event, EventKind};
use crate::world::CONTROLLER_HOST;

/// For each event (by position), the index of the controller poll it belongs to.
pub fn poll_of_each(events: &[Event]) -> Vec<usize> {
    let mut k = 0;
    events
        .iter()
        .map(|e| {
            let this = k;
            match &e.kind {
                EventKind::Poll { host, .. } if host == CONTROLLER_HOST => k += 1,
                EventKind::Host { host, up: true } if host == CONTROLLER_HOST => k += 1,
                _ => {}
            }
            this
        })
        .collect()
}

/// A status write the apiserver accepted: the moment a claim sampled later was made.
pub fn is_status_write(e: &Event) -> bool {
    matches!(&e.kind, EventKind::ApiWrite(w) if w.ok && w.subresource.as_deref() == Some("status"))
}
