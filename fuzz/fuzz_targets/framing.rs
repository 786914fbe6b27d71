//! Raw control bytes (first byte: split point) through `LineFramer`: bounded memory and output
//! independent of the split. Logic: `ftp_proto::fuzzing::framing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ftp_proto::fuzzing::framing(data));
