//! The fencing monitor's decision logic (spec §6.4), free of I/O so it is testable
//! synchronously. The I/O loop in [`crate::fencing`] feeds it observations and carries
//! out the [`Action`] it returns.
//!
//! Leases are measured with `tokio::time::Instant` (virtual under turmoil). Wall-clock
//! stamps (`observedAt`) only order topology views; they never drive a lease.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// The cached view of the operator-authoritative active site. `active_site == ""` means
/// "no active site known as of `observed_at`" (served as 204 to peers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyView {
    pub active_site: String,
    pub observed_at: DateTime<Utc>,
}

/// Why the monitor wants to fence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceReason {
    /// Rule 1: the cached active site names another site.
    TopologyMismatch {
        active_site: String,
        observed_at: DateTime<Utc>,
    },
    /// Rule 2: the controller and every peer have been silent beyond the lease.
    LeaseExpired {
        since_controller: Duration,
        since_peer: Option<Duration>,
    },
}

/// What the I/O loop must do after [`Monitor::evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// MySQL became writable after a self-fence (the operator restored it): the monitor
    /// cleared `fenced`, reset every lease to now and cleared the topology cache.
    Rearmed,
    /// Set `super_read_only = ON` (then call [`Monitor::mark_fenced`] if it holds).
    Fence(FenceReason),
}

#[derive(Debug)]
pub struct Monitor {
    my_site: String,
    topology_enabled: bool,
    lease: Duration,
    last_controller_ok: Instant,
    /// Keyed by `host:port`; a BTreeMap so iteration order never depends on hashing.
    last_peer_ok: BTreeMap<String, Instant>,
    view: Option<TopologyView>,
    /// The controller answered `/active-site` with 200 during the current tick.
    authoritative_this_tick: bool,
    fenced: bool,
    /// `@@read_only` at the previous evaluation (`None` before the first).
    was_read_only: Option<bool>,
}

impl Monitor {
    /// A monitor whose leases all start at `now` (the startup grace).
    pub fn new(
        my_site: impl Into<String>,
        topology_enabled: bool,
        peers: impl IntoIterator<Item = String>,
        lease: Duration,
        now: Instant,
    ) -> Self {
        Self {
            my_site: my_site.into(),
            topology_enabled,
            lease,
            last_controller_ok: now,
            last_peer_ok: peers.into_iter().map(|p| (p, now)).collect(),
            view: None,
            authoritative_this_tick: false,
            fenced: false,
            was_read_only: None,
        }
    }

    /// Stamps every reachability signal as seen at `now`: rule 2 cannot fire until a full
    /// lease has elapsed. Called when the monitor loop starts (after the safety net).
    pub fn seed_startup_grace(&mut self, now: Instant) {
        self.last_controller_ok = now;
        for t in self.last_peer_ok.values_mut() {
            *t = now;
        }
    }

    /// Start of a tick.
    pub fn begin_tick(&mut self) {
        self.authoritative_this_tick = false;
    }

    /// `GET /healthz` on the controller answered 200.
    pub fn observe_controller_ok(&mut self, now: Instant) {
        self.last_controller_ok = now;
    }

    /// The controller's `/active-site` answered 200 with `site` (possibly ""). The
    /// operator is authoritative: the cache is overwritten without comparing stamps.
    pub fn observe_controller_active_site(&mut self, site: &str, now_wall: DateTime<Utc>) {
        self.view = Some(TopologyView {
            active_site: site.to_string(),
            observed_at: now_wall,
        });
        self.authoritative_this_tick = true;
    }

    /// `GET /peer/ping` on `peer` answered 200.
    pub fn observe_peer_ok(&mut self, peer: &str, now: Instant) {
        if let Some(t) = self.last_peer_ok.get_mut(peer) {
            *t = now;
        } else {
            self.last_peer_ok.insert(peer.to_string(), now);
        }
    }

    /// A peer's `/peer/active-site` view. Adopted only if its `observedAt` is strictly
    /// newer than the cached one. Returns whether it was adopted.
    ///
    /// Two guards against wall-clock skew between hosts (scenario `clock-skew`):
    /// - a peer view never overrides the controller's own answer from the same tick;
    /// - a peer stamp from our future is clamped to our `now_wall`, so a fast peer clock
    ///   cannot pin a stale view ahead of later authoritative stamps.
    pub fn observe_peer_active_site(
        &mut self,
        site: &str,
        observed_at: DateTime<Utc>,
        now_wall: DateTime<Utc>,
    ) -> bool {
        if !self.topology_enabled || site.is_empty() || self.authoritative_this_tick {
            return false;
        }
        let observed_at = observed_at.min(now_wall);
        if let Some(v) = &self.view {
            if observed_at <= v.observed_at {
                return false;
            }
        }
        self.view = Some(TopologyView {
            active_site: site.to_string(),
            observed_at,
        });
        true
    }

