//! Sidecar configuration (spec §6.1): environment parsing, Go-style durations and the
//! lease/interval clamps (§2.1, audit H3).

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tracing::warn;

/// Smallest accepted peer check interval.
pub const MIN_PEER_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Smallest accepted lease timeout (it must also be at least 3 x the interval).
pub const MIN_LEASE_TIMEOUT: Duration = Duration::from_secs(3);
/// Defaults of the CRD (`spec.sidecar`).
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_PEER_CHECK_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SidecarConfig {
    pub site: String,
    pub namespace: String,
    pub group: String,
    pub pod_name: String,
    /// Production 127.0.0.1:3306; the simulator passes the site host name.
    pub mysql_host: String,
    pub mysql_port: u16,
    /// `BLOODRAVEN_ADDRESS` split, e.g. `bloodraven.<ns>.svc.cluster.local:8082`.
    pub controller_host: String,
    pub controller_port: u16,
    /// `PEER_ADDRESSES` (`host:8080` each).
    pub peers: Vec<(String, u16)>,
    pub lease_timeout: Duration,
    pub peer_check_interval: Duration,
    pub listen_port: u16,
}

impl SidecarConfig {
    /// Reads the process environment (spec §6.1). Values are not clamped here; [`run`]
    /// clamps them (see [`SidecarConfig::clamped`]).
    ///
    /// [`run`]: crate::run
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`SidecarConfig::from_env`], reading variables through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &str, what: &str| {
            var(name).ok_or_else(|| anyhow!("environment variable {name} is required ({what})"))
        };

        let site = required("MY_SITE", "the site name of this pod")?;
        let namespace = required("POD_NAMESPACE", "the namespace of this pod")?;
        let group = required("FAILOVER_GROUP", "the MysqlFailoverGroup name")?;
        let pod_name = var("MY_POD_NAME").unwrap_or_else(|| "unknown".to_string());

        let controller_addr = var("BLOODRAVEN_ADDRESS")
            .unwrap_or_else(|| format!("bloodraven.{namespace}.svc.cluster.local:8082"));
        let controller_addr = controller_addr
            .strip_prefix("http://")
            .unwrap_or(&controller_addr)
            .trim_end_matches('/');
        let (controller_host, controller_port) =
            split_host_port(controller_addr).with_context(|| {
                format!("BLOODRAVEN_ADDRESS={controller_addr:?}: expected host:port")
            })?;

        let mut peers = Vec::new();
        if let Some(list) = var("PEER_ADDRESSES") {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let peer = split_host_port(entry).with_context(|| {
                    format!("PEER_ADDRESSES entry {entry:?}: expected comma-separated host:port")
                })?;
                peers.push(peer);
            }
        }

        let lease_timeout = duration_var(&var, "LEASE_TIMEOUT", DEFAULT_LEASE_TIMEOUT)?;
        let peer_check_interval =
            duration_var(&var, "PEER_CHECK_INTERVAL", DEFAULT_PEER_CHECK_INTERVAL)?;

        let mysql_host = var("MYSQL_HOST").unwrap_or_else(|| "127.0.0.1".to_string());
        let mysql_port = match var("MYSQL_PORT") {
            None => 3306,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| anyhow!("MYSQL_PORT={p:?}: expected a TCP port number"))?,
        };

        let listen_port = match var("LISTEN_ADDR") {
            None => 8080,
            Some(addr) => listen_port(&addr)?,
        };

        Ok(Self {
            site,
            namespace,
            group,
            pod_name,
            mysql_host,
            mysql_port,
            controller_host,
            controller_port,
            peers,
            lease_timeout,
            peer_check_interval,
            listen_port,
        })
    }

    /// Applies the clamps: `peer_check_interval >= 1s`, `lease_timeout >= max(3s, 3 x
    /// interval)`. Logs a WARN with the original and clamped values when it changes one.
    /// Never panics; zero values are clamped too.
    pub fn clamped(mut self) -> Self {
        let interval = self.peer_check_interval.max(MIN_PEER_CHECK_INTERVAL);
        if interval != self.peer_check_interval {
            warn!(
                original = ?self.peer_check_interval,
                clamped = ?interval,
                "config: peer check interval below the minimum, clamped"
            );
        }
        let min_lease = MIN_LEASE_TIMEOUT.max(interval.saturating_mul(3));
        let lease = self.lease_timeout.max(min_lease);
        if lease != self.lease_timeout {
            warn!(
                original = ?self.lease_timeout,
                clamped = ?lease,
                peer_check_interval = ?interval,
                "config: lease timeout below max(3s, 3 x peer check interval), clamped"
            );
        }
        self.peer_check_interval = interval;
        self.lease_timeout = lease;
        self
    }

    /// Site, namespace, group and controller address are all known: the safety net and
    /// topology-aware fencing (rule 1) are enabled.
    pub fn topology_enabled(&self) -> bool {
        !self.site.is_empty()
            && !self.namespace.is_empty()
            && !self.group.is_empty()
            && !self.controller_host.is_empty()
    }
}

