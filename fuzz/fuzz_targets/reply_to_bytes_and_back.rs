//! An arbitrary `Reply`; its wire form must parse back with the same code and lines.
//! Logic: `ftp_proto::fuzzing::reply_to_bytes_and_back`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::reply_to_bytes_and_back(data));
