//! Prometheus metrics of the topology managers (spec §8.3), encoded by `prometheus-client`.
//!
//! The samples live in ordered maps behind one [`Metrics`] handle, and a custom collector
//! hands them to the encoder in a fixed order: the same state always renders the same
//! text (the crate's own `Family` iterates a `HashMap`). There is no global registry: each
//! [`Metrics`] (one per topology [`Registry`](crate::topology::Registry)) owns its own, so
//! simulated runs in one process never share counters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;

/// Label pairs of one sample, in the family's label order.
type Labels = Vec<(&'static str, String)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
}

/// One metric family: name (without the `_total` a counter gets when encoded), help, type.
struct Def {
    name: &'static str,
    help: &'static str,
    kind: Kind,
}

pub const FAILOVERS: &str = "bloodraven_failovers";
pub const SPLIT_BRAIN_AUTO_RESOLVE: &str = "bloodraven_split_brain_auto_resolve";
pub const PRIMARY_REASSERT: &str = "bloodraven_primary_reassert";
pub const STATE_TRANSITIONS: &str = "bloodraven_state_transitions";
pub const DNS_FLIPS: &str = "bloodraven_dns_flips";
pub const TAINT_OPERATIONS: &str = "bloodraven_taint_operations";
pub const DIVERGENT_TRANSACTIONS: &str = "bloodraven_divergent_transactions";
pub const SITE_STATE: &str = "bloodraven_site_state";
pub const REPLICATION_LAG: &str = "bloodraven_replication_lag_seconds";
pub const REPLICATION_RUNNING: &str = "bloodraven_replication_running";
pub const REPLICATION_SOURCE_STATE: &str = "bloodraven_replication_source_state";
/// The per-site gauge families labelled `namespace, group, site, ...`.
const PER_GROUP: [&str; 4] = [
    SITE_STATE,
    REPLICATION_LAG,
    REPLICATION_RUNNING,
    REPLICATION_SOURCE_STATE,
];
pub const PLANNED_FAILOVERS: &str = "bloodraven_planned_failovers";
pub const RECLONE_OPERATIONS: &str = "bloodraven_reclone_operations";
pub const DRAGONFLY_SITE_UP: &str = "bloodraven_dragonfly_site_up";
pub const DRAGONFLY_PROMOTIONS: &str = "bloodraven_dragonfly_promotions";
pub const DRAGONFLY_MANAGER_PANICS: &str = "bloodraven_dragonfly_manager_panics";

const DEFS: &[Def] = &[
    Def {
        name: FAILOVERS,
        help: "Successful promotions, by promoted site.",
        kind: Kind::Counter,
    },
    Def {
        name: SPLIT_BRAIN_AUTO_RESOLVE,
        help: "Non-preferred writable sites fenced by the sitePriorities split-brain policy.",
        kind: Kind::Counter,
    },
    Def {
        name: PRIMARY_REASSERT,
        help: "Fenced promoted primaries whose writability was restored.",
        kind: Kind::Counter,
    },
    Def {
        name: STATE_TRANSITIONS,
        help: "Debounced per-site state transitions.",
        kind: Kind::Counter,
    },
    Def {
        name: DNS_FLIPS,
        help: "DNS record changes to a new active site.",
        kind: Kind::Counter,
    },
    Def {
        name: TAINT_OPERATIONS,
        help: "Successful node taint operations (action=apply|remove).",
        kind: Kind::Counter,
    },
    Def {
        name: DIVERGENT_TRANSACTIONS,
        help: "Transactions a blocked returning site has that the active primary lacks.",
        kind: Kind::Gauge,
    },
    Def {
        name: SITE_STATE,
        help: "Debounced state of each site (one-hot over state).",
        kind: Kind::Gauge,
    },
    Def {
        name: REPLICATION_LAG,
        help: "Seconds_Behind_Source of each follower (-1 when NULL or not replicating).",
        kind: Kind::Gauge,
    },
    Def {
        name: REPLICATION_RUNNING,
        help: "Whether a follower's replication thread runs (thread=io|sql).",
        kind: Kind::Gauge,
    },
    Def {
        name: REPLICATION_SOURCE_STATE,
        help: "Source convergence of each follower (one-hot over converged|pending|blocked).",
        kind: Kind::Gauge,
    },
    Def {
        name: PLANNED_FAILOVERS,
        help: "Planned failovers that ended, by target site and result (success, rejected, failed_timeout, failed_other).",
        kind: Kind::Counter,
    },
    Def {
        name: RECLONE_OPERATIONS,
        help: "Reclones (CLONE INSTANCE of a site from the active primary) started, by site.",
        kind: Kind::Counter,
    },
    Def {
        name: DRAGONFLY_SITE_UP,
        help: "Whether each site's Dragonfly answered INFO replication on the last tick.",
        kind: Kind::Gauge,
    },
    Def {
        name: DRAGONFLY_PROMOTIONS,
        help: "Dragonfly promotions, by target site and result (success, failed, skipped).",
        kind: Kind::Counter,
    },
    Def {
        name: DRAGONFLY_MANAGER_PANICS,
        help: "Dragonfly manager ticks that panicked (the tick is skipped, the loop goes on).",
        kind: Kind::Counter,
    },
];

