//! The checked-in CRD manifest the playground installs must be exactly what the Rust types
//! generate, so a field added to `crd.rs` cannot silently miss the cluster's schema.

const CHECKED_IN: &str = "../playground/manifests/crds/mysqlfailovergroups.shipstream.io.yaml";

#[test]
fn checked_in_crd_matches_the_rust_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CHECKED_IN);
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let generated = bloodraven::crd::crd_yaml();
    if on_disk != generated {
        let first = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "length differs".to_string(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "{} drifted from bloodraven::crd::crd_yaml() (first difference: {first}).\n\
             Regenerate it from the workspace root with:\n    \
             cargo run -q -p bloodraven -- crd > playground/manifests/crds/mysqlfailovergroups.shipstream.io.yaml",
            path.display()
        );
    }
}

/// The backup CRDs likewise; `UPDATE_CRDS=1` rewrites the checked-in files.
#[test]
fn checked_in_backup_crds_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../playground/manifests/crds");
    for (stem, generated) in bloodraven::backup::crd::crd_yamls() {
        let path = dir.join(format!("{stem}.yaml"));
        if std::env::var_os("UPDATE_CRDS").is_some() {
            std::fs::write(&path, &generated).expect("writing the CRD");
        }
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        assert!(
            on_disk == generated,
            "{} drifted from bloodraven::backup::crd::crd_yamls(); regenerate it with:\n    \
             UPDATE_CRDS=1 cargo test -p bloodraven --test crd_manifest",
            path.display()
        );
    }
}
