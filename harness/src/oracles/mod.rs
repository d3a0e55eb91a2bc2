//! Oracles: pure functions over a run's trace and its final ground truth. Each returns a
//! [`Verdict`] with a measured figure; the same oracles judge every target.

mod backup;
pub mod bounds;
mod data;
mod debounce;
mod dns_convergence;
mod dragonfly;
mod events;
mod eventually;
pub mod fence;
mod flap_durable;
mod liveness;
mod ordered_update;
mod planned;
mod poll_liveness;
mod polls;
mod promotion_order;
mod safety;
mod split_horizon;
mod status_truth;
mod taint;
pub mod truth;

use serde::{Deserialize, Serialize};

use crate::scenario::Loaded;
use crate::trace::Event;

pub use truth::{Final, SiteTruth};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub property: String,
    pub pass: bool,
    /// The measured figure, human readable (e.g. "12.4s", "0 of 1530 acked writes lost").
    pub figure: String,
    /// Why it failed, or what was observed.
    pub detail: String,
}

impl Verdict {
    fn new(
        property: &str,
        pass: bool,
        figure: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            property: property.into(),
            pass,
            figure: figure.into(),
            detail: detail.into(),
        }
    }
}

/// What an oracle sees.
pub struct Input<'a> {
    pub events: &'a [Event],
    pub fin: &'a Final,
    pub scenario: &'a Loaded,
    pub group: &'a str,
}

impl Input<'_> {
    pub fn candidates(&self) -> Vec<String> {
        self.scenario
            .scenario
            .topology
            .sites
            .iter()
            .filter(|s| s.role == "primary-candidate")
            .map(|s| s.name.clone())
            .collect()
    }

    /// Time of the first fault in ms (end of run when there is none).
    pub fn t0_ms(&self) -> u64 {
        self.scenario
            .first_fault()
            .unwrap_or(self.scenario.duration)
            .as_millis() as u64
    }

    /// Site name from an internal Service host name.
    pub fn site_of_host(&self, host: &str) -> Option<String> {
        let prefix = format!("mysql-{}-", self.group);
        host.strip_prefix(&prefix)?
            .strip_suffix("-internal")
            .map(String::from)
    }
}

/// The group's spec as the controller sees it (scenario overrides on the CRD defaults).
pub fn effective_spec(input: &Input) -> bloodraven::crd::MysqlFailoverGroupSpec {
    let group = crate::world::group_object(input.scenario);
    serde_json::from_value(group["spec"].clone()).expect("the harness's group spec parses")
}

/// Runs every property the scenario asks for, in the scenario's order.
pub fn judge(input: &Input) -> Vec<Verdict> {
    input
        .scenario
        .scenario
        .expect
        .properties
        .iter()
        .map(|p| match p.as_str() {
            "SW" => safety::single_writer(input),
            "DNS-W" => safety::dns_to_confirmed_writer(input),
            "NOFO-PRE" => safety::no_failover_before_fault(input),
            "NDA" => safety::no_divergent_apply(input),
            "RPO-A" => data::acked_loss(input),
            "FAILOVER" => liveness::failover_bound(input),
            "REJOIN" => liveness::rejoin(input),
            "NOFO" => safety::no_failover(input),
            "FENCE" => fence::sidecar_fencing(input),
            "FLAP" => safety::anti_flap(input),
            "CONV" => liveness::convergence(input),
            "DW" => safety::dual_writable_resolved(input),
            "PF" => planned::planned_outcome(input),
            "NAL-P" => planned::no_acked_loss_planned(input),
            "RCL" => planned::reclone_outcome(input),
            "SW-H" => split_horizon::split_horizon(input),
            "EG" => eventually::eventually_primary(input),
            "DNS-C" => dns_convergence::dns_convergence(input),
            "STATUS" => status_truth::status_truth(input),
            "EVENTS" => events::events(input),
            "FLAP-D" => flap_durable::flap_durable(input),
            "TAINT" => taint::taint(input),
            "BKP-SRC" => backup::backup_source(input),
            "BKP-V" => backup::backup_verified(input),
            "DF" => dragonfly::dragonfly(input),
            "PLV" => poll_liveness::poll_liveness(input),
            "UPD" => ordered_update::ordered_update(input),
            "PWO" => promotion_order::no_promote_over_writer(input),
            "FBP" => promotion_order::fence_before_promote(input),
            "DEB" => debounce::debounce(input),
            other => Verdict::new(
                other,
                false,
                "-",
                "unknown property (the scenario loader should have refused it)",
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_claims;
#[cfg(test)]
mod tests_dragonfly;
#[cfg(test)]
mod tests_order;
#[cfg(test)]
mod tests_poll;
#[cfg(test)]
mod tests_update;
