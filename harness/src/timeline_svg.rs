//! `timeline.svg`: a run at a glance. One lane per site (down / read-only / writable over
//! time), the DNS target and `status.activeSite` lanes, fault windows, and the controller's
//! decisions (failovers, blocks, recoveries, fences) as markers on a time axis.
//! Hand-written SVG: every element carries a class (and lanes a `data-lane`) so tests and
//! stylesheets can find them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::report::Report;
use crate::trace::EventKind;
use crate::world::CONTROLLER_HOST;

const LABEL_W: f64 = 110.0;
const PLOT_W: f64 = 900.0;
const LANE_H: f64 = 22.0;
const LANE_GAP: f64 = 8.0;
const TOP: f64 = 40.0;

/// Colours per site state, and a palette for naming sites in the DNS/active lanes.
const WRITABLE: &str = "#2e9e44";
const READ_ONLY: &str = "#8fb3d9";
const DOWN: &str = "#444444";
const PALETTE: &[&str] = &["#e07b39", "#7a5cc7", "#2a9d8f", "#c44e52", "#8c6d31"];

/// Controller log prefixes drawn as decision markers, with their marker class.
const DECISIONS: &[(&str, &str)] = &[
    ("initiating failover", "decision failover-start"),
    ("failover complete", "decision failover"),
    ("failover failed", "decision failover-failed"),
    ("failover blocked", "decision blocked"),
    ("initiating old primary recovery", "decision recovery"),
    ("divergence detected", "decision divergence"),
    ("split-brain auto-resolve", "decision split-brain"),
    ("ALERT SPLIT BRAIN", "decision split-brain"),
    ("fencing returning old primary", "decision fence"),
    ("re-asserting fenced promoted primary", "decision reassert"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

struct Scale {
    end_ms: f64,
}

impl Scale {
    fn x(&self, ms: u64) -> f64 {
        LABEL_W + PLOT_W * (ms as f64 / self.end_ms).min(1.0)
    }
}

/// Spans of a piecewise-constant value: (start, end, value).
fn spans<T: Clone + PartialEq>(changes: &[(u64, T)], end: u64) -> Vec<(u64, u64, T)> {
    let mut out: Vec<(u64, u64, T)> = vec![];
    for (i, (t, v)) in changes.iter().enumerate() {
        if out.last().is_some_and(|l| l.2 == *v) {
            continue;
        }
        if let Some(l) = out.last_mut() {
            l.1 = *t;
        }
        let _ = i;
        out.push((*t, end, v.clone()));
    }
    out
}

pub fn render(report: &Report) -> String {
    let end = (report.virtual_seconds * 1000.0) as u64;
    let end = end.max(report.events.last().map_or(1, |e| e.at_ms)).max(1);
    let sc = Scale { end_ms: end as f64 };
    let sites: Vec<String> = report
        .final_state
        .sites
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let colour = |site: &str| {
        sites
            .iter()
            .position(|s| s == site)
            .map_or("#999999", |i| PALETTE[i % PALETTE.len()])
    };
    // Collect state changes.
    let mut site_states: BTreeMap<String, Vec<(u64, &str)>> = BTreeMap::new();
    let mut dns: Vec<(u64, Option<String>)> = vec![];
    let mut active: Vec<(u64, String)> = vec![];
    let mut faults: Vec<(u64, Option<u64>, String)> = vec![];
    let mut open: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut decisions: Vec<(u64, &str, String)> = vec![];
    for e in &report.events {
        match &e.kind {
            EventKind::MysqlState {
                site,
                up,
                read_only,
                ..
            } => {
                let st = match (up, read_only) {
                    (false, _) => "down",
                    (true, true) => "read-only",
                    (true, false) => "writable",
                };
                site_states
                    .entry(site.clone())
                    .or_default()
                    .push((e.at_ms, st));
            }
            EventKind::Dns { target } => dns.push((e.at_ms, target.clone())),
            EventKind::ActiveSite { site } => active.push((e.at_ms, site.clone())),
            EventKind::Fault { op, detail, heal } => {
                let who = detail.split_whitespace().next().unwrap_or_default();
                let key = (op.clone(), who.to_string());
                if *heal {
                    if let Some(i) = open.remove(&key) {
                        faults[i].1 = Some(e.at_ms);
                    }
                } else {
                    open.insert(key, faults.len());
                    faults.push((e.at_ms, None, format!("{op} {detail}")));
                }
            }
            EventKind::Log { host, msg, .. } if host == CONTROLLER_HOST => {
                if let Some((_, class)) = DECISIONS.iter().find(|(p, _)| msg.starts_with(p)) {
                    decisions.push((e.at_ms, class, msg.clone()));
                }
            }
            EventKind::Log { host, msg, .. } if msg.starts_with("SELF-FENC") => {
                decisions.push((e.at_ms, "decision self-fence", format!("{host}: {msg}")));
            }
            _ => {}
        }
    }
    let lanes = sites.len() + 4;
    let height = TOP + lanes as f64 * (LANE_H + LANE_GAP) + 50.0;
    let width = LABEL_W + PLOT_W + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<title>{} seed {}: {}</title>"#,
        esc(&report.scenario),
        report.seed,
        if report.pass { "PASS" } else { "FAIL" }
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text class="heading" x="8" y="18" font-size="13" font-weight="bold">{} · seed {} · {} · {}</text>"#,
        esc(&report.scenario),
        report.seed,
        if report.pass { "PASS" } else { "FAIL" },
        esc(&report.description)
    );
    let lane_y = |i: usize| TOP + i as f64 * (LANE_H + LANE_GAP);
    let mut lane = 0;
    let mut open_lane = |s: &mut String, name: &str, label: &str| {
        let y = lane_y(lane);
        lane += 1;
        let _ = writeln!(
            s,
            r##"<g class="lane" data-lane="{name}"><text class="lane-label" x="8" y="{}">{}</text><rect class="lane-bg" x="{LABEL_W}" y="{y}" width="{PLOT_W}" height="{LANE_H}" fill="#f4f4f4"/>"##,
            y + LANE_H * 0.7,
            esc(label)
        );
        y
    };
    let bar = |s: &mut String, class: &str, y: f64, from: u64, to: u64, fill: &str, title: &str| {
        let (x0, x1) = (sc.x(from), sc.x(to));
        let _ = writeln!(
            s,
            r#"<rect class="{class}" x="{x0:.1}" y="{y}" width="{:.1}" height="{LANE_H}" fill="{fill}"><title>{}</title></rect>"#,
            (x1 - x0).max(0.5),
            esc(title)
        );
    };
    // Site lanes.
    for site in &sites {
        let y = open_lane(&mut s, &format!("site-{site}"), &format!("site {site}"));
        let changes = site_states.get(site).cloned().unwrap_or_default();
        for (from, to, st) in spans(&changes, end) {
            let fill = match st {
                "writable" => WRITABLE,
                "read-only" => READ_ONLY,
                _ => DOWN,
            };
            bar(
                &mut s,
                &format!("state {st}"),
                y,
                from,
                to,
                fill,
                &format!(
                    "{site} {st} {:.1}s-{:.1}s",
                    from as f64 / 1e3,
                    to as f64 / 1e3
                ),
            );
        }
        let _ = writeln!(s, "</g>");
    }
    // DNS and activeSite lanes: coloured by the site they name.
    for (name, label, changes) in [
        ("dns", "DNS target", dns.clone()),
        (
            "active",
            "activeSite",
            active
                .iter()
                .map(|(t, a)| (*t, (!a.is_empty()).then(|| a.clone())))
                .collect(),
        ),
    ] {
        let y = open_lane(&mut s, name, label);
        for (from, to, target) in spans(&changes, end) {
            if let Some(t) = target {
                bar(
                    &mut s,
                    &format!("target site-{t}"),
                    y,
                    from,
                    to,
                    colour(&t),
                    &format!("{label} {t}"),
                );
                let _ = writeln!(
                    s,
                    r#"<text class="target-label" x="{:.1}" y="{}" fill="white">{}</text>"#,
                    sc.x(from) + 3.0,
                    y + LANE_H * 0.7,
                    esc(&t)
                );
            }
        }
        let _ = writeln!(s, "</g>");
    }
    // Fault windows.
    let y = open_lane(&mut s, "faults", "faults");
    for (from, to, label) in &faults {
        let to = to.unwrap_or(end).max(from + 200);
        bar(&mut s, "fault", y, *from, to, "#f2a541", label);
        let _ = writeln!(
            s,
            r#"<text class="fault-label" x="{:.1}" y="{}">{}</text>"#,
            sc.x(*from) + 2.0,
            y + LANE_H * 0.7,
            esc(label)
        );
    }
    let _ = writeln!(s, "</g>");
    // Controller decisions.
    let y = open_lane(&mut s, "controller", "controller");
    for (t, class, msg) in &decisions {
        let x = sc.x(*t);
        let fill = if class.contains("failover") && !class.contains("start") {
            "#c0392b"
        } else {
            "#555555"
        };
        let _ = writeln!(
            s,
            r#"<path class="{class}" d="M{x:.1},{} l5,{} l-10,0 z" fill="{fill}"><title>{:.1}s {}</title></path>"#,
            y + 3.0,
            LANE_H - 6.0,
            *t as f64 / 1e3,
            esc(msg)
        );
        if class.ends_with("failover") {
            // A failover is drawn across every lane so it lines up with the states.
            let _ = writeln!(
                s,
                r##"<line class="failover-line" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#c0392b" stroke-dasharray="3,3"/>"##,
                y + LANE_H
            );
        }
    }
    let _ = writeln!(s, "</g>");
    // Time axis.
    let axis_y = lane_y(lane) + 4.0;
    let _ = writeln!(
        s,
        r#"<g class="axis"><line x1="{LABEL_W}" y1="{axis_y}" x2="{}" y2="{axis_y}" stroke="black"/>"#,
        LABEL_W + PLOT_W
    );
    let step = match end {
        0..=60_000 => 10_000,
        60_001..=300_000 => 30_000,
        _ => 60_000,
    };
    let mut t = 0;
    while t <= end {
        let x = sc.x(t);
        let _ = writeln!(
            s,
            r#"<line class="tick" x1="{x:.1}" y1="{axis_y}" x2="{x:.1}" y2="{}" stroke="black"/><text x="{x:.1}" y="{}" text-anchor="middle">{}s</text>"#,
            axis_y + 5.0,
            axis_y + 17.0,
            t / 1000
        );
        t += step;
    }
    let _ = writeln!(s, "</g>");
    // Legend.
    let ly = axis_y + 30.0;
    for (i, (label, fill)) in [
        ("writable", WRITABLE),
        ("read-only", READ_ONLY),
        ("down", DOWN),
        ("fault", "#f2a541"),
        ("failover", "#c0392b"),
    ]
    .iter()
    .enumerate()
    {
        let x = LABEL_W + i as f64 * 110.0;
        let _ = writeln!(
            s,
            r#"<g class="legend"><rect x="{x}" y="{}" width="12" height="12" fill="{fill}"/><text x="{}" y="{ly}">{label}</text></g>"#,
            ly - 10.0,
            x + 16.0
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}
