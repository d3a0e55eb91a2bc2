//! The simulations the benchmark measures, besides catalog scenarios: a quiet group (no
//! fault) of a given size and length, to show how cost grows with sites and run length.

use crate::scenario::{self, Loaded};

/// Site names for up to 8 sites.
const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

/// `sites` sites (2 to 8), a active, steady counter load, no fault, `minutes` long.
pub fn quiet(sites: usize, minutes: u64) -> Loaded {
    assert!((2..=NAMES.len()).contains(&sites), "2 to 8 sites");
    let names = &NAMES[..sites];
    let site_list = names
        .iter()
        .map(|n| format!("{{ name = \"{n}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let priorities = names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        r#"
id = "quiet-{sites}x{minutes}m"
description = "benchmark: {sites} sites, no fault, {minutes} virtual minutes"
duration = "{minutes}m"

[topology]
sites = [{site_list}]
active = "a"
priorities = [{priorities}]

[expect]
properties = ["SW", "NOFO"]
"#
    );
    scenario::parse("bench", &text).expect("the benchmark scenario is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_shapes_load_with_their_size_and_length() {
        let l = quiet(8, 30);
        assert_eq!(l.scenario.topology.sites.len(), 8);
        assert_eq!(l.duration, std::time::Duration::from_secs(1800));
        assert!(l.faults.is_empty());
    }
}
