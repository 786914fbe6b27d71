//! Driver steps (control bytes, data facts, answers, time, TLS, shutdown) against one server
//! `Session`, every output checked against a model of the protocol.
//! Logic: `ftp_proto::fuzzing::server_session`.
#![no_main]

// The fuzz driver reads the clock once per input, as any driver does; the library never does.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ftp_proto::fuzzing::server_session(data, std::time::Instant::now())
});
