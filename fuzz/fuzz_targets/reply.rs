//! Server replies (first byte: split point) through `ReplyParser`, whole and split; the results
//! must agree and round-trip. Logic: `ftp_proto::fuzzing::reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::reply(data));
