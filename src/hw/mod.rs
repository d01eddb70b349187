//! Hardware at the edges: the button, the camera and the status display. Each device sits
//! behind a small trait with a real backend and a fake; the logic between them (debounce,
//! countdown, format choice, recovery) is pure and tested without hardware.

pub mod button;
pub mod camera;
pub mod display;
pub mod interval;
pub mod sequence;
pub mod trigger;
