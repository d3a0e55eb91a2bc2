//! The kill-site timeline, rendered from a real run, has what a reader needs: a lane per
//! site, DNS and activeSite lanes, the fault window, the failover marker lined up in time,
//! and a time axis.

use chaos::runner::run_and_judge;
use chaos::scenario::{catalog_dir, find};

fn attr(tag: &str, name: &str) -> f64 {
    let key = format!("{name}=\"");
    let start = tag.find(&key).expect("attribute present") + key.len();
    tag[start..].split('"').next().unwrap().parse().unwrap()
}

/// The first element whose opening tag contains `needle`.
fn tag<'a>(svg: &'a str, needle: &str) -> &'a str {
    let at = svg
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} missing"));
    let open = svg[..at].rfind('<').unwrap();
    let close = at + svg[at..].find('>').unwrap();
    &svg[open..=close]
}

#[test]
fn kill_site_timeline_has_lanes_fault_window_failover_marker_and_axis() {
    let scenario = find(&catalog_dir(), "kill-site").unwrap();
    let report = run_and_judge(&scenario, 1, false).unwrap();
    let svg = chaos::timeline_svg::render(&report);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<g").count(), svg.matches("</g>").count());
    for lane in ["site-a", "site-b", "dns", "active", "faults", "controller"] {
        assert!(
            svg.contains(&format!("data-lane=\"{lane}\"")),
            "lane {lane} missing"
        );
    }
    // a goes down at the fault (30s of 120s) and stays down; b turns writable later.
    let down = tag(&svg, "class=\"state down\"");
    let fault = tag(&svg, "class=\"fault\"");
    assert!(svg.contains(">node-down a"), "fault label");
    assert!(
        (attr(down, "x") - attr(fault, "x")).abs() < 1.0,
        "{down} / {fault}"
    );
    let failover = tag(&svg, "class=\"decision failover\"");
    let line = tag(&svg, "class=\"failover-line\"");
    let fx = attr(line, "x1");
    assert!(fx > attr(fault, "x"), "the failover follows the fault");
    assert!(
        failover.contains(&format!("M{fx:.1},")),
        "{failover} / {line}"
    );
    // b's writable bar starts at the failover marker (within a pixel).
    let b_lane = &svg[svg.find("data-lane=\"site-b\"").unwrap()..];
    let b_writable = tag(b_lane, "class=\"state writable\"");
    assert!(
        (attr(b_writable, "x") - fx).abs() < 1.5,
        "{b_writable} / {fx}"
    );
    // DNS ends on b.
    let dns_lane =
        &svg[svg.find("data-lane=\"dns\"").unwrap()..svg.find("data-lane=\"active\"").unwrap()];
    assert!(dns_lane.contains("class=\"target site-b\""));
    // Axis: 0s to 120s every 30s.
    assert_eq!(svg.matches("class=\"tick\"").count(), 5);
    assert!(svg.contains(">120s</text>"));
}
