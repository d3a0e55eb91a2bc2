//! `bloodraven.shipstream.io/planned-failover=<site>[:maxLagWait=<dur>][:drainTimeout=<dur>]`
//! (spec §4.1): whitespace trimmed, `:` separates `key=value` options, unknown or repeated
//! keys are rejected, durations are positive Go durations.

use std::time::Duration;

use super::AnnotationError;
use crate::duration;

pub const PLANNED_FAILOVER: &str = "bloodraven.shipstream.io/planned-failover";

/// A parsed planned-failover request. Options left out fall back to the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    pub site: String,
    pub max_lag_wait: Option<Duration>,
    pub drain_timeout: Option<Duration>,
}

impl PlannedRequest {
    pub fn new(site: &str) -> Self {
        Self {
            site: site.to_string(),
            max_lag_wait: None,
            drain_timeout: None,
        }
    }

    pub fn parse(raw: &str) -> Result<Self, AnnotationError> {
        let err = |problem: String| AnnotationError {
            key: PLANNED_FAILOVER,
            value: raw.to_string(),
            problem,
        };
        let value = raw.trim();
        if value.is_empty() {
            return Err(err(
                "empty value: expected <site>[:maxLagWait=<duration>][:drainTimeout=<duration>]"
                    .into(),
            ));
        }
        let mut parts = value.split(':').map(str::trim);
        let site = parts.next().unwrap_or_default();
        if site.is_empty() {
            return Err(err("empty site name before the first ':'".into()));
        }
        if site.contains('=') {
            return Err(err(format!(
                "{site:?} is an option, but the value must start with the target site name"
            )));
        }
        let mut req = Self::new(site);
        for opt in parts {
            let Some((key, val)) = opt.split_once('=') else {
                return Err(err(format!(
                    "option {opt:?} is not key=value (known keys: maxLagWait, drainTimeout)"
                )));
            };
            let (key, val) = (key.trim(), val.trim());
            let slot = match key {
                "maxLagWait" => &mut req.max_lag_wait,
                "drainTimeout" => &mut req.drain_timeout,
                other => {
                    return Err(err(format!(
                        "unknown option {other:?} (known keys: maxLagWait, drainTimeout)"
                    )))
                }
            };
            if slot.is_some() {
                return Err(err(format!("option {key} given twice")));
            }
            let d = duration::parse(val).map_err(|e| err(format!("{key}: {e}")))?;
            if d.is_zero() {
                return Err(err(format!("{key}: {val:?} must be a positive duration")));
            }
            *slot = Some(d);
        }
        Ok(req)
    }

    /// The annotation value, in the form [`parse`](Self::parse) reads back.
    pub fn render(&self) -> String {
        let mut out = self.site.clone();
        if let Some(d) = self.max_lag_wait {
            out.push_str(&format!(":maxLagWait={}", duration::format(d)));
        }
        if let Some(d) = self.drain_timeout {
            out.push_str(&format!(":drainTimeout={}", duration::format(d)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_site_and_options() {
        assert_eq!(
            PlannedRequest::parse(" b ").unwrap(),
            PlannedRequest::new("b")
        );
        let r = PlannedRequest::parse("b:maxLagWait=90s:drainTimeout=5s").unwrap();
        assert_eq!(r.site, "b");
        assert_eq!(r.max_lag_wait, Some(Duration::from_secs(90)));
        assert_eq!(r.drain_timeout, Some(Duration::from_secs(5)));
        let r = PlannedRequest::parse("b : drainTimeout = 1m").unwrap();
        assert_eq!(r.drain_timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn render_round_trips() {
        for v in ["b", "b:maxLagWait=1m30s", "b:maxLagWait=5s:drainTimeout=2s"] {
            let r = PlannedRequest::parse(v).unwrap();
            assert_eq!(r.render(), v);
            assert_eq!(PlannedRequest::parse(&r.render()).unwrap(), r);
        }
    }

    #[test]
    fn rejects_bad_values_naming_the_problem() {
        let cases = [
            ("", "empty value"),
            ("  ", "empty value"),
            (":maxLagWait=5s", "empty site name"),
            ("maxLagWait=5s", "must start with the target site"),
            ("b:lag=5s", "unknown option \"lag\""),
            ("b:maxLagWait", "is not key=value"),
            ("b:maxLagWait=5", "maxLagWait: invalid duration"),
            ("b:maxLagWait=soon", "maxLagWait: invalid duration"),
            ("b:drainTimeout=0s", "must be a positive duration"),
            ("b:maxLagWait=-1s", "maxLagWait"),
            ("b:maxLagWait=1s:maxLagWait=2s", "given twice"),
        ];
        for (raw, want) in cases {
            let e = PlannedRequest::parse(raw).unwrap_err().to_string();
            assert!(e.contains(want), "{raw:?}: {e}");
            assert!(
                e.starts_with("annotation bloodraven.shipstream.io/planned-failover="),
                "{e}"
            );
        }
    }
}
