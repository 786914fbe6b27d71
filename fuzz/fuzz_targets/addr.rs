//! PORT/EPRT arguments and 227/229 texts through every `ftp_proto::addr` parser; whatever parses
//! must format and parse back equal. Logic: `ftp_proto::fuzzing::addr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::addr(data));
