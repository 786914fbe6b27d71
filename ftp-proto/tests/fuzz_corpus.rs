//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/*`) through the same target logic
//! that cargo-fuzz runs (`ftp_proto::fuzzing`), so stable `cargo test` guards every finding.

// Test code may read files: the crate's sans-IO lints (clippy.toml) guard the library itself.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

#[test]
fn fuzz_corpus_replays_without_failures() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut total = 0;
    for target in ftp_proto::fuzzing::TARGETS {
        let dir = root.join(target);
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            if !path.is_file() {
                continue;
            }
            let data = fs::read(&path).unwrap();
            assert!(
                ftp_proto::fuzzing::run(target, &data, Instant::now()),
                "unknown target {target}"
            );
            count += 1;
        }
        assert!(
            count > 0,
            "no corpus files for {target} in {}",
            dir.display()
        );
        total += count;
    }
    assert!(total >= ftp_proto::fuzzing::TARGETS.len());
}
