//! Which site a backup is read from (spec §2.4): a replica first, the freshest one within
//! the profile's `maxLagSecondsForSource`; the active primary only when no replica
//! qualifies and the profile allows it; never a reader. While the group has no confirmed
//! writable primary (a failover in progress) the choice waits: a replica of a primary that
//! is being replaced may be about to be repointed, and the old primary may be gone.

use crate::crd::SiteRole;

use super::crd::BackupProfile;

/// One site as this poll saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceView {
    pub name: String,
    pub role: SiteRole,
    /// The group's confirmed active primary.
    pub active: bool,
    /// This poll's probe reached it.
    pub reachable: bool,
    /// Read-only with both replication threads running (steadily).
    pub replicating: bool,
    pub lag_seconds: Option<i64>,
    /// Replication threads run but the lag is not yet steadily known (just repointed,
    /// restarting): it may be a fit source in a few polls.
    pub catching_up: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    Site(String),
    /// Not now; the reason is recorded and the choice retried every poll.
    Wait(String),
    /// Never: the request is wrong (`reason`, `message`).
    Refuse(&'static str, String),
}

pub fn choose(sites: &[SourceView], source_override: Option<&str>, p: &BackupProfile) -> Choice {
    if let Some(name) = source_override {
        let Some(s) = sites.iter().find(|s| s.name == name) else {
            return Choice::Refuse(
                "InvalidSource",
                format!(
                    "sourceSiteOverride {name:?} is not a site of the group (sites: {})",
                    sites
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        };
        if s.role == SiteRole::ReadOnly {
            return Choice::Refuse(
                "InvalidSource",
                format!("site {name} is a reader: backups are never taken from readers"),
            );
        }
        return if s.reachable {
            Choice::Site(name.to_string())
        } else {
            Choice::Wait(format!("source site {name} is unreachable"))
        };
    }
    let Some(active) = sites.iter().find(|s| s.active && s.reachable) else {
        return Choice::Wait("no confirmed writable primary (failover in progress?)".into());
    };
    let replica = sites
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            !s.active
                && s.role != SiteRole::ReadOnly
                && s.reachable
                && s.replicating
                && s.lag_seconds
                    .is_some_and(|l| l >= 0 && l as u64 <= p.max_lag_seconds_for_source)
        })
        .min_by_key(|(i, s)| (s.lag_seconds, *i));
    let starting = sites
        .iter()
        .find(|s| !s.active && s.role != SiteRole::ReadOnly && s.reachable && s.catching_up);
    match (replica, starting) {
        (Some((_, s)), _) => Choice::Site(s.name.clone()),
        // Replica first: the primary is only a fallback once no replica is about to be fit.
        (None, Some(s)) => Choice::Wait(format!(
            "replica {} is (re)starting replication; waiting for it rather than loading the primary",
            s.name
        )),
        (None, None) if p.allow_primary_source => Choice::Site(active.name.clone()),
        (None, None) => Choice::Wait(format!(
            "no replica within maxLagSecondsForSource {} and the profile does not allow the primary",
            p.max_lag_seconds_for_source
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> BackupProfile {
        serde_json::from_value(serde_json::json!({"name": "nightly", "bucket": "b"})).unwrap()
    }

    fn site(name: &str, role: SiteRole, active: bool, lag: Option<i64>) -> SourceView {
        SourceView {
            name: name.into(),
            role,
            active,
            reachable: true,
            replicating: !active && lag.is_some(),
            lag_seconds: lag,
            catching_up: false,
        }
    }

    use SiteRole::{DrOnly, PrimaryCandidate as Pc, ReadOnly as Reader};

    #[test]
    fn the_freshest_replica_within_the_lag_limit_first() {
        let sites = [
            site("a", Pc, true, None),
            site("b", Pc, false, Some(4)),
            site("c", DrOnly, false, Some(1)),
            site("r", Reader, false, Some(0)),
        ];
        assert_eq!(choose(&sites, None, &profile()), Choice::Site("c".into()));
    }

    #[test]
    fn the_primary_only_when_no_replica_qualifies_and_allowed() {
        let mut p = profile();
        p.max_lag_seconds_for_source = 10;
        let sites = [
            site("a", Pc, true, None),
            site("b", Pc, false, Some(11)),
            site("r", Reader, false, Some(0)),
        ];
        assert_eq!(choose(&sites, None, &p), Choice::Site("a".into()));
        p.allow_primary_source = false;
        assert!(matches!(choose(&sites, None, &p), Choice::Wait(_)));
    }

    #[test]
    fn a_replica_catching_up_is_waited_for_before_the_primary() {
        let mut c = site("c", Pc, false, None);
        c.catching_up = true;
        let sites = [site("a", Pc, true, None), c];
        assert!(matches!(choose(&sites, None, &profile()), Choice::Wait(_)));
    }

    #[test]
    fn waits_without_a_confirmed_primary() {
        let mut a = site("a", Pc, true, None);
        a.reachable = false;
        let sites = [a, site("b", Pc, false, Some(0))];
        assert!(matches!(choose(&sites, None, &profile()), Choice::Wait(_)));
    }

    #[test]
    fn an_override_never_names_a_reader_or_a_stranger() {
        let sites = [site("a", Pc, true, None), site("r", Reader, false, Some(0))];
        assert!(matches!(
            choose(&sites, Some("r"), &profile()),
            Choice::Refuse("InvalidSource", _)
        ));
        assert!(matches!(
            choose(&sites, Some("zz"), &profile()),
            Choice::Refuse("InvalidSource", _)
        ));
        assert_eq!(
            choose(&sites, Some("a"), &profile()),
            Choice::Site("a".into())
        );
    }
}
