//! From camera frame to compliant JPEG: [`capture`] gets a frame, [`encode`] makes the JPEG,
//! [`compliance`] is the one check of Instagram's rules (shared with the simulator).

pub mod capture;
pub mod compliance;
pub mod compose;
pub mod decode;
pub mod encode;
pub mod frame;
pub mod geometry;
pub mod resize;
pub mod scan;
pub mod variants;
pub mod yuv;

#[cfg(test)]
mod tests;
