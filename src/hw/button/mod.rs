//! The push button.

pub mod debounce;
