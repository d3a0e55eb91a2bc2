//! Building the group status and the Events that follow from its changes (spec §2.2, §8).

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::{MysqlFailoverGroupStatus, SiteStatus};

/// Builds a status's conditions, keeping `lastTransitionTime` unless a status flips.
pub struct Conditions<'a> {
    pub list: Vec<Condition>,
    pub previous: &'a [Condition],
    pub generation: i64,
    pub now: DateTime<Utc>,
}

impl Conditions<'_> {
    pub fn set(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let status_str = if status { "True" } else { "False" };
        let transition = self
            .previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status_str)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(super::k8s::jiff_ts(self.now)));
        self.list.retain(|c| c.type_ != type_);
        self.list.push(Condition {
            type_: type_.into(),
            status: status_str.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: Some(self.generation),
            last_transition_time: transition,
        });
    }
}

pub fn condition<'a>(status: &'a MysqlFailoverGroupStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// An Event to emit once the status write carrying its cause succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The Events implied by going from the last written status to the new one.
pub fn events_between(
    old: Option<&MysqlFailoverGroupStatus>,
    new: &MysqlFailoverGroupStatus,
) -> Vec<PendingEvent> {
    let mut out = vec![];
    let old_target = old.and_then(|o| o.last_failover_target.clone());
    if let Some(target) = &new.last_failover_target {
        let changed = old_target.as_ref() != Some(target)
            || old.and_then(|o| o.last_failover.clone()) != new.last_failover;
        if changed && (old.is_some() || new.last_failover.is_some()) {
            out.push(PendingEvent {
                warning: false,
                reason: "FailoverExecuted",
                message: format!("Failover completed: {target} promoted as new primary"),
            });
        }
    }
    let reason_of = |s: &MysqlFailoverGroupStatus| {
        condition(s, "Degraded")
            .map(|c| c.reason.clone())
            .unwrap_or_default()
    };
    let (old_reason, new_reason) = (old.map(reason_of).unwrap_or_default(), reason_of(new));
    if old_reason != new_reason {
        let ev = |reason, message: &str| PendingEvent {
            warning: true,
            reason,
            message: message.to_string(),
        };
        let msg = condition(new, "Degraded")
            .map(|c| c.message.clone())
            .unwrap_or_default();
        match new_reason.as_str() {
            "SplitBrain" => out.push(ev("SplitBrainDetected", &msg)),
            "NoPrimary" => out.push(ev("NoPrimaryDetected", &msg)),
            "TotalLoss" => out.push(ev("TotalLossDetected", &msg)),
            "Healthy" if !old_reason.is_empty() => out.push(PendingEvent {
                warning: false,
                reason: "SiteRecovered",
                message: "All sites healthy".into(),
            }),
            _ => {}
        }
    }
    // The group reconciler's Secret problems (spec §8.2 SecretNotFound, SecretMissingKey),
    // once per change of reason.
    let resources = |s: Option<&MysqlFailoverGroupStatus>| {
        s.and_then(|s| condition(s, crate::reconcile::CONDITION))
            .map(|c| (c.reason.clone(), c.message.clone()))
    };
    if let Some((reason, message)) = resources(Some(new)) {
        let before = resources(old).map(|(r, _)| r);
        let r = match reason.as_str() {
            "SecretNotFound" => Some("SecretNotFound"),
            "SecretMissingKey" => Some("SecretMissingKey"),
            _ => None,
        };
        if let Some(r) = r.filter(|r| before.as_deref() != Some(*r)) {
            out.push(PendingEvent {
                warning: true,
                reason: r,
                message,
            });
        }
    }
    for site in &new.sites {
        let before: Option<&SiteStatus> =
            old.and_then(|o| o.sites.iter().find(|s| s.name == site.name));
        let was_blocked =
            before.map(|b| (b.recovery_state.as_str(), b.divergent_transaction_count));
        if site.recovery_state == "RecoveryBlocked"
            && was_blocked != Some(("RecoveryBlocked", site.divergent_transaction_count))
        {
            out.push(PendingEvent {
                warning: true,
                reason: "DataLossDetected",
                message: format!(
                    "Site {} has {} divergent transactions ({})",
                    site.name,
                    site.divergent_transaction_count.unwrap_or(0),
                    site.divergent_gtid
                ),
            });
        }
        if let Some(b) = before {
            if !b.recovery_state.is_empty()
                && site.recovery_state.is_empty()
                && site.state != "writable"
            {
                out.push(PendingEvent {
                    warning: false,
                    reason: "RecoveryComplete",
                    message: format!("Site {} rejoined as a replica", site.name),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(target: Option<&str>, at: Option<&str>) -> MysqlFailoverGroupStatus {
        MysqlFailoverGroupStatus {
            last_failover_target: target.map(String::from),
            last_failover: at.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn failover_event_only_when_the_record_changes() {
        let before = status(Some("a"), Some("2026-01-01T00:00:00Z"));
        let same = before.clone();
        assert!(events_between(Some(&before), &same).is_empty());
        let after = status(Some("b"), Some("2026-01-01T00:01:00Z"));
        let evs = events_between(Some(&before), &after);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].reason, "FailoverExecuted");
        assert!(evs[0].message.contains("b promoted"));
    }

    #[test]
    fn secret_problems_raise_one_event_per_reason() {
        let with = |reason: &str| {
            let mut s = MysqlFailoverGroupStatus::default();
            let mut c = Conditions {
                list: vec![],
                previous: &[],
                generation: 1,
                now: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            };
            c.set(
                crate::reconcile::CONDITION,
                reason == "ResourcesApplied",
                reason,
                "m",
            );
            s.conditions = c.list;
            s
        };
        let ok = with("ResourcesApplied");
        let missing = with("SecretNotFound");
        let evs = events_between(Some(&ok), &missing);
        assert_eq!(evs.len(), 1);
        assert_eq!((evs[0].reason, evs[0].warning), ("SecretNotFound", true));
        assert!(events_between(Some(&missing), &missing).is_empty());
        let evs = events_between(Some(&missing), &with("SecretMissingKey"));
        assert_eq!(evs[0].reason, "SecretMissingKey");
        assert!(events_between(Some(&missing), &ok).is_empty());
    }

    #[test]
    fn blocked_site_raises_data_loss_once_per_count() {
        let mut old = MysqlFailoverGroupStatus::default();
        old.sites.push(SiteStatus {
            name: "a".into(),
            state: "read-only".into(),
            ..Default::default()
        });
        let mut new = old.clone();
        new.sites[0].recovery_state = "RecoveryBlocked".into();
        new.sites[0].divergent_transaction_count = Some(2);
        let evs = events_between(Some(&old), &new);
        assert_eq!(
            evs.iter()
                .filter(|e| e.reason == "DataLossDetected")
                .count(),
            1
        );
        assert!(events_between(Some(&new), &new).is_empty());
    }
}
