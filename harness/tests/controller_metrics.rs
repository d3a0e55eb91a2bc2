//! Component test of the metrics (spec §8.3): a failover driven through the real topology
//! manager, then `/metrics` scraped over HTTP from the aux server serving the same registry.

mod controller_support;

use std::time::Duration;

use chaos::simnet::SimListener;
use controller_support::{simulate, Setup};

const AUX_PORT: u16 = 8082;

#[test]
fn metrics_endpoint_reports_a_failover() {
    simulate(Setup::two_sites(), |ctx| async move {
        let aux = SimListener::bind(AUX_PORT).await.expect("bind aux");
        tokio::spawn(bloodraven::http::serve(
            Box::new(aux),
            bloodraven::aux_server::handler(ctx.registry.clone()),
        ));
        let mut m = ctx.manager().await;
        ctx.polls(&mut m, 3).await;
        ctx.engine("a").shutdown();
        ctx.polls(&mut m, 4).await;
        assert_eq!(ctx.status()["activeSite"], "b");

        let r = bloodraven::http::get(
            &*ctx.dialer,
            "127.0.0.1",
            AUX_PORT,
            "/metrics",
            Duration::from_secs(5),
        )
        .await
        .expect("scrape /metrics");
        assert_eq!(r.status, 200);
        let text = r.body;
        for line in [
            "bloodraven_failovers_total{target_site=\"b\"} 1",
            "bloodraven_state_transitions_total{site=\"a\",from=\"unknown\",to=\"writable\"} 1",
            "bloodraven_state_transitions_total{site=\"a\",from=\"writable\",to=\"unreachable\"} 1",
            "bloodraven_state_transitions_total{site=\"b\",from=\"read-only\",to=\"writable\"} 1",
            "bloodraven_dns_flips_total{site=\"a\"} 1",
            "bloodraven_dns_flips_total{site=\"b\"} 1",
            "bloodraven_divergent_transactions{site=\"a\"} 0",
            "bloodraven_site_state{namespace=\"comp\",group=\"g\",site=\"a\",role=\"primary-candidate\",state=\"unreachable\"} 1",
            "bloodraven_site_state{namespace=\"comp\",group=\"g\",site=\"a\",role=\"primary-candidate\",state=\"writable\"} 0",
            "bloodraven_site_state{namespace=\"comp\",group=\"g\",site=\"b\",role=\"primary-candidate\",state=\"writable\"} 1",
            "# TYPE bloodraven_split_brain_auto_resolve counter",
            "# TYPE bloodraven_primary_reassert counter",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
        // The rest of the DNS reconcile is level-triggered: no flip without a change.
        ctx.polls(&mut m, 3).await;
        assert_eq!(
            ctx.metric(bloodraven::metrics::DNS_FLIPS, &[("site", "b")]),
            1
        );
    });
}
