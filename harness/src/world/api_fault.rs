//! Applies the scenario's apiserver faults to the fake apiserver (and records them).

use crate::fake_k8s::{ApiServer, OutageMode};
use crate::scenario::ApiFault;
use crate::trace::{EventKind, Trace};

/// `(plural, subresource)` a `deny` resource name refuses writes to.
pub fn denied_target(resource: &str) -> (&'static str, Option<&'static str>) {
    match resource {
        "status" => ("mysqlfailovergroups", Some("status")),
        "mfg" => ("mysqlfailovergroups", None),
        "mfg-object" => ("mysqlfailovergroups", Some("")),
        "dnsendpoints" => ("dnsendpoints", None),
        "nodes" => ("nodes", None),
        "events" => ("events", None),
        other => unreachable!("deny resource {other:?} passed validation"),
    }
}

fn outage_mode(mode: &str) -> OutageMode {
    match mode {
        "refuse" => OutageMode::Refuse,
        "503" => OutageMode::Refuse503,
        "hang" => OutageMode::Hang,
        other => unreachable!("outage mode {other:?} passed validation"),
    }
}

/// Starts (`heal == false`) or heals one apiserver fault.
pub fn apply(api: &ApiServer, op: &str, fault: &ApiFault, heal: bool, trace: &Trace) {
    let detail = match fault {
        ApiFault::Outage(mode) => {
            api.set_outage((!heal).then(|| outage_mode(mode)));
            format!("mode {mode}")
        }
        ApiFault::Deny(resource) => {
            let (plural, sub) = denied_target(resource);
            if heal {
                api.allow(plural, sub);
            } else {
                api.deny(plural, sub);
            }
            match sub {
                Some("") => format!("{plural} (not its subresources)"),
                Some(sub) => format!("{plural}/{sub}"),
                None => plural.to_string(),
            }
        }
        ApiFault::WatchStall => {
            api.stall_watches(!heal);
            "watch streams".to_string()
        }
        ApiFault::Latency { min, max } => {
            if heal {
                api.set_latency(std::time::Duration::ZERO);
            } else {
                api.set_latency_range(*min, *max);
            }
            format!("{min:?}..{max:?}")
        }
        ApiFault::StaleReads(lag) => {
            api.set_stale_reads((!heal).then_some(*lag));
            format!("lag {lag:?}")
        }
    };
    trace.record(EventKind::Fault {
        op: op.to_string(),
        detail,
        heal,
    });
}