    /// Seeds the cache from the safety net's answer (a foreign active site).
    pub fn seed_view(&mut self, site: &str, now_wall: DateTime<Utc>) {
        self.view = Some(TopologyView {
            active_site: site.to_string(),
            observed_at: now_wall,
        });
    }

    /// The non-empty cached view, as served on `/peer/active-site`.
    pub fn active_view(&self) -> Option<&TopologyView> {
        self.view.as_ref().filter(|v| !v.active_site.is_empty())
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced
    }

    /// The fence holds (the SET landed, or the probe showed read-only).
    pub fn mark_fenced(&mut self) {
        self.fenced = true;
    }

    /// The decision of one tick, given MySQL's current `@@read_only`.
    pub fn evaluate(&mut self, now: Instant, now_wall: DateTime<Utc>, read_only: bool) -> Action {
        let was_read_only = self.was_read_only.replace(read_only);
        let mut rearmed = false;
        if self.fenced {
            if read_only {
                return Action::Nothing;
            }
            // Writable after a self-fence: only the operator restores a fenced site, so
            // this is fresh evidence of it. A full new lease, and an empty view stamped
            // now so older peer views cannot re-fence the site just promoted.
            self.fenced = false;
            self.seed_startup_grace(now);
            self.view = Some(TopologyView {
                active_site: String::new(),
                observed_at: now_wall,
            });
            rearmed = true;
        }
        if read_only {
            // Replicas (and fenced instances) never self-fence.
            return Action::Nothing;
        }
        if was_read_only == Some(true) && !rearmed {
            // Read-only last tick, writable now: the operator promoted us (or a human
            // unfenced us) since then. Every view cached so far, this tick's included,
            // may predate that, so none of them may fence the site just promoted; only a
            // view observed from now on can (the aux endpoint may be down, explore run
            // 126). Leases are kept: an isolated new primary still fences after L.
            self.view = Some(TopologyView {
                active_site: String::new(),
                observed_at: now_wall,
            });
        }

        if self.topology_enabled {
            if let Some(v) = self.active_view() {
                if v.active_site != self.my_site {
                    return Action::Fence(FenceReason::TopologyMismatch {
                        active_site: v.active_site.clone(),
                        observed_at: v.observed_at,
                    });
                }
            }
        }

        let since_controller = now.saturating_duration_since(self.last_controller_ok);
        let since_peer = self
            .last_peer_ok
            .values()
            .max()
            .map(|latest| now.saturating_duration_since(*latest));
        let controller_down = since_controller > self.lease;
        let peers_down = since_peer.is_none_or(|d| d > self.lease);
        if controller_down && peers_down {
            return Action::Fence(FenceReason::LeaseExpired {
                since_controller,
                since_peer,
            });
        }

        if rearmed {
            Action::Rearmed
        } else {
            Action::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const LEASE: Duration = Duration::from_secs(20);
    const TICK: Duration = Duration::from_secs(5);

    fn wall(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn monitor(peers: &[&str]) -> (Monitor, Instant) {
        let now = Instant::now();
        let m = Monitor::new("a", true, peers.iter().map(|p| p.to_string()), LEASE, now);
        (m, now)
    }

    fn is_lease_fence(a: &Action) -> bool {
        matches!(a, Action::Fence(FenceReason::LeaseExpired { .. }))
    }

    #[test]
    fn rule2_fences_only_after_the_lease() {
        let (mut m, t0) = monitor(&[]);
        assert_eq!(
            m.evaluate(t0 + LEASE, wall(20), false),
            Action::Nothing,
            "== lease is not beyond it"
        );
        assert_eq!(
            m.evaluate(t0 + LEASE - TICK, wall(15), false),
            Action::Nothing
        );
        let a = m.evaluate(t0 + LEASE + Duration::from_millis(1), wall(21), false);
        assert!(is_lease_fence(&a), "{a:?}");
    }

    #[test]
    fn controller_contact_renews_the_lease() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.observe_controller_ok(t0 + Duration::from_secs(15));
        assert_eq!(
            m.evaluate(t0 + Duration::from_secs(30), wall(30), false),
            Action::Nothing
        );
        assert!(is_lease_fence(&m.evaluate(
            t0 + Duration::from_secs(36),
            wall(36),
            false
        )));
    }

    #[test]
    fn one_reachable_peer_suppresses_rule2() {
        let (mut m, t0) = monitor(&["b:8080", "c:8080"]);
        let mut now = t0;
        for _ in 0..20 {
            now += TICK;
            m.observe_peer_ok("c:8080", now);
            assert_eq!(m.evaluate(now, wall(0), false), Action::Nothing);
        }
        // Once c falls silent too, the lease runs out.
        let a = m.evaluate(now + LEASE + Duration::from_secs(1), wall(0), false);
        assert!(is_lease_fence(&a), "{a:?}");
    }

    #[test]
    fn rule1_fences_immediately_on_a_foreign_active_site() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.begin_tick();
        m.observe_controller_ok(t0);
        m.observe_controller_active_site("a", wall(1));
        assert_eq!(m.evaluate(t0, wall(1), false), Action::Nothing);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(2));
        assert_eq!(
            m.evaluate(t0, wall(2), false),
            Action::Fence(FenceReason::TopologyMismatch {
                active_site: "b".into(),
                observed_at: wall(2)
            })
        );
        // Empty activeSite clears the view: no fence.
        m.begin_tick();
        m.observe_controller_active_site("", wall(3));
        assert_eq!(m.evaluate(t0, wall(3), false), Action::Nothing);
    }

