//! The I/O side: the startup safety net (§6.3) and the fencing monitor loop (§6.4). All
//! decisions are made by [`Monitor`]; this module only talks to the world through the
//! seams and logs the stable messages.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bloodraven::fault_hooks::{Broken, FaultHooks};
use bloodraven::http::get;
use chrono::{DateTime, Utc};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{debug, info, warn};

use crate::monitor::{Action, FenceReason, Monitor};
use crate::mysql::{
    do_fence, FenceOutcome, Mysql, FENCE_TIMEOUT, PROBE_TIMEOUT, SQL_FENCE, SQL_UNFENCE_READ_ONLY,
    SQL_UNFENCE_SUPER,
};
use crate::{Seams, SidecarConfig};

/// Timeout of every HTTP call to the controller and the peers.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// Delay between attempts of the startup fence while mysqld is not reachable yet.
pub const STARTUP_FENCE_RETRY: Duration = Duration::from_secs(1);

/// Everything the sidecar's tasks share.
pub struct Ctx {
    pub cfg: SidecarConfig,
    pub seams: Seams,
    pub state: Mutex<Monitor>,
    /// Test-only broken behaviours (empty in production).
    hooks: FaultHooks,
}

impl Ctx {
    pub fn new(cfg: SidecarConfig, seams: Seams) -> Arc<Self> {
        Self::with_hooks(cfg, seams, FaultHooks::default())
    }

    pub(crate) fn with_hooks(cfg: SidecarConfig, seams: Seams, hooks: FaultHooks) -> Arc<Self> {
        let peers = cfg.peers.iter().map(|(h, p)| format!("{h}:{p}"));
        let monitor = Monitor::new(
            cfg.site.clone(),
            cfg.topology_enabled(),
            peers,
            cfg.lease_timeout,
            Instant::now(),
        );
        Arc::new(Self {
            state: Mutex::new(monitor),
            cfg,
            seams,
            hooks,
        })
    }

    pub fn db(&self) -> Mysql<'_> {
        Mysql {
            sql: &*self.seams.sql,
            host: &self.cfg.mysql_host,
            port: self.cfg.mysql_port,
        }
    }

    /// The monitor state; never held across an await.
    pub fn state(&self) -> MutexGuard<'_, Monitor> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_wall(&self) -> DateTime<Utc> {
        self.seams.clock.now()
    }

    fn active_site_path(&self) -> String {
        format!(
            "/active-site?namespace={}&group={}",
            encode_query(&self.cfg.namespace),
            encode_query(&self.cfg.group)
        )
    }

    async fn get_controller(&self, path: &str) -> std::io::Result<bloodraven::http::Response> {
        let (host, port) = (&self.cfg.controller_host, self.cfg.controller_port);
        get(&*self.seams.dialer, host, port, path, HTTP_TIMEOUT).await
    }

    /// `GET /active-site`: `Ok(site)` on 200 with a decodable body, else a description.
    async fn query_active_site(&self) -> Result<String, String> {
        let resp = self
            .get_controller(&self.active_site_path())
            .await
            .map_err(|e| e.to_string())?;
        if resp.status != 200 {
            return Err(format!("status {}: {}", resp.status, resp.body.trim()));
        }
        let v: serde_json::Value =
            serde_json::from_str(&resp.body).map_err(|e| format!("undecodable body: {e}"))?;
        match v.get("activeSite") {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Null) | None => Ok(String::new()),
            Some(other) => Err(format!("activeSite is not a string: {other}")),
        }
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What the startup safety net concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SafetyNet {
    /// Site, namespace, group or controller address missing: nothing done.
    Skipped,
    /// `/active-site` failed (error, 503, 404, bad body): stay fenced.
    Unreachable(String),
    /// `activeSite == ""`: stay fenced.
    NoActiveSite,
    /// Another site is active: cache seeded, stay fenced.
    Standby(String),
    /// This site is active: unfenced.
    Active,
}

