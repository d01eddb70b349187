//! The fuzz targets: what postbooth parses from outside, each with the properties that must
//! hold for any input (no panic, and the ones written below). Used by the cargo-fuzz binaries
//! in fuzz_targets/ and, over the corpus plus mutations, by tests/fuzz_corpus.rs.

#![allow(dead_code)]

use postbooth::config::Config;
use postbooth::pipeline::compliance::check_jpeg;
use postbooth::pipeline::encode::{jpeg_is_complete, make_compliant, EncodeOptions};
use postbooth::pipeline::frame::Frame;
use postbooth::publish::graph::{parse_answer, parse_upload_answer, ApiError};
use postbooth::publish::usage;
use std::path::Path;
use std::time::Duration;

/// The config file: parse, then validate what parsed; errors name the file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/postbooth/fuzz.toml");
    match Config::parse(text, path) {
        Ok(config) => {
            let _ = config.validate(path).map_err(|e| e.to_string());
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
        }
    }
}

/// A Graph API answer: status (2 bytes), content type (1 byte picks one), body. Any answer
/// becomes a value or an error with a class; error details stay short (they go to logs and
/// the display).
pub fn graph_answer(data: &[u8]) {
    if data.len() < 3 {
        return;
    }
    let status = u16::from_be_bytes([data[0], data[1]]) % 600;
    let content_type = [
        "application/json",
        "text/html; charset=utf-8",
        "text/plain",
        "",
    ][usize::from(data[2]) % 4];
    let body = &data[3..];
    match parse_answer::<serde_json::Value>(status, content_type, body) {
        Ok(_) => assert!((200..300).contains(&status)),
        Err(e) => {
            let _ = e.class();
            if let ApiError::CaptivePortal(detail) | ApiError::Unexpected { detail, .. } = &e {
                assert!(detail.chars().count() <= 120, "detail not cut short");
            }
        }
    }
    if let Err(e) = parse_upload_answer(status, body) {
        let _ = e.class();
    }
}

/// The usage headers: two header values separated by a NUL byte. Never panics, and the wait
/// it asks for is bounded (a header cannot park the booth for years).
pub fn usage_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(2, '\0');
    let app = parts.next();
    let business = parts.next();
    let parsed = usage::parse(app, business);
    if let Some(wait) = usage::throttle(&parsed) {
        assert!(wait <= Duration::from_secs(24 * 3600), "wait {wait:?}");
    }
}

/// A camera frame (JPEG or PNG bytes): decoded and made compliant, or refused with an error;
/// whatever comes out passes Instagram's checks.
pub fn frame_decode(data: &[u8]) {
    let _ = jpeg_is_complete(data);
    let _ = check_jpeg(data);
    // As a USB camera's frame: the scan walker sees every input too.
    let opts = EncodeOptions {
        width: 320,
        quality: 80,
        verify_scan: true,
        ..EncodeOptions::default()
    };
    if let Ok(jpeg) = make_compliant(&Frame::Encoded(data.to_vec()), &opts) {
        let checked = check_jpeg(&jpeg.bytes).expect("make_compliant output is compliant");
        assert_eq!((checked.width, checked.height), (jpeg.width, jpeg.height));
    }
}