/// The four debounced states, for the one-hot site gauge.
pub const STATES: [&str; 4] = ["unknown", "writable", "read-only", "unreachable"];

#[derive(Debug, Default)]
struct Samples {
    /// family name → labels → value
    families: BTreeMap<&'static str, BTreeMap<Labels, i64>>,
    /// histogram family name → labels → observations
    histograms: BTreeMap<&'static str, BTreeMap<Labels, Hist>>,
}

pub const PLANNED_FAILOVER_DURATION: &str = "bloodraven_planned_failover_duration_seconds";
pub const PLANNED_FAILOVER_LAG_WAIT: &str = "bloodraven_planned_failover_lag_wait_seconds";

/// Histogram families: name, help, upper bounds (spec §4.6).
const HISTOGRAMS: &[(&str, &str, &[f64])] = &[
    (
        PLANNED_FAILOVER_DURATION,
        "Duration of successful planned failovers, by target site.",
        &[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0],
    ),
    (
        PLANNED_FAILOVER_LAG_WAIT,
        "Time planned failovers waited for the target to catch up, by target site.",
        &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
    ),
];

/// Observations of one histogram series: per-bucket (not cumulative) counts, the +Inf
/// bucket last.
#[derive(Debug, Default, Clone)]
struct Hist {
    sum: f64,
    count: u64,
    buckets: Vec<u64>,
}

#[derive(Debug)]
struct HistogramCollector(Arc<Mutex<Samples>>);

impl Collector for HistogramCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (name, help, bounds) in HISTOGRAMS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            if let Some(rows) = samples.histograms.get(name) {
                for (labels, h) in rows {
                    let buckets: Vec<(f64, u64)> = bounds
                        .iter()
                        .copied()
                        .chain([f64::INFINITY])
                        .zip(h.buckets.iter().copied())
                        .collect();
                    family
                        .encode_family(labels)?
                        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                            h.sum, h.count, &buckets, None,
                        )?;
                }
            }
        }
        Ok(())
    }
}

/// A cheap-to-clone handle on one set of metrics and its registry.
#[derive(Clone)]
pub struct Metrics {
    samples: Arc<Mutex<Samples>>,
    registry: Arc<prometheus_client::registry::Registry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let samples = Arc::new(Mutex::new(Samples::default()));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(SampleCollector(samples.clone())));
        registry.register_collector(Box::new(HistogramCollector(samples.clone())));
        Self {
            samples,
            registry: Arc::new(registry),
        }
    }
}

#[derive(Debug)]
struct SampleCollector(Arc<Mutex<Samples>>);

/// One sample value, encoded as the family's type.
struct Value(Kind, i64);