/// The startup safety net (§6.3): fence first, then let the operator vouch for the site.
pub async fn safety_net(ctx: &Ctx) -> SafetyNet {
    if !ctx.cfg.topology_enabled() {
        warn!("safety net: site, namespace, group or operator address missing, skipped");
        return SafetyNet::Skipped;
    }
    let db = ctx.db();

    // 1. Fence first (§11 item 1). mysqld may boot after the sidecar: retry while it is
    //    unreachable; a server-side refusal is logged and the net continues.
    let mut attempt: u64 = 0;
    loop {
        match db.query(SQL_FENCE, FENCE_TIMEOUT).await {
            Ok(_) => {
                info!("safety net: set super_read_only=ON as precaution on startup");
                break;
            }
            Err(error) if error.is_transport() => {
                if attempt.is_multiple_of(30) {
                    warn!(%error, attempt, "safety net: MySQL not reachable yet, retrying the startup fence");
                }
                attempt += 1;
                tokio::time::sleep(STARTUP_FENCE_RETRY).await;
            }
            Err(error) => {
                warn!(%error, "safety net: failed to set super_read_only=ON on startup");
                break;
            }
        }
    }

    // 2. Ask the operator.
    match ctx.query_active_site().await {
        Err(error) => {
            warn!(%error, "safety net: could not query active site, staying fenced");
            SafetyNet::Unreachable(error)
        }
        Ok(site) if site.is_empty() => {
            info!("safety net: operator reports no active site, staying fenced");
            SafetyNet::NoActiveSite
        }
        Ok(site) if site != ctx.cfg.site => {
            ctx.state().seed_view(&site, ctx.now_wall());
            info!(active_site = %site, site = %ctx.cfg.site, "safety net: confirmed standby site");
            SafetyNet::Standby(site)
        }
        Ok(_) => {
            info!(site = %ctx.cfg.site, "safety net: this is the active site, clearing super_read_only");
            if let Err(error) = db.query(SQL_UNFENCE_SUPER, FENCE_TIMEOUT).await {
                warn!(%error, "safety net: failed to clear super_read_only");
            } else if let Err(error) = db.query(SQL_UNFENCE_READ_ONLY, FENCE_TIMEOUT).await {
                warn!(%error, "safety net: failed to clear read_only");
            }
            SafetyNet::Active
        }
    }
}

/// What one tick did (for tests and traces).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TickReport {
    /// `None` when `@@read_only` could not be read (no evaluation).
    pub action: Option<Action>,
    pub fence: Option<FenceOutcome>,
}

