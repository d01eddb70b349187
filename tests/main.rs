//! One integration test binary (faster to build than many). Each module is one concern.

mod helper;

mod bad_input;
mod cli_contract;
mod crash;
mod exactly_once;
mod hardware;
mod policy;
mod post_kinds;
mod screens;
mod token;
