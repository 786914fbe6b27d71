//! Directory listings and client reply values (first four bytes: the caller's `now`) through
//! every client-side parser; no entry may name anything outside the listed directory, and
//! values must round-trip. Logic: `ftp_proto::fuzzing::list_parse`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::list_parse(data));