/// One monitor tick (Check): controller, active site, peers, evaluate.
pub async fn tick(ctx: &Ctx) -> TickReport {
    ctx.state().begin_tick();
    let topology = ctx.cfg.topology_enabled();

    // 1. Is the operator alive?
    match ctx.get_controller("/healthz").await {
        Ok(r) if r.status == 200 => ctx.state().observe_controller_ok(Instant::now()),
        Ok(r) => debug!(status = r.status, "fencing: bloodraven /healthz not ok"),
        Err(error) => debug!(%error, "fencing: bloodraven unreachable"),
    }

    // 2. The operator's authoritative active site.
    if topology {
        match ctx.query_active_site().await {
            Ok(site) => ctx
                .state()
                .observe_controller_active_site(&site, ctx.now_wall()),
            Err(error) => debug!(%error, "fencing: operator /active-site unavailable"),
        }
    }

    // 3. Peers (in configuration order).
    for (host, port) in &ctx.cfg.peers {
        let peer = format!("{host}:{port}");
        match get(&*ctx.seams.dialer, host, *port, "/peer/ping", HTTP_TIMEOUT).await {
            Ok(r) if r.status == 200 => ctx.state().observe_peer_ok(&peer, Instant::now()),
            Ok(r) => debug!(%peer, status = r.status, "fencing: peer ping not ok"),
            Err(error) => debug!(%peer, %error, "fencing: peer unreachable"),
        }
        if !topology {
            continue;
        }
        let resp = match get(
            &*ctx.seams.dialer,
            host,
            *port,
            "/peer/active-site",
            HTTP_TIMEOUT,
        )
        .await
        {
            Ok(r) if r.status == 200 => r,
            _ => continue,
        };
        let Some((site, observed_at)) = parse_peer_view(&resp.body) else {
            warn!(%peer, "fencing: undecodable /peer/active-site response");
            continue;
        };
        let adopted = ctx
            .state()
            .observe_peer_active_site(&site, observed_at, ctx.now_wall());
        if adopted {
            info!(%peer, active_site = %site, observed_at = %observed_at.to_rfc3339(), "fencing: adopted active-site view from peer");
        }
    }

    // 4. Evaluate.
    let read_only = match ctx.db().read_only(PROBE_TIMEOUT).await {
        Ok((ro, _)) => ro,
        Err(error) => {
            warn!(%error, "fencing: could not check read_only status");
            return TickReport {
                action: None,
                fence: None,
            };
        }
    };
    let mut action = ctx
        .state()
        .evaluate(Instant::now(), ctx.now_wall(), read_only);
    if matches!(action, Action::Fence(_)) && ctx.hooks.broken(Broken::NeverSelfFence) {
        debug!(?action, "fault hook: self-fence skipped");
        action = Action::Nothing;
    }
    let fence = match &action {
        Action::Nothing => None,
        Action::Rearmed => {
            info!("fencing: MySQL is writable after prior self-fence; rearming monitor");
            None
        }
        Action::Fence(reason) => {
            match reason {
                FenceReason::TopologyMismatch {
                    active_site,
                    observed_at,
                } => warn!(
                    site = %ctx.cfg.site,
                    authoritative_active_site = %active_site,
                    observed_at = %observed_at.to_rfc3339(),
                    "SELF-FENCING: topology mismatch — operator-authoritative active site disagrees with our site"
                ),
                FenceReason::LeaseExpired {
                    since_controller,
                    since_peer,
                } => warn!(
                    since_controller = ?since_controller,
                    since_peer = ?since_peer,
                    peers = ctx.cfg.peers.len(),
                    lease_timeout = ?ctx.cfg.lease_timeout,
                    "SELF-FENCING: Bloodraven and every peer unreachable beyond lease timeout"
                ),
            }
            let outcome = do_fence(ctx.db()).await;
            if !matches!(outcome, FenceOutcome::Failed { .. }) {
                ctx.state().mark_fenced();
            }
            Some(outcome)
        }
    };
    TickReport {
        action: Some(action),
        fence,
    }
}

/// `{"activeSite": "...", "observedAt": "<RFC3339>"}`; `None` if undecodable. An empty
/// site or a zero stamp yields `Some` with an empty site, which the monitor ignores.
fn parse_peer_view(body: &str) -> Option<(String, DateTime<Utc>)> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let site = v.get("activeSite")?.as_str()?.to_string();
    let at = DateTime::parse_from_rfc3339(v.get("observedAt")?.as_str()?).ok()?;
    let at = at.with_timezone(&Utc);
    if at.timestamp() <= DateTime::<Utc>::UNIX_EPOCH.timestamp() {
        // Go's zero time (0001-01-01) or the epoch: never observed.
        return Some((String::new(), at));
    }
    Some((site, at))
}

/// The monitor loop: startup grace, then a tick every `peer_check_interval`, forever.
pub async fn monitor_loop(ctx: &Ctx) {
    ctx.state().seed_startup_grace(Instant::now());
    let period = ctx.cfg.peer_check_interval;
    let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        tick(ctx).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("shared-lion"), "shared-lion");
        assert_eq!(encode_query("a b&c"), "a%20b%26c");
    }

    #[test]
    fn peer_view_parsing() {
        let (site, at) =
            parse_peer_view(r#"{"activeSite":"b","observedAt":"2024-05-01T10:00:00.123456789Z"}"#)
                .unwrap();
        assert_eq!(site, "b");
        assert_eq!(at.timestamp_subsec_nanos(), 123_456_789);
        let (site, _) =
            parse_peer_view(r#"{"activeSite":"b","observedAt":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(site, "", "zero stamp is never adopted");
        assert!(parse_peer_view("not json").is_none());
        assert!(parse_peer_view(r#"{"activeSite":"b"}"#).is_none());
    }
}