fn duration_var(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    match var(name) {
        None => Ok(default),
        Some(v) => parse_go_duration(&v).with_context(|| format!("environment variable {name}")),
    }
}

/// `LISTEN_ADDR` is `host:port` or `:port`.
fn listen_port(addr: &str) -> anyhow::Result<u16> {
    let port = addr.rsplit_once(':').map_or(addr, |(_, p)| p);
    port.parse::<u16>()
        .map_err(|_| anyhow!("LISTEN_ADDR={addr:?}: expected [host]:port, e.g. :8080"))
}

/// Splits `host:port`; both parts are required.
pub fn split_host_port(addr: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("{addr:?} has no port"))?;
    if host.is_empty() {
        bail!("{addr:?} has no host");
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| anyhow!("{addr:?}: port {port:?} is not a number"))?;
    Ok((host.to_string(), port))
}

/// Parses a non-negative Go duration (`20s`, `500ms`, `1m30s`, `1.5h`, `0`).
pub fn parse_go_duration(input: &str) -> anyhow::Result<Duration> {
    let err = || {
        anyhow!("invalid duration {input:?}: expected a Go duration such as 20s, 500ms or 1m30s")
    };
    let s = input.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(err());
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number = &rest[..num_len];
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(err());
        }
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err())?
        };
        let mut frac_nanos: u128 = 0;
        let mut scale = unit_nanos;
        for d in frac_part.chars() {
            let d = d.to_digit(10).ok_or_else(err)? as u128;
            // Digits beyond nanosecond precision are dropped, as Go does.
            frac_nanos += d * scale / 10;
            scale /= 10;
        }
        total = int
            .checked_mul(unit_nanos)
            .and_then(|v| v.checked_add(frac_nanos))
            .and_then(|v| v.checked_add(total))
            .ok_or_else(err)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err())?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("MY_SITE", "a"),
        ("POD_NAMESPACE", "ns"),
        ("FAILOVER_GROUP", "g"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        let mut v = BASE.to_vec();
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_go_duration("10us").unwrap(),
            Duration::from_micros(10)
        );
        for bad in ["", "20", "s", "-5s", "5x", "1..5s", "5 s", "."] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn env_defaults_and_parsing() {
        let cfg = SidecarConfig::from_lookup(env(&with(&[
            (
                "PEER_ADDRESSES",
                "mysql-g-b-internal:8080, mysql-g-c-internal:8080,",
            ),
            ("LEASE_TIMEOUT", "1m30s"),
            ("PEER_CHECK_INTERVAL", "500ms"),
        ])))
        .unwrap();
        assert_eq!(cfg.controller_host, "bloodraven.ns.svc.cluster.local");
        assert_eq!(cfg.controller_port, 8082);
        assert_eq!(cfg.mysql_host, "127.0.0.1");
        assert_eq!(cfg.mysql_port, 3306);
        assert_eq!(cfg.listen_port, 8080);
        assert_eq!(cfg.pod_name, "unknown");
        assert_eq!(
            cfg.peers,
            vec![
                ("mysql-g-b-internal".to_string(), 8080),
                ("mysql-g-c-internal".to_string(), 8080)
            ]
        );
        assert_eq!(cfg.lease_timeout, Duration::from_secs(90));
        assert_eq!(cfg.peer_check_interval, Duration::from_millis(500));

        let cfg = SidecarConfig::from_lookup(env(&with(&[
            ("BLOODRAVEN_ADDRESS", "ctl:9000"),
            ("LISTEN_ADDR", ":18080"),
            ("MYSQL_HOST", "db"),
            ("MYSQL_PORT", "3307"),
        ])))
        .unwrap();
        assert_eq!(
            (cfg.controller_host.as_str(), cfg.controller_port),
            ("ctl", 9000)
        );
        assert_eq!(cfg.listen_port, 18080);
        assert_eq!((cfg.mysql_host.as_str(), cfg.mysql_port), ("db", 3307));
        assert_eq!(cfg.lease_timeout, DEFAULT_LEASE_TIMEOUT);
        assert_eq!(cfg.peer_check_interval, DEFAULT_PEER_CHECK_INTERVAL);
    }

    #[test]
    fn bad_env_names_the_variable() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (with(&[("LEASE_TIMEOUT", "20")]), "LEASE_TIMEOUT"),
            (
                with(&[("PEER_CHECK_INTERVAL", "soon")]),
                "PEER_CHECK_INTERVAL",
            ),
            (
                with(&[("PEER_ADDRESSES", "peer-without-port")]),
                "PEER_ADDRESSES",
            ),
            (
                with(&[("BLOODRAVEN_ADDRESS", "ctl:http")]),
                "BLOODRAVEN_ADDRESS",
            ),
            (with(&[("MYSQL_PORT", "99999")]), "MYSQL_PORT"),
            (with(&[("LISTEN_ADDR", ":x")]), "LISTEN_ADDR"),
            (
                vec![("POD_NAMESPACE", "ns"), ("FAILOVER_GROUP", "g")],
                "MY_SITE",
            ),
        ];
        for (vars, name) in cases {
            let err = SidecarConfig::from_lookup(env(&vars)).unwrap_err();
            assert!(
                format!("{err:#}").contains(name),
                "{err:#} should name {name}"
            );
        }
    }

    fn cfg(lease: Duration, interval: Duration) -> SidecarConfig {
        let mut c = SidecarConfig::from_lookup(env(&BASE)).unwrap();
        c.lease_timeout = lease;
        c.peer_check_interval = interval;
        c
    }

    #[test]
    fn clamps_zero_values() {
        let c = cfg(Duration::ZERO, Duration::ZERO).clamped();
        assert_eq!(c.peer_check_interval, Duration::from_secs(1));
        assert_eq!(c.lease_timeout, Duration::from_secs(3));
    }

    #[test]
    fn clamps_lease_below_three_intervals() {
        let c = cfg(Duration::from_secs(10), Duration::from_secs(5)).clamped();
        assert_eq!(c.peer_check_interval, Duration::from_secs(5));
        assert_eq!(c.lease_timeout, Duration::from_secs(15));
        let c = cfg(Duration::from_secs(2), Duration::from_millis(1200)).clamped();
        assert_eq!(c.lease_timeout, Duration::from_millis(3600));
    }

    #[test]
    fn keeps_valid_values() {
        let c = cfg(Duration::from_secs(20), Duration::from_secs(5)).clamped();
        assert_eq!(c.lease_timeout, Duration::from_secs(20));
        assert_eq!(c.peer_check_interval, Duration::from_secs(5));
        let huge = cfg(Duration::MAX, Duration::MAX).clamped();
        assert_eq!(huge.lease_timeout, Duration::MAX);
    }
}
