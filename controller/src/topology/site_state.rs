//! Per-site state and debounce (spec §3.1).

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SiteState {
    Unknown,
    Writable,
    ReadOnly,
    Unreachable,
}

impl SiteState {
    pub fn as_str(self) -> &'static str {
        match self {
            SiteState::Unknown => "unknown",
            SiteState::Writable => "writable",
            SiteState::ReadOnly => "read-only",
            SiteState::Unreachable => "unreachable",
        }
    }
}

/// Debounces raw probe outcomes into a [`SiteState`].
#[derive(Clone, Debug)]
pub struct Debouncer {
    pub state: SiteState,
    pub fail_count: u32,
    pub writable_streak: u32,
}

impl Default for Debouncer {
    fn default() -> Self {
        Self {
            state: SiteState::Unknown,
            fail_count: 0,
            writable_streak: 0,
        }
    }
}

/// One probe outcome: `Some(read_only)` on success, `None` on error or timeout.
pub type Observation = Option<bool>;

impl Debouncer {
    /// Feeds one probe; returns `(from, to)` when the debounced state changed.
    ///
    /// - an error counts towards `failure_threshold`; the state holds until it is reached;
    /// - read_only=1 is taken at once;
    /// - read_only=0 needs `recovery_threshold` straight writable probes, except for a
    ///   non-promotable site, which is marked writable at once (it must be fenced quickly).
    pub fn observe(
        &mut self,
        obs: Observation,
        failure_threshold: u32,
        recovery_threshold: u32,
        promotable: bool,
    ) -> Option<(SiteState, SiteState)> {
        let from = self.state;
        match obs {
            None => {
                self.fail_count += 1;
                self.writable_streak = 0;
                if self.fail_count >= failure_threshold {
                    self.state = SiteState::Unreachable;
                }
            }
            Some(true) => {
                self.fail_count = 0;
                self.writable_streak = 0;
                self.state = SiteState::ReadOnly;
            }
            Some(false) => {
                self.fail_count = 0;
                self.writable_streak += 1;
                if !promotable || self.writable_streak >= recovery_threshold {
                    self.state = SiteState::Writable;
                }
            }
        }
        (from != self.state).then_some((from, self.state))
    }

    /// A promotion confirmed this site writable: take it at once.
    pub fn force_writable(&mut self) {
        self.state = SiteState::Writable;
        self.fail_count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_only_after_threshold_failures() {
        let mut d = Debouncer {
            state: SiteState::Writable,
            ..Default::default()
        };
        assert_eq!(d.observe(None, 3, 2, true), None);
        assert_eq!(d.observe(None, 3, 2, true), None);
        assert_eq!(d.state, SiteState::Writable);
        assert_eq!(
            d.observe(None, 3, 2, true),
            Some((SiteState::Writable, SiteState::Unreachable))
        );
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut d = Debouncer {
            state: SiteState::Writable,
            ..Default::default()
        };
        d.observe(None, 3, 2, true);
        d.observe(None, 3, 2, true);
        d.observe(Some(false), 3, 2, true);
        d.observe(None, 3, 2, true);
        d.observe(None, 3, 2, true);
        assert_eq!(d.state, SiteState::Writable);
    }

    #[test]
    fn read_only_is_immediate_writable_needs_the_recovery_threshold() {
        let mut d = Debouncer::default();
        assert_eq!(
            d.observe(Some(true), 3, 2, true),
            Some((SiteState::Unknown, SiteState::ReadOnly))
        );
        assert_eq!(d.observe(Some(false), 3, 2, true), None);
        assert_eq!(
            d.observe(Some(false), 3, 2, true),
            Some((SiteState::ReadOnly, SiteState::Writable))
        );
    }

    #[test]
    fn non_promotable_writable_is_immediate() {
        let mut d = Debouncer {
            state: SiteState::ReadOnly,
            ..Default::default()
        };
        assert_eq!(
            d.observe(Some(false), 3, 2, false),
            Some((SiteState::ReadOnly, SiteState::Writable))
        );
    }
}
