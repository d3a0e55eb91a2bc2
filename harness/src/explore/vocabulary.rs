//! The weighted fault vocabulary of random exploration: one line per fault op, modelled on
//! the Go project's DST weights (spec §9.3). Each entry draws one fault as scenario data, so
//! a new op of `scenario::FAULT_OPS` is one more line here. Every fault heals inside the
//! fault window, so the run can settle and the liveness properties apply.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What an entry may draw from.
pub struct Ctx<'a> {
    pub rng: &'a mut ChaCha8Rng,
    pub sites: &'a [String],
    pub active: &'a str,
    /// A site that can never be promoted (a dr-only or reader third site), if any.
    pub spare: Option<&'a str>,
    /// Whether the group has a recorded failover target (re-assert can heal a fenced
    /// primary; without one an all-read-only group is NoPrimary by design, spec §3.7).
    pub history: bool,
    /// The fault window, in whole virtual seconds.
    pub start: u64,
    pub end: u64,
}

impl Ctx<'_> {
    fn at(&mut self) -> u64 {
        self.rng.random_range(self.start..self.end - 4)
    }
    /// A heal 3..40s after `at`, inside the window.
    fn heal(&mut self, at: u64) -> u64 {
        let hi = (at + 40).min(self.end);
        self.rng.random_range(at + 3..=hi.max(at + 3))
    }
    /// Any site, the active one half of the time (that is where failovers come from).
    fn site(&mut self) -> String {
        if self.rng.random_bool(0.5) {
            self.active.to_string()
        } else {
            self.sites[self.rng.random_range(0..self.sites.len())].clone()
        }
    }
    fn other_site(&mut self, not: &str) -> String {
        let others: Vec<&String> = self.sites.iter().filter(|s| *s != not).collect();
        others[self.rng.random_range(0..others.len())].clone()
    }
    fn boot(&mut self) -> &'static str {
        if self.rng.random_bool(0.45) {
            "fenced"
        } else {
            "writable"
        }
    }
}

fn secs(s: u64) -> String {
    format!("{s}s")
}

fn with_heal(c: &mut Ctx, op: &str, site: String, extra: Value) -> Value {
    let at = c.at();
    let heal = c.heal(at);
    let mut f = json!({"at": secs(at), "op": op, "site": site, "heal_at": secs(heal)});
    if let (Value::Object(f), Value::Object(x)) = (&mut f, extra) {
        f.extend(x);
    }
    f
}

fn pair(c: &mut Ctx, peer: &str) -> Value {
    let site = c.site();
    with_heal(c, "partition-pair", site, json!({"peer": peer}))
}

/// The statements a failover or recovery mutates with (SCENARIOS.md `sql-*{stmt}`).
const MUTATIONS: &[&str] = &[
    "set_super_read_only",
    "set_read_only",
    "stop_replica",
    "reset_replica_all",
    "change_replication_source",
    "start_replica",
    "kill",
];

fn sql(c: &mut Ctx, op: &str) -> Value {
    let (at, site) = (c.at(), c.site());
    let stmt = MUTATIONS[c.rng.random_range(0..MUTATIONS.len())];
    let n = c.rng.random_range(1..=3u64);
    json!({"at": secs(at), "op": op, "site": site, "stmt": stmt, "n": n})
}

