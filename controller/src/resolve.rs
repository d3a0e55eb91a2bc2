//! Address overrides for running the operator outside a cluster (the chaos harness's local
//! target, a developer laptop): `BLOODRAVEN_RESOLVE=host:port=addr:port,...`, like curl's
//! `--resolve`. The controller dials Service names (`mysql-<group>-<site>-internal:3306`)
//! that only cluster DNS knows; this maps them to reachable addresses while the production
//! `mysql_async` connector still does the dialing. Unset in a cluster: nothing changes.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::net::split_host_port;
use crate::sql::{SharedSqlConnector, SqlConn, SqlConnector, SqlError};

/// The environment variable the operator binary reads.
pub const ENV: &str = "BLOODRAVEN_RESOLVE";

/// `(host, port)` the code dials -> `(host, port)` actually dialed.
pub type Overrides = BTreeMap<(String, u16), (String, u16)>;

/// Parses `host:port=addr:port` entries separated by commas (blank entries ignored).
pub fn parse(spec: &str) -> Result<Overrides, String> {
    let mut map = Overrides::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (from, to) = entry
            .split_once('=')
            .ok_or_else(|| format!("{ENV} entry {entry:?}: expected host:port=addr:port"))?;
        let parse_one = |s: &str| {
            split_host_port(s.trim())
                .map_err(|e| format!("{ENV} entry {entry:?}: {e}"))
                .and_then(|(h, p)| {
                    if s.trim().starts_with(':') {
                        Err(format!("{ENV} entry {entry:?}: the host is missing"))
                    } else {
                        Ok((h, p))
                    }
                })
        };
        map.insert(parse_one(from)?, parse_one(to)?);
    }
    Ok(map)
}

/// A connector that rewrites the dialed address through [`Overrides`] first.
pub struct ResolvingConnector {
    pub inner: SharedSqlConnector,
    pub overrides: Overrides,
}

impl ResolvingConnector {
    /// Wraps `inner` when `overrides` is not empty.
    pub fn wrap(inner: SharedSqlConnector, overrides: Overrides) -> SharedSqlConnector {
        if overrides.is_empty() {
            inner
        } else {
            Arc::new(Self { inner, overrides })
        }
    }
}

#[async_trait]
impl SqlConnector for ResolvingConnector {
    async fn connect(&self, host: &str, port: u16) -> Result<Box<dyn SqlConn>, SqlError> {
        match self.overrides.get(&(host.to_string(), port)) {
            Some((h, p)) => self.inner.connect(h, *p).await,
            None => self.inner.connect(host, port).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_names_bad_ones() {
        let m = parse(" mysql-demo-a-internal:3306=127.0.0.1:4001, ,b:1=127.0.0.1:2").unwrap();
        assert_eq!(
            m.get(&("mysql-demo-a-internal".into(), 3306)),
            Some(&("127.0.0.1".into(), 4001))
        );
        assert_eq!(m.len(), 2);
        for bad in ["a:1", "a=b:2", "a:1=b", "a:x=b:2", ":1=b:2"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(ENV) && e.contains(bad), "{bad}: {e}");
        }
    }
}
