//! The cross-site decision (spec §3.2): a pure function of the debounced site states.

use crate::crd::SiteRole;

use super::site_state::SiteState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteView {
    pub name: String,
    pub role: SiteRole,
    pub state: SiteState,
}

/// Matrix reason, also the `Degraded` condition reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Healthy,
    Degraded,
    SplitBrain,
    NoPrimary,
    TotalLoss,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Healthy => "Healthy",
            Reason::Degraded => "Degraded",
            Reason::SplitBrain => "SplitBrain",
            Reason::NoPrimary => "NoPrimary",
            Reason::TotalLoss => "TotalLoss",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossSite {
    pub reason: Reason,
    pub alert: String,
    /// Writable non-candidate sites: fence them, no promotion this poll.
    pub fence_sites: Vec<String>,
    pub split_brain: bool,
    /// Read-only candidates, in priority order, when a promotion is warranted.
    pub promotion_candidates: Vec<String>,
}

/// Evaluates the matrix. `priorities` orders candidates (then declared order).
pub fn evaluate(sites: &[SiteView], priorities: &[String]) -> CrossSite {
    let mut out = CrossSite {
        reason: Reason::Healthy,
        alert: String::new(),
        fence_sites: vec![],
        split_brain: false,
        promotion_candidates: vec![],
    };
    let core: Vec<&SiteView> = sites
        .iter()
        .filter(|s| s.role != SiteRole::ReadOnly)
        .collect();
    let writable_non_candidates: Vec<String> = sites
        .iter()
        .filter(|s| s.state == SiteState::Writable && !s.role.is_promotable())
        .map(|s| s.name.clone())
        .collect();
    if !writable_non_candidates.is_empty() {
        out.reason = Reason::Degraded;
        out.alert = format!(
            "writable non-promotable site requires fencing ({})",
            writable_non_candidates.join(", ")
        );
        out.fence_sites = writable_non_candidates;
        return out;
    }
    if !core.is_empty() && core.iter().all(|s| s.state == SiteState::Unreachable) {
        out.reason = Reason::TotalLoss;
        out.alert = "TOTAL LOSS: all sites are unreachable".into();
        return out;
    }
    let writable: Vec<&SiteView> = core
        .iter()
        .copied()
        .filter(|s| s.state == SiteState::Writable)
        .collect();
    let unreachable: Vec<&SiteView> = core
        .iter()
        .copied()
        .filter(|s| s.state == SiteState::Unreachable)
        .collect();
    let read_only: Vec<&SiteView> = core
        .iter()
        .copied()
        .filter(|s| s.state == SiteState::ReadOnly)
        .collect();
    match writable.len() {
        0 => {
            if !unreachable.is_empty() && !read_only.is_empty() {
                out.reason = Reason::Degraded;
                let mut cands: Vec<&SiteView> = read_only
                    .iter()
                    .copied()
                    .filter(|s| s.role.is_promotable())
                    .collect();
                cands.sort_by_key(|s| {
                    let prio = priorities
                        .iter()
                        .position(|p| p == &s.name)
                        .unwrap_or(usize::MAX);
                    let declared = sites
                        .iter()
                        .position(|x| x.name == s.name)
                        .unwrap_or(usize::MAX);
                    (prio, declared)
                });
                out.promotion_candidates = cands.iter().map(|s| s.name.clone()).collect();
                out.alert = format!(
                    "{} unreachable, no writable site",
                    unreachable
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            } else {
                out.reason = Reason::NoPrimary;
                out.alert = if core.len() == 2 && read_only.len() == 2 {
                    "NO PRIMARY: both sites are read-only".into()
                } else {
                    "NO PRIMARY: no writable site available".into()
                };
            }
        }
        1 => {
            if !unreachable.is_empty() {
                out.reason = Reason::Degraded;
                out.alert = format!(
                    "{} unreachable while {} is primary",
                    unreachable
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    writable[0].name
                );
            }
        }
        n => {
            out.reason = Reason::SplitBrain;
            out.split_brain = true;
            out.alert = format!(
                "SPLIT BRAIN: {n} sites are writable ({})",
                writable
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    out
}

/// The first priority entry that is writable and a candidate; never declared order.
pub fn resolve_split_brain(sites: &[SiteView], priorities: &[String]) -> Option<String> {
    priorities
        .iter()
        .find(|p| {
            sites
                .iter()
                .any(|s| &s.name == *p && s.state == SiteState::Writable && s.role.is_promotable())
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use SiteState::*;

    fn v(name: &str, role: SiteRole, state: SiteState) -> SiteView {
        SiteView {
            name: name.into(),
            role,
            state,
        }
    }
    const PC: SiteRole = SiteRole::PrimaryCandidate;

    #[test]
    fn promotes_only_with_no_writer_an_unreachable_and_a_read_only() {
        let r = evaluate(&[v("a", PC, Unreachable), v("b", PC, ReadOnly)], &[]);
        assert_eq!(r.reason, Reason::Degraded);
        assert_eq!(r.promotion_candidates, vec!["b"]);
        let healthy = evaluate(&[v("a", PC, Writable), v("b", PC, ReadOnly)], &[]);
        assert_eq!(healthy.reason, Reason::Healthy);
        assert!(healthy.promotion_candidates.is_empty());
        let both_ro = evaluate(&[v("a", PC, ReadOnly), v("b", PC, ReadOnly)], &[]);
        assert_eq!(both_ro.reason, Reason::NoPrimary);
        assert_eq!(both_ro.alert, "NO PRIMARY: both sites are read-only");
        assert!(both_ro.promotion_candidates.is_empty());
    }

    #[test]
    fn total_loss_and_split_brain() {
        let t = evaluate(&[v("a", PC, Unreachable), v("b", PC, Unreachable)], &[]);
        assert_eq!(t.reason, Reason::TotalLoss);
        assert_eq!(t.alert, "TOTAL LOSS: all sites are unreachable");
        let s = evaluate(&[v("a", PC, Writable), v("b", PC, Writable)], &[]);
        assert!(s.split_brain);
        assert_eq!(s.reason, Reason::SplitBrain);
    }

    #[test]
    fn dr_only_and_readers_are_never_candidates_and_writable_ones_get_fenced() {
        let r = evaluate(
            &[
                v("a", PC, Unreachable),
                v("b", PC, ReadOnly),
                v("d", SiteRole::DrOnly, ReadOnly),
                v("r", SiteRole::ReadOnly, ReadOnly),
            ],
            &[],
        );
        assert_eq!(r.promotion_candidates, vec!["b"]);
        let f = evaluate(
            &[
                v("a", PC, Writable),
                v("b", PC, ReadOnly),
                v("d", SiteRole::DrOnly, Writable),
            ],
            &[],
        );
        assert_eq!(f.fence_sites, vec!["d"]);
        assert!(f.promotion_candidates.is_empty());
    }

    #[test]
    fn candidates_follow_priorities_then_declared_order() {
        let sites = [
            v("a", PC, Unreachable),
            v("b", PC, ReadOnly),
            v("c", PC, ReadOnly),
        ];
        assert_eq!(evaluate(&sites, &[]).promotion_candidates, vec!["b", "c"]);
        assert_eq!(
            evaluate(&sites, &["c".into()]).promotion_candidates,
            vec!["c", "b"]
        );
    }

    #[test]
    fn split_brain_resolution_uses_priorities_only() {
        let sites = [v("a", PC, Writable), v("b", PC, Writable)];
        assert_eq!(
            resolve_split_brain(&sites, &["b".into(), "a".into()]),
            Some("b".into())
        );
        assert_eq!(resolve_split_brain(&sites, &[]), None);
    }
}