/// (op, weight, draw). The op names the `FAULT_OPS` entry the draw produces.
pub type Entry = (&'static str, u32, fn(&mut Ctx) -> Value);

pub const VOCABULARY: &[Entry] = &[
    ("crash", 16, |c| {
        let (at, site, boot) = (c.at(), c.site(), c.boot());
        json!({"at": secs(at), "op": "crash", "site": site, "boot": boot})
    }),
    // partitionOperatorSite
    ("partition-pair", 13, |c| pair(c, "controller")),
    // partitionPair (cuts replication between two sites: a fetch stall too)
    ("partition-pair", 9, |c| {
        let site = c.site();
        let peer = c.other_site(&site);
        with_heal(c, "partition-pair", site, json!({"peer": peer}))
    }),
    ("partition-pair", 3, |c| pair(c, "clients")),
    ("partition-pair", 3, |c| pair(c, "apiserver")),
    ("partition", 5, |c| {
        let site = c.site();
        with_heal(c, "partition", site, json!({}))
    }),
    // restartOperator
    ("controller-restart", 8, |c| {
        let (at, down) = (c.at(), c.rng.random_range(1..=10u64));
        json!({"at": secs(at), "op": "controller-restart", "down": secs(down)})
    }),
    // crashOperatorMid: countdown in mutations, down 0–3 polls
    ("controller-crash", 6, |c| {
        let (at, n, down) = (
            c.at(),
            c.rng.random_range(1..=6u64),
            c.rng.random_range(1..=6u64),
        );
        json!({"at": secs(at), "op": "controller-crash", "n": n, "down": secs(down)})
    }),
    // rogueFence: of the active only with a recorded target, else nothing may heal it
    ("manual-fence", 6, |c| {
        let at = c.at();
        let site = if c.history {
            c.site()
        } else {
            let active = c.active.to_string();
            c.other_site(&active)
        };
        json!({"at": secs(at), "op": "manual-fence", "site": site})
    }),
    // rogueWritable
    ("rogue-unfence", 3, |c| {
        let (at, site) = (c.at(), c.site());
        json!({"at": secs(at), "op": "rogue-unfence", "site": site})
    }),
    // ambiguousMutations: applied, but the connection drops before the answer
    ("sql-ambiguous", 9, |c| sql(c, "sql-ambiguous")),
    // failMutations: refused unapplied
    ("sql-fail", 7, |c| sql(c, "sql-fail")),
    ("aux-unready", 3, |c| {
        let at = c.at();
        let heal = c.heal(at);
        json!({"at": secs(at), "op": "aux-unready", "heal_at": secs(heal)})
    }),
    ("clock-skew", 2, |c| {
        let at = c.at();
        let host = if c.rng.random_bool(0.3) {
            "controller".to_string()
        } else {
            c.site()
        };
        let sign = if c.rng.random_bool(0.5) { "+" } else { "-" };
        let offset = format!("{sign}{}s", c.rng.random_range(5..=600u64));
        json!({"at": secs(at), "op": "clock-skew", "host": host, "offset": offset})
    }),
    ("site-down", 4, |c| {
        let (site, boot) = (c.site(), c.boot());
        with_heal(c, "site-down", site, json!({"boot": boot}))
    }),
    ("node-down", 3, |c| {
        let (site, boot) = (c.site(), c.boot());
        with_heal(c, "node-down", site, json!({"boot": boot}))
    }),
    ("sidecar-kill", 4, |c| {
        let (at, site, down) = (c.at(), c.site(), c.rng.random_range(1..=10u64));
        json!({"at": secs(at), "op": "sidecar-kill", "site": site, "down": secs(down)})
    }),
    // An errant write, on the primary (a plain local commit) or on a follower that keeps
    // replicating: the controller must report the latter RecoveryBlocked (spec §3.8, NDA(3)).
    ("errant-write", 3, |c| {
        let (at, site, n) = (c.at(), c.site(), c.rng.random_range(1..=3u64));
        json!({"at": secs(at), "op": "errant-write", "site": site, "n": n})
    }),
    // Hangs versus refusals: mysqld killed (refuses, restarts writable: a start without the
    // boot fence, the harder case) or frozen (hangs).
    ("mysqld-kill", 5, |c| {
        let (at, site) = (c.at(), c.site());
        let down = [4u64, 10, 20][c.rng.random_range(0..3)];
        json!({"at": secs(at), "op": "mysqld-kill", "site": site, "down": secs(down), "boot": "writable"})
    }),
    ("pause", 4, |c| {
        let site = c.site();
        with_heal(c, "pause", site, json!({}))
    }),
    // Apply and fetch stalls: a lagging candidate at failover time (RPO-A causes a, b).
    ("apply-stall", 4, |c| {
        let site = c.site();
        let rate = [0.0, 0.5, 2.0][c.rng.random_range(0..3)];
        with_heal(c, "apply-stall", site, json!({"rate": rate}))
    }),
    ("fetch-stall", 4, |c| {
        let site = c.site();
        with_heal(c, "fetch-stall", site, json!({}))
    }),
    // Asymmetric partitions: the controller (or a peer site) cannot send to the site.
    ("partition-oneway", 4, |c| {
        let site = c.site();
        let peer = if c.rng.random_bool(0.6) {
            "controller".to_string()
        } else {
            c.other_site(&site)
        };
        with_heal(c, "partition-oneway", site, json!({"peer": peer}))
    }),
    // PVC loss of a site that is never the primary (dr-only or reader): an empty or
    // foreign data directory that auto-clone owns. Losing the primary's only copy is
    // data loss the controller cannot undo (an all-read-only group waits for a human,
    // spec §3.7), so without such a site this draws a fenced crash of a standby instead.
    ("pvc-loss", 3, |c| {
        let at = c.at();
        let Some(site) = c.spare.map(str::to_string) else {
            let active = c.active.to_string();
            let site = c.other_site(&active);
            return json!({"at": secs(at), "op": "crash", "site": site, "boot": "fenced"});
        };
        let boot = if c.rng.random_bool(0.8) {
            "fenced"
        } else {
            "writable"
        };
        let mut f = json!({"at": secs(at), "op": "pvc-loss", "site": site, "boot": boot});
        if c.rng.random_bool(0.5) {
            f["mode"] = json!("new-uuid");
            f["n"] = json!(c.rng.random_range(1..=3u64));
        }
        f
    }),
    // Status, annotation and DNS outages, watch drops and stale reads.
    ("apiserver-outage", 4, |c| {
        let at = c.at();
        let heal = c.heal(at);
        let mode = crate::scenario::OUTAGE_MODES
            [c.rng.random_range(0..crate::scenario::OUTAGE_MODES.len())];
        json!({"at": secs(at), "op": "apiserver-outage", "mode": mode, "heal_at": secs(heal)})
    }),
    ("deny", 4, |c| {
        let at = c.at();
        let heal = c.heal(at);
        let resource = crate::scenario::DENY_RESOURCES
            [c.rng.random_range(0..crate::scenario::DENY_RESOURCES.len())];
        json!({"at": secs(at), "op": "deny", "resource": resource, "heal_at": secs(heal)})
    }),
    ("watch-drop", 3, |c| {
        let at = c.at();
        let heal = c.heal(at);
        json!({"at": secs(at), "op": "watch-drop", "heal_at": secs(heal)})
    }),
    ("api-latency", 2, |c| {
        let at = c.at();
        let heal = c.heal(at);
        let min = c.rng.random_range(0..=500u64);
        let max = min + c.rng.random_range(100..=3000u64);
        json!({"at": secs(at), "op": "api-latency", "min": format!("{min}ms"),
               "max": format!("{max}ms"), "heal_at": secs(heal)})
    }),
    ("stale-read", 3, |c| {
        let at = c.at();
        let heal = c.heal(at);
        let lag = c.rng.random_range(2..=30u64);
        json!({"at": secs(at), "op": "stale-read", "lag": secs(lag), "heal_at": secs(heal)})
    }),
];

/// Fault ops the vocabulary leaves out on purpose (each has its own catalog scenarios):
/// - `annotate`, `backup`, `verify-backup`, `spec-patch`: operator requests, not faults
///   (a spec change starts an ordered update, judged by its own scenario);
/// - `backup-drop-rows`: a planted harness fault that only a verification scenario judges;
/// - `dragonfly-kill`, `dragonfly-partition`: need `spec.dragonfly`, which explore's
///   topologies do not enable yet (next step: a Dragonfly topology variant).
pub const NOT_DRAWN: &[&str] = &[
    "annotate",
    "backup",
    "verify-backup",
    "backup-drop-rows",
    "dragonfly-kill",
    "dragonfly-partition",
    "spec-patch",
];

/// Draws one fault by weight among the entries whose op the scenario loader knows.
pub fn draw(c: &mut Ctx) -> Value {
    let known: Vec<&Entry> = VOCABULARY
        .iter()
        .filter(|(op, _, _)| crate::scenario::FAULT_OPS.contains(op))
        .collect();
    let total: u32 = known.iter().map(|e| e.1).sum();
    let mut pick = c.rng.random_range(0..total);
    for (_, w, make) in known {
        if pick < *w {
            return make(c);
        }
        pick -= w;
    }
    unreachable!("weights cover the range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_op_is_drawn_or_left_out_on_purpose() {
        for op in crate::scenario::FAULT_OPS {
            let drawn = VOCABULARY.iter().any(|(o, w, _)| o == op && *w > 0);
            assert!(
                drawn || NOT_DRAWN.contains(op),
                "{op}: add it to the explore vocabulary (or to NOT_DRAWN with a reason)"
            );
        }
        for (op, _, _) in VOCABULARY {
            assert!(
                crate::scenario::FAULT_OPS.contains(op),
                "{op}: not a fault op"
            );
        }
    }
}
