//! Issue 11 grew the simulator tick from 10 ms to 20 ms for speed. That is only allowed if
//! no verdict changes: every smoke scenario is judged at both ticks and each property must
//! pass or fail alike.

use std::time::Duration;

use chaos::runner::run_and_judge_with_tick;
use chaos::scenario::{catalog_dir, load_catalog};
use chaos::world::TICK;

/// Each property and whether it passed.
type Verdicts = Vec<(String, bool)>;

const FINE: Duration = Duration::from_millis(10);

#[test]
fn smoke_verdicts_are_the_same_at_the_fine_tick() {
    assert!(TICK > FINE, "the default tick is the coarse one");
    let smoke: Vec<_> = load_catalog(&catalog_dir())
        .expect("the catalog loads")
        .into_iter()
        .filter(|l| l.scenario.profiles.iter().any(|p| p == "smoke"))
        .collect();
    assert!(!smoke.is_empty());
    let outcomes: Vec<(String, Verdicts, Verdicts)> = std::thread::scope(|s| {
        let handles: Vec<_> = smoke
            .iter()
            .map(|l| {
                s.spawn(move || {
                    let verdicts = |tick| {
                        run_and_judge_with_tick(l, 1, false, tick)
                            .expect("simulation runs")
                            .verdicts
                            .into_iter()
                            .map(|v| (v.property, v.pass))
                            .collect::<Verdicts>()
                    };
                    (l.scenario.id.clone(), verdicts(FINE), verdicts(TICK))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (id, fine, coarse) in outcomes {
        assert_eq!(
            fine, coarse,
            "{id}: verdicts differ between 10 ms and the default tick"
        );
    }
}