impl EncodeMetric for Value {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        match self.0 {
            Kind::Counter => encoder
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                    &(self.1.max(0) as u64),
                    None,
                ),
            Kind::Gauge => encoder.encode_gauge(&self.1),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self.0 {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge => MetricType::Gauge,
        }
    }
}

impl Collector for SampleCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for def in DEFS {
            let metric_type = match def.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
            };
            let mut family = encoder.encode_descriptor(def.name, def.help, None, metric_type)?;
            if let Some(rows) = samples.families.get(def.name) {
                for (labels, v) in rows {
                    let m = family.encode_family(labels)?;
                    Value(def.kind, *v).encode(m)?;
                }
            }
        }
        Ok(())
    }
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Samples) -> R) -> R {
        f(&mut self.samples.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn add(&self, family: &'static str, labels: Labels, by: i64) {
        self.with(|s| {
            *s.families
                .entry(family)
                .or_default()
                .entry(labels)
                .or_default() += by;
        });
    }

    fn set(&self, family: &'static str, labels: Labels, v: i64) {
        self.with(|s| {
            s.families.entry(family).or_default().insert(labels, v);
        });
    }

    /// The current value of one sample (tests, diagnostics).
    pub fn value(&self, family: &str, labels: &[(&str, &str)]) -> Option<i64> {
        self.with(|s| {
            s.families.get(family).and_then(|rows| {
                rows.iter()
                    .find(|(l, _)| {
                        l.len() == labels.len()
                            && l.iter()
                                .zip(labels)
                                .all(|((k, v), (wk, wv))| k == wk && v == wv)
                    })
                    .map(|(_, v)| *v)
            })
        })
    }

    pub fn planned_failover(&self, target_site: &str, result: &str) {
        self.add(
            PLANNED_FAILOVERS,
            vec![
                ("target_site", target_site.into()),
                ("result", result.into()),
            ],
            1,
        );
    }

    /// Records one observation (seconds) in a histogram family of [`HISTOGRAMS`].
    pub fn observe(&self, family: &'static str, target_site: &str, secs: f64) {
        let Some((_, _, bounds)) = HISTOGRAMS.iter().find(|(n, ..)| *n == family) else {
            return;
        };
        self.with(|s| {
            let h = s
                .histograms
                .entry(family)
                .or_default()
                .entry(vec![("target_site", target_site.into())])
                .or_insert_with(|| Hist {
                    buckets: vec![0; bounds.len() + 1],
                    ..Hist::default()
                });
            let i = bounds
                .iter()
                .position(|b| secs <= *b)
                .unwrap_or(bounds.len());
            h.buckets[i] += 1;
            h.sum += secs;
            h.count += 1;
        });
    }

    /// Number of observations in one histogram series (tests, diagnostics).
    pub fn histogram_count(&self, family: &str, target_site: &str) -> u64 {
        self.with(|s| {
            s.histograms
                .get(family)
                .and_then(|rows| rows.get(&vec![("target_site", target_site.to_string())]))
                .map_or(0, |h| h.count)
        })
    }

    pub fn reclone(&self, site: &str) {
        self.add(RECLONE_OPERATIONS, vec![("site", site.into())], 1);
    }

    pub fn dragonfly_site_up(&self, group: &str, site: &str, up: bool) {
        self.set(
            DRAGONFLY_SITE_UP,
            vec![("group", group.into()), ("site", site.into())],
            i64::from(up),
        );
    }

    /// `result` is `success`, `failed` or `skipped`.
    pub fn dragonfly_promotion(&self, group: &str, target_site: &str, result: &str) {
        self.add(
            DRAGONFLY_PROMOTIONS,
            vec![
                ("group", group.into()),
                ("target_site", target_site.into()),
                ("result", result.into()),
            ],
            1,
        );
    }

    pub fn dragonfly_manager_panic(&self) {
        self.add(DRAGONFLY_MANAGER_PANICS, vec![], 1);
    }

    pub fn failover(&self, target_site: &str) {
        self.add(FAILOVERS, vec![("target_site", target_site.into())], 1);
    }

    pub fn split_brain_auto_resolve(&self, prefer_site: &str) {
        self.add(
            SPLIT_BRAIN_AUTO_RESOLVE,
            vec![("prefer_site", prefer_site.into())],
            1,
        );
    }

    pub fn primary_reassert(&self, site: &str) {
        self.add(PRIMARY_REASSERT, vec![("site", site.into())], 1);
    }

    pub fn state_transition(&self, site: &str, from: &str, to: &str) {
        self.add(
            STATE_TRANSITIONS,
            vec![
                ("site", site.into()),
                ("from", from.into()),
                ("to", to.into()),
            ],
            1,
        );
    }

    pub fn dns_flip(&self, site: &str) {
        self.add(DNS_FLIPS, vec![("site", site.into())], 1);
    }

    /// `action` is `apply` or `remove`; successes only.
    pub fn taint_operation(&self, site: &str, action: &str) {
        self.add(
            TAINT_OPERATIONS,
            vec![("site", site.into()), ("action", action.into())],
            1,
        );
    }

    pub fn set_divergent_transactions(&self, site: &str, n: u64) {
        self.set(
            DIVERGENT_TRANSACTIONS,
            vec![("site", site.into())],
            i64::try_from(n).unwrap_or(i64::MAX),
        );
    }

    /// Sets the one-hot state gauge of a site: 1 for `state`, 0 for the other states.
    pub fn set_site_state(
        &self,
        namespace: &str,
        group: &str,
        site: &str,
        role: &str,
        state: &str,
    ) {
        self.with(|s| {
            let rows = s.families.entry(SITE_STATE).or_default();
            for st in STATES {
                rows.insert(
                    vec![
                        ("namespace", namespace.into()),
                        ("group", group.into()),
                        ("site", site.into()),
                        ("role", role.into()),
                        ("state", st.into()),
                    ],
                    i64::from(st == state),
                );
            }
        });
    }

    /// Sets a follower's replication gauges; `source_state` is one of converged, pending,
    /// blocked (None: the active site, no convergence row).
    pub fn set_replication(&self, site: SiteLabels<'_>, r: ReplicationSample<'_>) {
        let base = |extra: &[(&'static str, &str)]| {
            let mut l: Labels = vec![
                ("namespace", site.namespace.into()),
                ("group", site.group.into()),
                ("site", site.site.into()),
            ];
            l.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
            l
        };
        self.with(|s| {
            s.families
                .entry(REPLICATION_LAG)
                .or_default()
                .insert(base(&[("role", site.role)]), r.lag.unwrap_or(-1));
            let running = s.families.entry(REPLICATION_RUNNING).or_default();
            running.insert(
                base(&[("role", site.role), ("thread", "io")]),
                i64::from(r.io),
            );
            running.insert(
                base(&[("role", site.role), ("thread", "sql")]),
                i64::from(r.sql),
            );
            let states = s.families.entry(REPLICATION_SOURCE_STATE).or_default();
            for st in ["converged", "pending", "blocked"] {
                let key = base(&[("state", st)]);
                match r.source_state {
                    Some(cur) => {
                        states.insert(key, i64::from(st == cur));
                    }
                    None => {
                        states.remove(&key);
                    }
                }
            }
        });
    }

    /// Drops the per-group gauges of a group no longer managed.
    pub fn remove_group(&self, namespace: &str, group: &str) {
        self.with(|s| {
            for family in PER_GROUP {
                if let Some(rows) = s.families.get_mut(family) {
                    rows.retain(|l, _| {
                        !(l.first().is_some_and(|(_, v)| v == namespace)
                            && l.get(1).is_some_and(|(_, v)| v == group))
                    });
                }
            }
        });
    }

    /// The OpenMetrics text exposition of every family.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Who a per-site gauge is about.
#[derive(Clone, Copy, Debug)]
pub struct SiteLabels<'a> {
    pub namespace: &'a str,
    pub group: &'a str,
    pub site: &'a str,
    pub role: &'a str,
}

/// One follower's replication reading.
#[derive(Clone, Copy, Debug)]
pub struct ReplicationSample<'a> {
    pub lag: Option<i64>,
    pub io: bool,
    pub sql: bool,
    pub source_state: Option<&'a str>,
}

/// Content type of [`Metrics::encode`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_failover_histograms_bucket_observations() {
        let m = Metrics::default();
        m.observe(PLANNED_FAILOVER_DURATION, "b", 14.0);
        m.observe(PLANNED_FAILOVER_DURATION, "b", 400.0);
        m.observe(PLANNED_FAILOVER_LAG_WAIT, "b", 0.2);
        let text = m.encode();
        assert!(
            text.contains("# TYPE bloodraven_planned_failover_duration_seconds histogram"),
            "{text}"
        );
        let d = "bloodraven_planned_failover_duration_seconds";
        assert!(
            text.contains(&format!("{d}_bucket{{le=\"10.0\",target_site=\"b\"}} 0\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{d}_bucket{{le=\"20.0\",target_site=\"b\"}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{d}_bucket{{le=\"+Inf\",target_site=\"b\"}} 2\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{d}_sum{{target_site=\"b\"}} 414.0\n")),
            "{text}"
        );
        assert!(text.contains(
            "bloodraven_planned_failover_lag_wait_seconds_bucket{le=\"0.5\",target_site=\"b\"} 1\n"
        ), "{text}");
        assert_eq!(m.histogram_count(PLANNED_FAILOVER_DURATION, "b"), 2);
        assert_eq!(text, m.encode());
    }

    #[test]
    fn counters_and_gauges_render_in_a_stable_order() {
        let m = Metrics::default();
        m.failover("b");
        m.failover("b");
        m.failover("a");
        m.state_transition("a", "writable", "unreachable");
        m.set_divergent_transactions("a", 3);
        m.set_site_state("ns", "g", "a", "primary-candidate", "unreachable");
        let text = m.encode();
        assert!(
            text.contains("# TYPE bloodraven_failovers counter"),
            "{text}"
        );
        assert!(text.contains("bloodraven_failovers_total{target_site=\"a\"} 1\n"));
        assert!(text.contains("bloodraven_failovers_total{target_site=\"b\"} 2\n"));
        let a = text.find("target_site=\"a\"").unwrap();
        let b = text.find("target_site=\"b\"").unwrap();
        assert!(a < b, "samples sorted by labels");
        assert!(text.contains(
            "bloodraven_state_transitions_total{site=\"a\",from=\"writable\",to=\"unreachable\"} 1\n"
        ));
        assert!(text.contains("bloodraven_divergent_transactions{site=\"a\"} 3\n"));
        assert!(text.contains(
            "bloodraven_site_state{namespace=\"ns\",group=\"g\",site=\"a\",role=\"primary-candidate\",state=\"unreachable\"} 1\n"
        ));
        assert!(text.contains(
            "bloodraven_site_state{namespace=\"ns\",group=\"g\",site=\"a\",role=\"primary-candidate\",state=\"writable\"} 0\n"
        ));
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(text, m.encode(), "same state, same text");
        assert_eq!(m.value(FAILOVERS, &[("target_site", "b")]), Some(2));
        m.remove_group("ns", "g");
        assert!(!m.encode().contains("bloodraven_site_state{"));
    }

    #[test]
    fn separate_handles_do_not_share_samples() {
        let a = Metrics::default();
        let b = Metrics::default();
        a.primary_reassert("x");
        assert_eq!(a.value(PRIMARY_REASSERT, &[("site", "x")]), Some(1));
        assert_eq!(b.value(PRIMARY_REASSERT, &[("site", "x")]), None);
        let c = a.clone();
        c.primary_reassert("x");
        assert_eq!(a.value(PRIMARY_REASSERT, &[("site", "x")]), Some(2));
    }
}
