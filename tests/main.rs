//! One integration test binary (faster to build than many). Each module is one concern.

mod helper;
mod powercut;

/// Counts live heap bytes (helper::heap) for the soak's leak check; otherwise the system's.
#[global_allocator]
static HEAP: helper::heap::Counting = helper::heap::Counting;

mod bad_input;
mod camera;
mod cli_contract;
mod crash;
mod deploy;
mod disk_full;
mod exactly_once;
mod fuzz_corpus;
mod hardware;
mod interval;
mod io_errors;
mod lean;
mod metrics;
mod mqtt;
mod notify;
mod operator;
mod policy;
mod post_kinds;
mod power_cut;
mod prune;
mod review;
mod screens;
mod security;
mod soak;
mod token;
mod two_processes;
mod web;
mod web_browser;
