//! `chaos run-all`: a campaign of (scenario, seed) runs of one profile, in parallel on
//! worker threads, with a progress bar, a clean stop on Ctrl-C, and its outputs: each run's
//! report folder, `index.md`, `index.html` and optionally a JUnit file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde::Deserialize;

use crate::report::Report;
use crate::runner::run_and_judge;
use crate::scenario::{Loaded, ScenarioError};

/// Profiles nest: smoke ⊂ release ⊂ full (scenario files list every profile they are in).
pub const PROFILES: &[&str] = &["smoke", "release", "full"];

/// The scenarios of a profile, in catalog order.
pub fn select<'a>(catalog: &'a [Loaded], profile: &str) -> Vec<&'a Loaded> {
    catalog
        .iter()
        .filter(|l| l.scenario.profiles.iter().any(|p| p == profile))
        .collect()
}

/// A catalog scenario not runnable yet: listed by `chaos list`, refused by `chaos run`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub id: String,
    pub reason: String,
    /// The issue that will make it runnable.
    pub issue: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingFile {
    #[serde(default)]
    pending: Vec<Pending>,
}

/// Reads `<catalog>/pending/pending.toml` (absent = none pending).
pub fn pending(catalog_dir: &Path) -> Result<Vec<Pending>, ScenarioError> {
    let path = catalog_dir.join("pending").join("pending.toml");
    let file = path.display().to_string();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(vec![]);
    };
    let parsed: PendingFile = toml::from_str(&text).map_err(|e| ScenarioError {
        file: file.clone(),
        field: "pending".into(),
        message: e.to_string(),
    })?;
    Ok(parsed.pending)
}

/// One finished run, without its trace (the report folder has it).
#[derive(Clone, Debug)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    pub pass: bool,
    /// `property: figure` of each verdict, failed ones marked.
    pub figures: Vec<(String, bool, String)>,
    pub failures: Vec<String>,
    pub wall_seconds: f64,
    /// Report folder, relative to the campaign folder.
    pub dir: String,
}

impl RunSummary {
    fn of(r: &Report, dir: String) -> Self {
        Self {
            scenario: r.scenario.clone(),
            seed: r.seed,
            pass: r.pass,
            figures: r
                .verdicts
                .iter()
                .map(|v| (v.property.clone(), v.pass, v.figure.clone()))
                .collect(),
            failures: r
                .verdicts
                .iter()
                .filter(|v| !v.pass)
                .map(|v| format!("{}: {}", v.property, v.detail))
                .collect(),
            wall_seconds: r.wall_seconds,
            dir,
        }
    }
}

pub struct Options {
    pub profile: String,
    pub seeds: u64,
    pub jobs: usize,
    pub out: PathBuf,
    pub junit: Option<PathBuf>,
    pub progress: bool,
}

pub struct Outcome {
    pub runs: Vec<RunSummary>,
    pub planned: usize,
    pub interrupted: bool,
    /// Runs the simulator could not execute (not verdicts): `(scenario, seed, error)`.
    pub errors: Vec<String>,
}

impl Outcome {
    pub fn failed(&self) -> usize {
        self.runs.iter().filter(|r| !r.pass).count()
    }
}

/// Runs the campaign. `stop` is polled between runs (Ctrl-C sets it): runs in flight finish,
/// no new one starts, and everything finished is written.
pub fn run(catalog: &[Loaded], opts: &Options, stop: Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    let scenarios = select(catalog, &opts.profile);
    let jobs: Vec<(&Loaded, u64)> = scenarios
        .iter()
        .flat_map(|l| (1..=opts.seeds).map(move |s| (*l, s)))
        .collect();
    std::fs::create_dir_all(&opts.out)?;
    let bar = if opts.progress {
        indicatif::ProgressBar::new(jobs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} runs · {msg} · elapsed {elapsed} · ETA {eta}",
        )
        .expect("a valid progress template"),
    );
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(500));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<Report>)>();
    let mut runs: Vec<(usize, RunSummary)> = vec![];
    let mut errors = vec![];
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            let (tx, jobs, next, stop) = (tx.clone(), &jobs, &next, &stop);
            s.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((scenario, seed)) = jobs.get(i) else {
                    return;
                };
                if tx.send((i, run_and_judge(scenario, *seed, false))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            let (scenario, seed) = jobs[i];
            match result {
                Ok(report) => {
                    let dir = format!("{}-{seed}", report.scenario);
                    if let Err(e) = report.write(&opts.out.join(&dir)) {
                        errors.push(format!("{dir}: writing the report: {e}"));
                    }
                    if !report.pass {
                        bar.println(format!("FAIL {dir}: {}", first_failure(&report)));
                    }
                    runs.push((i, RunSummary::of(&report, dir)));
                }
                Err(e) => errors.push(format!("{}-{seed}: {e:#}", scenario.scenario.id)),
            }
            let failed = runs.iter().filter(|(_, r)| !r.pass).count() + errors.len();
            bar.set_message(format!("{failed} failed"));
            bar.inc(1);
        }
    });
    bar.finish_and_clear();
    runs.sort_by_key(|(i, _)| *i);
    let outcome = Outcome {
        runs: runs.into_iter().map(|(_, r)| r).collect(),
        planned: jobs.len(),
        interrupted: stop.load(Ordering::SeqCst),
        errors,
    };
    std::fs::write(opts.out.join("index.md"), index_md(&outcome, opts))?;
    std::fs::write(opts.out.join("index.html"), index_html(&outcome, opts))?;
    if let Some(path) = &opts.junit {
        std::fs::write(path, junit(&outcome, opts))?;
    }
    Ok(outcome)
}

