//! Every apiserver fault, seen through the controller's own API layer (`GroupApi` on the
//! real kube client over turmoil TCP): what the controller observes, not what the fake does.

use std::sync::Arc;
use std::time::Duration;

use bloodraven::crd::MysqlFailoverGroupStatus;
use bloodraven::topology::k8s::{GroupApi, K8sError};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};

use super::{ApiServer, OutageMode};
use crate::scenario::parse;
use crate::simnet::{SimDialer, SimListener};
use crate::trace::Trace;
use crate::world::{clock::SimClock, group_object, NAMESPACE};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SCENARIO: &str = r#"
id = "api-faults"
description = "d"
duration = "60s"
[topology]
sites = [{ name = "a" }, { name = "b" }]
active = "a"
[expect]
properties = ["SW"]
"#;

fn api_with_group() -> ApiServer {
    let api = ApiServer::with_bloodraven_crds(Arc::new(SimClock::new()), Trace::new());
    let loaded = parse("api-faults.toml", SCENARIO).unwrap();
    api.put_raw("mysqlfailovergroups", group_object(&loaded))
        .unwrap();
    api
}

/// Runs `body` with the controller's `GroupApi` next to the fake apiserver.
fn run<F, Fut>(body: F)
where
    F: FnOnce(GroupApi, ApiServer) -> Fut + 'static,
    Fut: std::future::Future<Output = TestResult> + 'static,
{
    let api = api_with_group();
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(10))
        .simulation_duration(Duration::from_secs(600))
        .build();
    let server = api.clone();
    sim.host("apiserver", move || {
        let api = server.clone();
        async move {
            api.serve(Box::new(SimListener::bind(6443).await?)).await?;
            Ok(())
        }
    });
    sim.client("controller", async move {
        let client =
            bloodraven::kube_client::client_over(Arc::new(SimDialer), "apiserver", 6443, NAMESPACE);
        let group = GroupApi {
            client,
            namespace: NAMESPACE.into(),
            name: crate::world::GROUP.into(),
            clock: Arc::new(SimClock::new()),
        };
        body(group, api).await
    });
    sim.run().unwrap();
}

fn status(active: &str) -> MysqlFailoverGroupStatus {
    MysqlFailoverGroupStatus {
        active_site: active.into(),
        ..Default::default()
    }
}

fn http_code(r: Result<impl std::fmt::Debug, K8sError>) -> Option<u16> {
    match r {
        Err(K8sError::Kube(kube::Error::Api(s))) => Some(s.code),
        Err(_) => None,
        Ok(v) => panic!("expected a failure, got {v:?}"),
    }
}

#[test]
fn status_denial_fails_only_status_writes() {
    run(|g, api| async move {
        api.deny("mysqlfailovergroups", Some("status"));
        assert_eq!(http_code(g.write_status(&status("b")).await), Some(403));
        g.write_failover_annotations("2025-06-15T00:00:00Z", "b")
            .await?;
        g.apply_dns("db.example", 10, "10.0.0.2").await?;
        g.event(false, "FailoverExecuted", "x").await?;
        assert_eq!(g.get().await?.status.unwrap_or_default().active_site, "");
        api.allow("mysqlfailovergroups", Some("status"));
        g.write_status(&status("b")).await?;
        assert_eq!(g.get().await?.status.unwrap().active_site, "b");
        Ok(())
    });
}

#[test]
fn object_denial_leaves_the_status_subresource_writable() {
    run(|g, api| async move {
        // What the scenario op `deny{resource = "mfg-object"}` sets.
        let (plural, sub) = ("mysqlfailovergroups", Some(""));
        api.deny(plural, sub);
        assert_eq!(
            http_code(
                g.write_failover_annotations("2025-06-15T00:00:00Z", "b")
                    .await
            ),
            Some(403)
        );
        g.write_status(&status("b")).await?;
        let now = g.get().await?;
        assert_eq!(now.status.unwrap().active_site, "b");
        assert!(
            now.metadata.annotations.unwrap_or_default().is_empty(),
            "the denied annotation write did not land"
        );
        api.allow(plural, sub);
        g.write_failover_annotations("2025-06-15T00:00:00Z", "b")
            .await?;
        Ok(())
    });
}

#[test]
fn object_dns_node_and_event_denials_are_independent() {
    run(|g, api| async move {
        api.deny("mysqlfailovergroups", None);
        assert_eq!(
            http_code(g.write_failover_annotations("t", "b").await),
            Some(403)
        );
        assert_eq!(http_code(g.write_status(&status("b")).await), Some(403));
        g.apply_dns("db.example", 10, "10.0.0.2").await?;
        api.allow("mysqlfailovergroups", None);

        api.deny("dnsendpoints", None);
        assert_eq!(
            http_code(g.apply_dns("db.example", 10, "10.0.0.1").await),
            Some(403)
        );
        assert_eq!(g.read_dns_targets().await?, Some(vec!["10.0.0.2".into()]));
        g.write_status(&status("b")).await?;
        g.write_failover_annotations("t", "b").await?;

        api.deny("events", None);
        assert_eq!(http_code(g.event(true, "R", "m").await), Some(403));
        g.write_status(&status("a")).await?;
        Ok(())
    });
}

