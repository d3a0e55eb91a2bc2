//! Finds the line of a scenario field (`faults[2].site`, `topology.active`,
//! `expect.properties[0]`) in the file text, so load errors can name it. A plain line scan
//! over the TOML shapes scenario files use (tables, arrays of tables, `key = value`).

/// 1-based line of `field`, if it can be found.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut parts = field.split('.');
    let first = parts.next()?;
    let (table, index) = match first.split_once('[') {
        Some((t, i)) => (t, i.trim_end_matches(']').parse::<usize>().ok()),
        None => (first, None),
    };
    let rest: Vec<&str> = parts.collect();
    // A top-level key (`duration`) or a key inside a table (`topology.active`).
    let (section_start, key) = match (rest.first(), index) {
        (None, _) => (0, table),
        (Some(k), None) => (header_line(&lines, &format!("[{table}]"), 0)?, *k),
        (Some(k), Some(i)) => (header_line(&lines, &format!("[[{table}]]"), i)?, *k),
    };
    let key = key.split('[').next().unwrap_or(key);
    let end = lines[section_start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |p| section_start + 1 + p);
    let from = if section_start == 0 && rest.is_empty() {
        0
    } else {
        section_start + 1
    };
    let found = (from..end).find(|i| {
        let l = lines[*i].trim_start();
        l.strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
    });
    // A missing key (e.g. a required field not written) points at its section.
    Some(found.unwrap_or(section_start) + 1)
}

/// The line index of the `n`-th (0-based) line equal to `header`.
fn header_line(lines: &[&str], header: &str, n: usize) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == header)
        .nth(n)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const TEXT: &str = "id = \"x\"\nduration = \"60s\"\n[topology]\nsites = []\nactive = \"a\"\n[[faults]]\nat = \"1s\"\nop = \"crash\"\n[[faults]]\nat = \"2s\"\nsite = \"z\"\n[expect]\nproperties = [\"SW\"]\n";

    #[test]
    fn finds_top_level_table_and_array_fields() {
        assert_eq!(line_of(TEXT, "duration"), Some(2));
        assert_eq!(line_of(TEXT, "topology.active"), Some(5));
        assert_eq!(line_of(TEXT, "faults[1].site"), Some(11));
        assert_eq!(line_of(TEXT, "faults[0].op"), Some(8));
        assert_eq!(line_of(TEXT, "expect.properties[0]"), Some(13));
        // Absent key: its section's header.
        assert_eq!(line_of(TEXT, "faults[1].op"), Some(9));
        assert_eq!(line_of(TEXT, "faults[5].op"), None);
    }
}
