//! An arbitrary `Command`; if it encodes, its framed wire bytes must parse back equal.
//! Logic: `ftp_proto::fuzzing::command_to_bytes_and_back`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::command_to_bytes_and_back(data));