    #[test]
    fn rule1_is_off_without_topology() {
        let now = Instant::now();
        let mut m = Monitor::new("a", false, Vec::new(), LEASE, now);
        m.seed_view("b", wall(0));
        assert_eq!(m.evaluate(now, wall(0), false), Action::Nothing);
    }

    #[test]
    fn read_only_is_never_fenced() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.observe_controller_active_site("b", wall(0));
        for i in 0..100u32 {
            let now = t0 + TICK * i;
            assert_eq!(m.evaluate(now, wall(i.into()), true), Action::Nothing);
        }
        assert!(!m.is_fenced());
    }

    #[test]
    fn never_unfences_and_fences_once() {
        let (mut m, t0) = monitor(&[]);
        let a = m.evaluate(t0 + LEASE * 2, wall(40), false);
        assert!(is_lease_fence(&a));
        m.mark_fenced();
        for i in 0..50u32 {
            let now = t0 + LEASE * 2 + TICK * i;
            assert_eq!(m.evaluate(now, wall(0), true), Action::Nothing);
            assert!(m.is_fenced(), "stays fenced while read-only");
        }
    }

    #[test]
    fn rearm_after_external_unfence_resets_the_lease() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.observe_controller_active_site("b", wall(0));
        assert!(matches!(m.evaluate(t0, wall(0), false), Action::Fence(_)));
        m.mark_fenced();
        // Long isolation while fenced.
        let t1 = t0 + Duration::from_secs(300);
        assert_eq!(m.evaluate(t1, wall(300), true), Action::Nothing);
        // The operator promotes us (writable again) while still unreachable to us.
        assert_eq!(m.evaluate(t1, wall(300), false), Action::Rearmed);
        assert!(!m.is_fenced());
        assert!(m.active_view().is_none(), "cache cleared on rearm");
        // A full fresh lease: no fence up to the lease, a fence after it.
        assert_eq!(m.evaluate(t1 + LEASE, wall(320), false), Action::Nothing);
        assert!(is_lease_fence(&m.evaluate(
            t1 + LEASE + TICK,
            wall(325),
            false
        )));
    }

    #[test]
    fn rearm_blocks_older_peer_views() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.mark_fenced();
        assert_eq!(m.evaluate(t0, wall(100), false), Action::Rearmed);
        m.begin_tick();
        assert!(
            !m.observe_peer_active_site("b", wall(90), wall(105)),
            "older than the rearm"
        );
        assert!(m.observe_peer_active_site("b", wall(101), wall(105)));
    }

    #[test]
    fn promotion_outdates_the_cached_foreign_view() {
        // Replica a caches "b" from the controller, then from a peer; the aux endpoint
        // goes away and the operator promotes a.
        let (mut m, t0) = monitor(&["b:8080"]);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(10));
        assert_eq!(m.evaluate(t0, wall(10), true), Action::Nothing);
        m.begin_tick();
        assert!(m.observe_peer_active_site("b", wall(12), wall(15)));
        assert_eq!(m.evaluate(t0, wall(15), true), Action::Nothing);
        m.begin_tick();
        assert_eq!(
            m.evaluate(t0, wall(20), false),
            Action::Nothing,
            "a view from before the promotion must not fence the promoted site"
        );
        assert!(m.active_view().is_none());
        // Views older than the promotion stay out; a newer one still fences.
        m.begin_tick();
        assert!(!m.observe_peer_active_site("b", wall(18), wall(25)));
        assert_eq!(m.evaluate(t0, wall(25), false), Action::Nothing);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(30));
        assert!(matches!(
            m.evaluate(t0, wall(30), false),
            Action::Fence(FenceReason::TopologyMismatch { .. })
        ));
    }

    #[test]
    fn controller_answer_in_the_promotion_tick_may_predate_it() {
        // The answer came before the read_only probe of the same tick, so the promotion
        // may have happened in between: it only counts from the next tick.
        let (mut m, t0) = monitor(&[]);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(5));
        assert_eq!(m.evaluate(t0, wall(5), true), Action::Nothing);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(10));
        assert_eq!(m.evaluate(t0, wall(10), false), Action::Nothing);
        m.begin_tick();
        m.observe_controller_active_site("b", wall(15));
        assert!(matches!(
            m.evaluate(t0, wall(15), false),
            Action::Fence(FenceReason::TopologyMismatch { .. })
        ));
    }

    #[test]
    fn a_writer_that_never_was_read_only_keeps_rule1() {
        // The deposed primary: writable on every tick, so its cache is never outdated.
        let (mut m, t0) = monitor(&["b:8080"]);
        m.begin_tick();
        m.observe_controller_active_site("a", wall(5));
        assert_eq!(m.evaluate(t0, wall(5), false), Action::Nothing);
        m.begin_tick();
        assert!(m.observe_peer_active_site("b", wall(8), wall(10)));
        assert!(matches!(
            m.evaluate(t0, wall(10), false),
            Action::Fence(FenceReason::TopologyMismatch { .. })
        ));
    }

    #[test]
    fn promotion_keeps_the_lease() {
        // Unlike the rearm, a promotion of an unfenced replica grants no fresh lease.
        let (mut m, t0) = monitor(&[]);
        assert_eq!(m.evaluate(t0 + TICK, wall(5), true), Action::Nothing);
        let a = m.evaluate(t0 + LEASE + TICK, wall(25), false);
        assert!(is_lease_fence(&a), "{a:?}");
    }

    #[test]
    fn stale_peer_view_is_not_adopted() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.begin_tick();
        m.observe_controller_active_site("a", wall(10));
        m.begin_tick(); // next tick, controller unreachable
        assert!(!m.observe_peer_active_site("b", wall(9), wall(15)), "older");
        assert!(
            !m.observe_peer_active_site("b", wall(10), wall(15)),
            "equal is not strictly newer"
        );
        assert_eq!(m.evaluate(t0, wall(15), false), Action::Nothing);
        assert!(
            m.observe_peer_active_site("b", wall(12), wall(15)),
            "newer is adopted"
        );
        assert!(matches!(
            m.evaluate(t0, wall(15), false),
            Action::Fence(FenceReason::TopologyMismatch { .. })
        ));
    }

    #[test]
    fn peer_view_never_beats_this_ticks_controller_answer() {
        let (mut m, t0) = monitor(&["b:8080"]);
        m.begin_tick();
        m.observe_controller_active_site("a", wall(10));
        // A peer with a clock 10 minutes fast relays an old view.
        assert!(!m.observe_peer_active_site("b", wall(610), wall(10)));
        assert_eq!(m.evaluate(t0, wall(10), false), Action::Nothing);
        // Next tick without the controller: the future stamp is clamped to our now.
        m.begin_tick();
        assert!(m.observe_peer_active_site("a", wall(615), wall(15)));
        assert_eq!(m.active_view().unwrap().observed_at, wall(15));
    }

    #[test]
    fn empty_peer_site_is_ignored() {
        let (mut m, _) = monitor(&["b:8080"]);
        assert!(!m.observe_peer_active_site("", wall(5), wall(5)));
        assert!(m.active_view().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn lease_uses_virtual_time() {
        let (mut m, _) = monitor(&[]);
        tokio::time::advance(LEASE).await;
        assert_eq!(m.evaluate(Instant::now(), wall(20), false), Action::Nothing);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(is_lease_fence(&m.evaluate(Instant::now(), wall(20), false)));
    }
}
