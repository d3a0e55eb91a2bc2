//! The aux HTTP endpoints on :8082 (spec §1): `/healthz`, `/readyz`, `/status`,
//! `/active-site`, and `/metrics` (also served alone on the :8080 metrics listener). Sidecars use `/healthz` as the operator-liveness signal and
//! `/active-site` for their safety net and topology fencing.

use std::sync::Arc;

use serde_json::json;

use crate::http::{Handler, Reply};
use crate::topology::Registry;

/// The probe listener on :8081: `/healthz` and `/readyz` only.
pub fn probe_handler() -> Handler {
    Arc::new(move |method, path| {
        Box::pin(async move {
            match (method, path.split('?').next().unwrap_or("")) {
                (http::Method::GET, "/healthz" | "/readyz") => Reply::text(200, "ok"),
                (http::Method::GET, _) => Reply::text(404, "not found"),
                _ => Reply::text(405, "method not allowed"),
            }
        })
    })
}

pub fn handler(registry: Registry) -> Handler {
    Arc::new(move |method, path| {
        let registry = registry.clone();
        Box::pin(async move { route(&registry, method, &path) })
    })
}

fn route(registry: &Registry, method: http::Method, path: &str) -> Reply {
    if method != http::Method::GET {
        return Reply::text(405, "method not allowed");
    }
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    match path {
        "/healthz" | "/readyz" => Reply::text(200, "ok"),
        "/metrics" => metrics_reply(registry),
        "/status" => {
            let all = registry.all();
            if all.is_empty() {
                return Reply::json(200, &json!({"status": "no active failover groups"}));
            }
            let map: serde_json::Map<String, serde_json::Value> = all
                .into_iter()
                .map(|(k, v)| {
                    let sites: Vec<_> = if v.details.is_empty() {
                        v.sites
                            .iter()
                            .map(|(n, s)| json!({"name": n, "state": s}))
                            .collect()
                    } else {
                        v.details.iter().map(|d| json!(d)).collect()
                    };
                    (
                        k,
                        json!({"activeSite": v.active_site, "sites": sites, "pollTime": v.poll_time,
                               "promotionGtidExecuted": v.promotion_gtid_executed}),
                    )
                })
                .collect();
            Reply::json(200, &serde_json::Value::Object(map))
        }
        "/active-site" => {
            let param = |k: &str| {
                query.split('&').find_map(|kv| {
                    kv.split_once('=')
                        .filter(|(key, _)| *key == k)
                        .map(|(_, v)| v.to_string())
                })
            };
            let (Some(ns), Some(group)) = (param("namespace"), param("group")) else {
                return Reply::json(
                    400,
                    &json!({"error": "namespace and group query parameters are required"}),
                );
            };
            if registry.is_empty() {
                return Reply::json(503, &json!({"error": "no active topology managers"}));
            }
            match registry.get(&ns, &group) {
                Some(v) => Reply::json(
                    200,
                    &json!({"namespace": ns, "group": group, "activeSite": v.active_site}),
                ),
                None => Reply::json(404, &json!({"error": "failover group not found"})),
            }
        }
        _ => Reply::text(404, "not found"),
    }
}

/// The Prometheus exposition of the operator's metrics.
pub fn metrics_reply(registry: &Registry) -> Reply {
    Reply {
        status: 200,
        content_type: crate::metrics::CONTENT_TYPE,
        body: registry.metrics().encode(),
    }
}

/// A handler serving only `/metrics` (the :8080 metrics listener).
pub fn metrics_handler(registry: Registry) -> Handler {
    Arc::new(move |method, path| {
        let registry = registry.clone();
        Box::pin(async move {
            let path = path.split_once('?').map_or(path.as_str(), |(p, _)| p);
            match (method, path) {
                (http::Method::GET, "/metrics") => metrics_reply(&registry),
                (http::Method::GET, _) => Reply::text(404, "not found"),
                _ => Reply::text(405, "method not allowed"),
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::GroupView;

    #[test]
    fn active_site_status_codes() {
        let r = Registry::default();
        assert_eq!(route(&r, http::Method::GET, "/active-site").status, 400);
        assert_eq!(
            route(&r, http::Method::GET, "/active-site?namespace=n&group=g").status,
            503
        );
        r.publish(
            "n",
            "g",
            GroupView {
                active_site: "b".into(),
                ..Default::default()
            },
        );
        let ok = route(&r, http::Method::GET, "/active-site?namespace=n&group=g");
        assert_eq!(ok.status, 200);
        assert!(ok.body.contains("\"activeSite\":\"b\""));
        assert_eq!(
            route(&r, http::Method::GET, "/active-site?namespace=n&group=x").status,
            404
        );
        assert_eq!(route(&r, http::Method::GET, "/healthz").body, "ok");
    }

    #[test]
    fn metrics_endpoint_serves_the_registry_metrics() {
        let r = Registry::default();
        r.metrics().failover("b");
        let m = route(&r, http::Method::GET, "/metrics");
        assert_eq!(m.status, 200);
        assert_eq!(m.content_type, crate::metrics::CONTENT_TYPE);
        assert!(m
            .body
            .contains("bloodraven_failovers_total{target_site=\"b\"} 1"));
        let other = Registry::default();
        assert!(!route(&other, http::Method::GET, "/metrics")
            .body
            .contains("target_site=\"b\""));
    }
}
