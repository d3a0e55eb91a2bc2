//! Golden outcomes: each smoke scenario's outcome summary on seed 1 (verdicts, and figures
//! with times rounded to whole seconds and counts of 100 or more to two significant
//! digits, so write totals do not churn) is an insta snapshot, so any behaviour change shows
//! up as a reviewable diff in `tests/snapshots/`. Accept an intended change with
//! `INSTA_UPDATE=always cargo test -p chaos --test golden` and review the diff.

use chaos::campaign::select;
use chaos::report::Report;
use chaos::runner::run_many;
use chaos::scenario::{catalog_dir, load_catalog};

const SEED: u64 = 1;

/// Rounds every `12.3s` in a figure to `12s`: the outcome, not sub-second timing.
fn rounded(figure: &str) -> String {
    let mut out = String::new();
    let mut num = String::new();
    let flush = |num: &mut String, out: &mut String, unit_s: bool| {
        if unit_s {
            if let Ok(v) = num.parse::<f64>() {
                out.push_str(&format!("{}", v.round() as i64));
                num.clear();
                return;
            }
        }
        // Counts: small ones exact (lost writes, repoints), large totals to 2 digits.
        match num.parse::<u64>() {
            Ok(n) if n >= 100 => {
                let scale = 10u64.pow(n.ilog10() - 1);
                out.push_str(&((n + scale / 2) / scale * scale).to_string());
            }
            _ => out.push_str(num),
        }
        num.clear();
    };
    let chars: Vec<char> = figure.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_digit() || (*c == '.' && !num.is_empty()) {
            num.push(*c);
            continue;
        }
        let unit_s = *c == 's' && !chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
        flush(&mut num, &mut out, unit_s);
        out.push(*c);
    }
    flush(&mut num, &mut out, false);
    out
}

fn outcome(r: &Report) -> String {
    let mut s = format!(
        "{} seed {}: {}\n",
        r.scenario,
        r.seed,
        if r.pass { "PASS" } else { "FAIL" }
    );
    for v in &r.verdicts {
        s.push_str(&format!(
            "{:<9} {} {}\n",
            v.property,
            if v.pass { "pass" } else { "FAIL" },
            rounded(&v.figure)
        ));
    }
    s
}

#[test]
fn rounding_keeps_counts_and_rounds_seconds() {
    assert_eq!(rounded("new primary after 21.0s"), "new primary after 21s");
    assert_eq!(
        rounded("0 of 2334 acked writes lost"),
        "0 of 2300 acked writes lost"
    );
    assert_eq!(
        rounded("43 of 3266 acked writes lost, 1 repoint(s)"),
        "43 of 3300 acked writes lost, 1 repoint(s)"
    );
    assert_eq!(
        rounded("20.3s without a writer (longest 20.5s)"),
        "20s without a writer (longest 21s)"
    );
}

#[test]
fn smoke_outcomes_match_their_snapshots() {
    let catalog = load_catalog(&catalog_dir()).expect("the catalog loads");
    let smoke = select(&catalog, "smoke");
    assert!(smoke.len() >= 15, "only {} smoke scenarios", smoke.len());
    let jobs: Vec<_> = smoke.iter().map(|l| (*l, SEED)).collect();
    for r in run_many(&jobs, 2).expect("simulations run") {
        insta::assert_snapshot!(format!("{}-seed{SEED}", r.scenario), outcome(&r));
    }
}