fn first_failure(r: &Report) -> String {
    r.verdicts
        .iter()
        .find(|v| !v.pass)
        .map(|v| format!("{} {}", v.property, v.detail))
        .unwrap_or_default()
}

/// The figures shown in the index: the measured ones the issue asks for, when judged.
const INDEX_FIGURES: &[&str] = &["FAILOVER", "RPO-A", "SW", "SW-H", "EG", "DNS-C"];

fn figures(r: &RunSummary) -> String {
    r.figures
        .iter()
        .filter(|(p, pass, _)| INDEX_FIGURES.contains(&p.as_str()) || !pass)
        .map(|(p, pass, f)| format!("{}{p}: {f}", if *pass { "" } else { "FAIL " }))
        .collect::<Vec<_>>()
        .join("; ")
}

fn headline(o: &Outcome, opts: &Options) -> String {
    format!(
        "profile {} · {} of {} run(s) · {} failed{}{}",
        opts.profile,
        o.runs.len(),
        o.planned,
        o.failed(),
        if o.errors.is_empty() {
            String::new()
        } else {
            format!(" · {} could not run", o.errors.len())
        },
        if o.interrupted { " · INTERRUPTED" } else { "" }
    )
}

pub fn index_md(o: &Outcome, opts: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Chaos campaign\n\n{}\n", headline(o, opts));
    let _ = writeln!(
        s,
        "| scenario | seed | verdict | figures | report | timeline |\n|---|---|---|---|---|---|"
    );
    for r in &o.runs {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | [report.md]({}/report.md) | [timeline.svg]({}/timeline.svg) |",
            r.scenario,
            r.seed,
            if r.pass { "pass" } else { "**FAIL**" },
            figures(r).replace('|', "\\|"),
            r.dir,
            r.dir
        );
    }
    for e in &o.errors {
        let _ = writeln!(s, "\nCould not run: {e}");
    }
    s
}

fn html_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn index_html(o: &Outcome, opts: &Options) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Chaos campaign</title>\n<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:3px 6px}} table{{border-collapse:collapse}} .pass{{color:#2e7d32}} .fail{{color:#c62828;font-weight:bold}} img{{max-width:100%}}</style></head><body>"
    );
    let _ = writeln!(
        s,
        "<h1>Chaos campaign</h1><p>{}</p>",
        html_esc(&headline(o, opts))
    );
    let _ = writeln!(
        s,
        "<table><tr><th>scenario</th><th>seed</th><th>verdict</th><th>figures</th><th>links</th></tr>"
    );
    for r in &o.runs {
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#{d}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td><a href=\"{d}/report.md\">report.md</a> <a href=\"{d}/report.json\">report.json</a> <a href=\"{d}/timeline.svg\">timeline.svg</a></td></tr>",
            html_esc(&r.scenario),
            r.seed,
            if r.pass { "pass" } else { "fail" },
            if r.pass { "pass" } else { "FAIL" },
            html_esc(&figures(r)),
            d = html_esc(&r.dir)
        );
    }
    let _ = writeln!(s, "</table>");
    for r in &o.runs {
        let _ = writeln!(
            s,
            "<h2 id=\"{d}\">{d}</h2><img src=\"{d}/timeline.svg\" alt=\"timeline of {d}\">",
            d = html_esc(&r.dir)
        );
    }
    for e in &o.errors {
        let _ = writeln!(s, "<p class=\"fail\">Could not run: {}</p>", html_esc(e));
    }
    let _ = writeln!(s, "</body></html>");
    s
}

