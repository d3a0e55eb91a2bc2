//! The local target's time scale: real processes run on real clocks, so a scenario's
//! timings are divided by [`FACTOR`] (poll 400 ms instead of 2 s, a fault at 30 s fires at
//! 6 s) and the trace is stamped with real time times [`FACTOR`], so the oracles' bounds
//! apply unchanged. The operator's own constants (probe timeout, drain budget, retry
//! backoffs) are not scaled: they are code, not configuration.

use std::time::Duration;

use bloodraven::crd::MysqlFailoverGroupSpec;
use bloodraven::duration;
use serde_json::{json, Value};

use crate::scenario::Loaded;

/// Scenario seconds per real second. 5 keeps the CRD defaults of the sidecar
/// (leaseTimeout 20s, peerCheckInterval 5s) at or above its clamps (3 s, 1 s).
pub const FACTOR: u32 = 5;

/// Real time of a scenario duration.
pub fn real(d: Duration) -> Duration {
    d / FACTOR
}

/// A Go duration in milliseconds (what the controller's and sidecar's parsers accept).
pub fn go(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn scaled(v: &str, field: &str) -> Result<Duration, String> {
    duration::parse(v)
        .map(real)
        .map_err(|e| format!("{field}: {e}"))
}

/// The MysqlFailoverGroup of the scenario with every timing of the controller and the
/// sidecars divided by [`FACTOR`]. Err names a timing the sidecar would clamp once scaled
/// (the run would not be the scenario any more).
pub fn group_object(loaded: &Loaded) -> Result<Value, String> {
    let mut g = crate::world::group_object(loaded);
    let spec: MysqlFailoverGroupSpec = serde_json::from_value(g["spec"].clone())
        .map_err(|e| format!("the scenario's group spec: {e}"))?;
    let lease = scaled(&spec.sidecar.lease_timeout, "sidecar.leaseTimeout")?;
    let peer = scaled(
        &spec.sidecar.peer_check_interval,
        "sidecar.peerCheckInterval",
    )?;
    let min_peer = bloodraven_sidecar::config::MIN_PEER_CHECK_INTERVAL;
    let min_lease = bloodraven_sidecar::config::MIN_LEASE_TIMEOUT.max(peer * 3);
    if peer < min_peer || lease < min_lease {
        return Err(format!(
            "scaled by 1/{FACTOR}, sidecar.peerCheckInterval {} and leaseTimeout {} fall below the sidecar's clamps ({} and max(3s, 3 x interval)), which would change the scenario",
            spec.sidecar.peer_check_interval,
            spec.sidecar.lease_timeout,
            go(min_peer)
        ));
    }
    let s = &mut g["spec"];
    s["pollInterval"] = json!(go(scaled(&spec.poll_interval, "pollInterval")?));
    s["failoverCooldown"] = json!(go(scaled(&spec.failover_cooldown, "failoverCooldown")?));
    s["sidecar"]["leaseTimeout"] = json!(go(lease));
    s["sidecar"]["peerCheckInterval"] = json!(go(peer));
    if !s["plannedFailover"].is_object() {
        s["plannedFailover"] = json!({});
    }
    let p = &spec.planned_failover;
    s["plannedFailover"]["maxLagWait"] =
        json!(go(scaled(&p.max_lag_wait, "plannedFailover.maxLagWait")?));
    s["plannedFailover"]["drainTimeout"] = json!(go(scaled(
        &p.drain_timeout,
        "plannedFailover.drainTimeout"
    )?));
    Ok(g)
}

/// A planned-failover annotation value with its duration options scaled
/// (`b:maxLagWait=10s` -> `b:maxLagWait=2000ms`); anything else is kept as written.
pub fn annotation_value(v: &str) -> String {
    v.split(':')
        .map(|part| match part.split_once('=') {
            Some((k, d)) => match duration::parse(d) {
                Ok(d) => format!("{k}={}", go(real(d))),
                Err(_) => part.to_string(),
            },
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_options_scale_and_the_rest_stays() {
        assert_eq!(annotation_value("b"), "b");
        assert_eq!(
            annotation_value("b:maxLagWait=10s:drainTimeout=1m"),
            "b:maxLagWait=2000ms:drainTimeout=12000ms"
        );
        assert_eq!(annotation_value("a:confirm=demo"), "a:confirm=demo");
    }

    #[test]
    fn the_default_timings_scale_and_a_short_lease_is_refused() {
        let dir = crate::scenario::catalog_dir();
        let kill = crate::scenario::find(&dir, "kill-site").unwrap();
        let g = group_object(&kill).unwrap();
        assert_eq!(g["spec"]["pollInterval"], "400ms");
        assert_eq!(g["spec"]["sidecar"]["leaseTimeout"], "4000ms");
        assert_eq!(g["spec"]["sidecar"]["peerCheckInterval"], "1000ms");
        let mut short = kill.clone();
        short.scenario.topology.spec.lease_timeout = Some("10s".into());
        let e = group_object(&short).unwrap_err();
        assert!(e.contains("clamps"), "{e}");
    }
}
