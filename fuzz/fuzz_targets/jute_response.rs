#![no_main]
// Entry point shared with tests/fuzz_corpus.rs: see zabd::fuzz_entry::jute_response.
libfuzzer_sys::fuzz_target!(|data: &[u8]| zabd::fuzz_entry::jute_response(data));