#[test]
fn outage_modes_refuse_503_and_hang_look_different_to_the_controller() {
    run(|g, api| async move {
        api.set_outage(Some(OutageMode::Refuse503));
        assert_eq!(http_code(g.get().await), Some(503));

        api.set_outage(Some(OutageMode::Refuse));
        let t0 = tokio::time::Instant::now();
        match g.get().await {
            Err(K8sError::Kube(kube::Error::Api(s))) => panic!("refused, yet answered {s:?}"),
            Err(K8sError::Timeout(_)) => panic!("a refusal must fail fast, not time out"),
            Err(_) => {}
            Ok(_) => panic!("a refused connection must fail"),
        }
        assert!(t0.elapsed() < Duration::from_secs(1), "fails fast");

        api.set_outage(Some(OutageMode::Hang));
        let t0 = tokio::time::Instant::now();
        match g.get().await {
            // The client's request timeout or GroupApi's own bound, whichever fires first.
            Err(K8sError::Timeout(_)) => {}
            Err(K8sError::Kube(kube::Error::Service(e))) => {
                assert!(e.to_string().contains("timed out"), "{e}")
            }
            other => panic!("a hang ends with a timeout, got {other:?}"),
        }
        assert!(
            t0.elapsed() >= Duration::from_secs(10),
            "only the timeout ends it"
        );
        api.set_outage(None);
        g.get().await?;
        Ok(())
    });
}

#[test]
fn latency_range_delays_every_call_within_bounds() {
    run(|g, api| async move {
        api.set_latency_range(Duration::from_millis(200), Duration::from_secs(2));
        let mut seen = Vec::new();
        for _ in 0..8 {
            let t0 = tokio::time::Instant::now();
            g.get().await?;
            seen.push(t0.elapsed());
        }
        assert!(seen
            .iter()
            .all(|d| *d >= Duration::from_millis(200) && *d < Duration::from_millis(2200)));
        assert!(
            seen.iter()
                .max()
                .unwrap()
                .saturating_sub(*seen.iter().min().unwrap())
                > Duration::from_millis(100),
            "delays vary: {seen:?}"
        );
        api.set_latency(Duration::ZERO);
        Ok(())
    });
}

#[test]
fn ambiguous_write_is_applied_but_the_caller_sees_an_error() {
    run(|g, api| async move {
        api.ambiguous_writes(1);
        let r = g.write_status(&status("b")).await;
        assert!(r.is_err() && http_code(r).is_none(), "a transport error");
        assert_eq!(
            g.get().await?.status.unwrap().active_site,
            "b",
            "yet applied"
        );
        g.write_status(&status("a")).await?;
        Ok(())
    });
}

#[test]
fn stalled_watch_is_detected_only_by_a_read_timeout_then_dropped() {
    run(|g, api| async move {
        let dns: Api<DynamicObject> = Api::namespaced_with(
            g.client.clone(),
            NAMESPACE,
            &bloodraven::topology::k8s::dns_endpoint_resource(),
        );
        let wp = WatchParams::default().timeout(290);
        let mut stream = dns.watch(&wp, "0").await?.boxed();
        api.stall_watches(true);
        g.apply_dns("db.example", 10, "10.0.0.2").await?;
        // Silent: no event, no bookmark, no close; only the reader's own timeout notices.
        let next = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
        assert!(next.is_err(), "a stalled stream says nothing: {next:?}");
        api.stall_watches(false);
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next()).await?;
        assert!(end.is_none(), "the stall ends with the stream dropped");
        // A fresh watch catches up.
        let mut fresh = dns.watch(&WatchParams::default(), "0").await?.boxed();
        match fresh.next().await {
            Some(Ok(WatchEvent::Added(o))) => {
                assert_eq!(o.data["spec"]["endpoints"][0]["targets"][0], "10.0.0.2")
            }
            other => panic!("expected the record, got {other:?}"),
        }
        Ok(())
    });
}

#[test]
fn stale_watch_starts_from_an_older_resource_version_and_lags() {
    run(|g, api| async move {
        let groups: Api<DynamicObject> = Api::namespaced_with(
            g.client.clone(),
            NAMESPACE,
            &kube::api::ApiResource::erase::<bloodraven::crd::MysqlFailoverGroup>(&()),
        );
        g.write_status(&status("a")).await?;
        api.set_stale_reads(Some(Duration::from_secs(10)));
        g.get().await?; // the copy is taken here
        g.write_status(&status("b")).await?;
        let live_rv = api.resource_version();
        // A fresh watch starts from the copy: the old status at an older resourceVersion.
        let mut stream = groups.watch(&WatchParams::default(), "0").await?.boxed();
        match stream.next().await {
            Some(Ok(WatchEvent::Added(o))) => {
                assert_eq!(o.data["status"]["activeSite"], "a");
                let rv: u64 = o.metadata.resource_version.unwrap().parse()?;
                assert!(rv < live_rv, "served rv {rv} is not older than {live_rv}");
            }
            other => panic!("expected the stale object, got {other:?}"),
        }
        // The write already made is delivered only once the copy catches up.
        let early = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(early.is_err(), "delivered before the lag: {early:?}");
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await? {
            Some(Ok(WatchEvent::Modified(o))) => assert_eq!(o.data["status"]["activeSite"], "b"),
            other => panic!("expected the late update, got {other:?}"),
        }
        Ok(())
    });
}

#[test]
fn stale_reads_serve_an_older_copy_while_writes_hit_the_live_state() {
    run(|g, api| async move {
        g.write_status(&status("a")).await?;
        api.set_stale_reads(Some(Duration::from_secs(10)));
        assert_eq!(g.get().await?.status.unwrap().active_site, "a");
        g.write_status(&status("b")).await?;
        // The write landed, the read path still shows the copy taken before it.
        assert_eq!(g.get().await?.status.unwrap().active_site, "a");
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(
            g.get().await?.status.unwrap().active_site,
            "b",
            "copy retaken"
        );
        g.write_status(&status("a")).await?;
        api.set_stale_reads(None);
        assert_eq!(
            g.get().await?.status.unwrap().active_site,
            "a",
            "live again"
        );
        Ok(())
    });
}
