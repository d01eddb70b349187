//! The cargo-fuzz targets (fuzz/targets.rs) run as ordinary tests, so CI needs no nightly
//! toolchain: every corpus file (fuzz/corpus/<target>/), then seeded mutations of them
//! (bit flips, byte edits, inserted "interesting" values, cut and spliced ranges). A panic is
//! reported with the seed and the input saved under target/fuzz-failures/ to reproduce.
//!
//! `POSTBOOTH_FUZZ_SCALE` multiplies the iterations (default 1), `POSTBOOTH_FUZZ_SEED` sets the
//! seed. Deeper runs: scripts/fuzz.sh (cargo fuzz, coverage-guided).

#[path = "../fuzz/targets.rs"]
mod targets;

use crate::helper::env_number;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

const INTERESTING: &[&[u8]] = &[
    b"0",
    b"-1",
    b"1e300",
    b"-1e300",
    b"1e-300",
    b"18446744073709551615",
    b"9223372036854775808",
    b"NaN",
    b"null",
    b"true",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\\u0000",
    b"\xff\xd8\xff",
    b"\xff\xd9",
    b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"=",
    b"\n[",
    b"]\n",
    b"'''",
    b"\"\"\"",
    b"estimated_time_to_regain_access",
    b"call_count",
    b"error_subcode",
    b"<html>",
];

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let inputs: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
    inputs
}

fn mutate(rng: &mut impl Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..rng.gen_range(1..=4) {
        let len = input.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                input[i] = rng.gen();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                let token = INTERESTING[rng.gen_range(0..INTERESTING.len())];
                input.splice(i..i, token.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 64));
                input.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..=len.min(a + 64));
                let copy: Vec<u8> = input[a..b].to_vec();
                let at = rng.gen_range(0..=input.len());
                input.splice(at..at, copy);
            }
            5 => {
                // Splice in part of another corpus entry.
                let other = &corpus[rng.gen_range(0..corpus.len())];
                if !other.is_empty() {
                    let a = rng.gen_range(0..other.len());
                    let b = rng.gen_range(a..=other.len());
                    let at = rng.gen_range(0..=input.len());
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
            6 if len > 0 => input.truncate(rng.gen_range(0..len)),
            _ => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                input.splice(i..i, bytes);
            }
        }
    }
}

/// Runs `target` over the corpus and `iterations` mutations; returns how many inputs ran.
fn run(name: &str, target: fn(&[u8]), iterations: u64) -> u64 {
    let scale: u64 = env_number("POSTBOOTH_FUZZ_SCALE", 1);
    let seed: u64 = env_number("POSTBOOTH_FUZZ_SEED", 20261127);
    let corpus = corpus(name);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut ran = 0;
    let check = |input: &[u8], what: &str| {
        let result = std::panic::catch_unwind(|| target(input));
        if result.is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{name}-{seed}-{}", input.len()));
            std::fs::write(&file, input).unwrap();
            panic!(
                "fuzz target {name} panicked on {what} (seed {seed}); input saved to {}: {:?}",
                file.display(),
                String::from_utf8_lossy(&input[..input.len().min(200)])
            );
        }
    };
    for (i, input) in corpus.iter().enumerate() {
        check(input, &format!("corpus entry {i}"));
        ran += 1;
    }
    for i in 0..iterations * scale {
        let mut input = corpus[rng.gen_range(0..corpus.len())].clone();
        mutate(&mut rng, &mut input, &corpus);
        check(&input, &format!("mutation {i}"));
        ran += 1;
    }
    println!(
        "fuzz {name}: {ran} inputs ({} corpus files, seed {seed}), no panic",
        corpus.len()
    );
    ran
}

#[test]
fn fuzz_config_parser() {
    run("config", targets::config, 20_000);
}

#[test]
fn fuzz_graph_answer_parser() {
    run("graph_answer", targets::graph_answer, 30_000);
}

#[test]
fn fuzz_usage_header_parser() {
    run("usage_headers", targets::usage_headers, 30_000);
}

#[test]
fn fuzz_frame_decoder() {
    run("frame_decode", targets::frame_decode, 300);
}
