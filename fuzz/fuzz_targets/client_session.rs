//! Driver steps and hostile server bytes against one client `Session`: final events once per
//! handle, nothing after `Closed`, bounded output, sane timers.
//! Logic: `ftp_proto::fuzzing::client_session`.
#![no_main]

// The fuzz driver reads the clock once per input, as any driver does; the library never does.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ftp_proto::fuzzing::client_session(data, std::time::Instant::now())
});
