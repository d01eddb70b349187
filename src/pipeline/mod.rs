//! From camera frame to compliant JPEG: [`encode`] makes the JPEG from a [`frame::Frame`],
//! [`compliance`] is the one check of Instagram's rules (shared with the simulator). Pure
//! image code: it knows neither the cameras (`hw::camera`) nor the config.

pub mod compliance;
pub mod compose;
pub mod decode;
pub mod encode;
pub mod frame;
pub mod geometry;
pub mod mjpeg;
pub mod resize;
pub mod scan;
pub mod variants;
pub mod yuv;

#[cfg(test)]
mod tests;
