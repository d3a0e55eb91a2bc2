//! Site faults reach the site's Dragonfly too. A site's Dragonfly pod runs on the same
//! node as its MySQL pod, so a fault that takes the node (`site-down`, `node-down`) takes
//! the Dragonfly with it, and a network partition of the site (`partition`,
//! `partition-pair`) cuts the Dragonfly exactly as it cuts MySQL. Pod-scoped faults
//! (`crash`, `pvc-loss`, `mysqld-kill`, ...) and MySQL-specific ones (`fetch-stall`,
//! `partition-oneway` on the MySQL port) leave Dragonfly alone.

use super::dragonfly::{DfWorld, DownReason, SESSIONS_HOST};
use super::{site_host, Action, Links, COUNTER_HOST};
use crate::trace::Trace;

/// Ops whose `Down`/`Up` take the whole node away.
const NODE_OPS: &[&str] = &["site-down", "node-down"];
/// Ops whose `Cut` is a network partition of the site (not of one MySQL link).
const PARTITION_OPS: &[&str] = &["partition", "partition-pair"];

/// Applies the Dragonfly side of `action` (already applied to MySQL), if it has one.
pub(super) fn follow(
    df: &DfWorld,
    sim: &mut turmoil::Sim<'_>,
    action: &Action,
    links: &mut Links,
    sites: &[String],
    trace: &Trace,
) {
    match action {
        Action::Down { site, op, .. } if NODE_OPS.contains(&op.as_str()) => {
            df.set_down(sim, site, DownReason::Node, true, trace);
        }
        Action::Up { site, op, .. } if NODE_OPS.contains(&op.as_str()) => {
            df.set_down(sim, site, DownReason::Node, false, trace);
        }
        Action::Cut {
            op,
            site,
            peers,
            heal,
            refuse,
            ..
        } if PARTITION_OPS.contains(&op.as_str()) => {
            for (a, b) in extra_pairs(df, site, peers, sites) {
                match (*refuse, *heal) {
                    (false, false) => links.cut(sim, &a, &b),
                    (false, true) => links.heal(sim, &a, &b),
                    (true, false) => links
                        .refusals
                        .cut(sim.lookup(a.as_str()), sim.lookup(b.as_str())),
                    (true, true) => links
                        .refusals
                        .heal(sim.lookup(a.as_str()), sim.lookup(b.as_str())),
                }
            }
        }
        _ => {}
    }
}

/// The links a partition of `site` from `peers` (MySQL-side host names) cuts beyond
/// the MySQL ones: the site's Dragonfly from every peer, and both of the site's hosts
/// from each peer's Dragonfly-side twin (a site's Dragonfly, or the session workload
/// for the MySQL workload's clients).
fn extra_pairs(
    df: &DfWorld,
    site: &str,
    peers: &[String],
    sites: &[String],
) -> Vec<(String, String)> {
    let Some(own_df) = df.host_of(site) else {
        return vec![];
    };
    let twin = |peer: &str| -> Option<String> {
        if peer == COUNTER_HOST {
            return Some(SESSIONS_HOST.into());
        }
        sites
            .iter()
            .find(|s| site_host(s) == peer)
            .and_then(|s| df.host_of(s))
            .map(String::from)
    };
    let mut pairs = vec![];
    for p in peers {
        pairs.push((own_df.to_string(), p.clone()));
        if let Some(t) = twin(p) {
            pairs.push((own_df.to_string(), t.clone()));
            pairs.push((site_host(site), t));
        }
    }
    pairs
}