/// JUnit XML: one test case per (scenario, seed), failures carry the failed verdicts.
pub fn junit(o: &Outcome, opts: &Options) -> String {
    let mut s = String::new();
    let time: f64 = o.runs.iter().map(|r| r.wall_seconds).sum();
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<testsuite name="chaos-{}" tests="{}" failures="{}" errors="{}" time="{time:.3}">"#,
        html_esc(&opts.profile),
        o.runs.len() + o.errors.len(),
        o.failed(),
        o.errors.len()
    );
    for r in &o.runs {
        let _ = write!(
            s,
            r#"  <testcase classname="{}" name="{}-seed{}" time="{:.3}">"#,
            html_esc(&r.scenario),
            html_esc(&r.scenario),
            r.seed,
            r.wall_seconds
        );
        if !r.pass {
            let _ = write!(
                s,
                r#"<failure message="{}">{}</failure>"#,
                html_esc(r.failures.first().map_or("", String::as_str)),
                html_esc(&r.failures.join("\n"))
            );
        }
        let _ = writeln!(s, "</testcase>");
    }
    for e in &o.errors {
        let _ = writeln!(
            s,
            r#"  <testcase classname="chaos" name="could-not-run"><error message="{}"/></testcase>"#,
            html_esc(e)
        );
    }
    let _ = writeln!(s, "</testsuite>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, seed: u64, pass: bool) -> RunSummary {
        RunSummary {
            scenario: id.into(),
            seed,
            pass,
            figures: vec![
                ("FAILOVER".into(), true, "new primary after 21.0s".into()),
                ("NOFO".into(), pass, "0 promotion(s)".into()),
                ("DW".into(), true, "hidden when passing".into()),
            ],
            failures: if pass {
                vec![]
            } else {
                vec!["NOFO: promoted b <at 40s>".into()]
            },
            wall_seconds: 0.5,
            dir: format!("{id}-{seed}"),
        }
    }

    fn opts() -> Options {
        Options {
            profile: "smoke".into(),
            seeds: 2,
            jobs: 1,
            out: PathBuf::from("/nonexistent"),
            junit: None,
            progress: false,
        }
    }

    #[test]
    fn index_and_junit_show_failures_figures_and_links() {
        let o = Outcome {
            runs: vec![run("kill-site", 1, true), run("kill-site", 2, false)],
            planned: 3,
            interrupted: true,
            errors: vec![],
        };
        let md = index_md(&o, &opts());
        assert!(
            md.contains("2 of 3 run(s) · 1 failed · INTERRUPTED"),
            "{md}"
        );
        assert!(md.contains("| kill-site | 2 | **FAIL** | FAILOVER: new primary after 21.0s; FAIL NOFO: 0 promotion(s) |"), "{md}");
        assert!(md.contains("[timeline.svg](kill-site-1/timeline.svg)"));
        assert!(!md.contains("hidden when passing"));
        let html = index_html(&o, &opts());
        assert!(html.contains("<img src=\"kill-site-2/timeline.svg\""));
        assert!(html.contains("class=\"fail\">FAIL"));
        let xml = junit(&o, &opts());
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"NOFO: promoted b &lt;at 40s&gt;\">"),
            "{xml}"
        );
        assert_eq!(xml.matches("<testcase").count(), 2);
    }

    #[test]
    fn profiles_nest_in_the_catalog() {
        let catalog = crate::scenario::load_catalog(&crate::scenario::catalog_dir()).unwrap();
        let ids = |p| -> Vec<String> {
            select(&catalog, p)
                .iter()
                .map(|l| l.scenario.id.clone())
                .collect()
        };
        let (smoke, release, full) = (ids("smoke"), ids("release"), ids("full"));
        assert!(smoke.len() >= 15, "{smoke:?}");
        assert!(smoke.iter().all(|s| release.contains(s)));
        assert!(release.iter().all(|s| full.contains(s)));
        assert_eq!(full.len(), catalog.len(), "every scenario is in full");
    }

    #[test]
    fn pending_scenarios_load_and_are_not_in_the_catalog() {
        let dir = crate::scenario::catalog_dir();
        let pending = pending(&dir).unwrap();
        assert!(!pending.is_empty());
        let catalog = crate::scenario::load_catalog(&dir).unwrap();
        for p in pending {
            assert!(!p.reason.is_empty() && p.issue > 0, "{p:?}");
            assert!(
                !catalog.iter().any(|l| l.scenario.id == p.id),
                "{} is both pending and in the catalog",
                p.id
            );
        }
    }
}
