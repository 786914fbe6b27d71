//! Control-channel bytes framed into lines and parsed as commands; whatever parses must encode
//! and parse back equal. Logic: `ftp_proto::fuzzing::command`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::command(data));
