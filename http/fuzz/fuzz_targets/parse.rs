//! Feeds arbitrary bytes to the request parser, whole and split at every point of a
//! pipeline, checking that it never panics and that splitting never changes the outcome.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oc_http::fuzz_parse(data);
});
