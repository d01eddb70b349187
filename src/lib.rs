//! postbooth: a button is pressed, a photo is taken, made Instagram-compliant, saved so a power
//! cut cannot lose it, and published exactly once.
//!
//! Read this file top to bottom to follow a photo:
//! 1. [`config`] says where everything is.
//! 2. A trigger ([`control`] socket, stdin in the demo) asks [`capture`](pipeline::capture) for a frame.
//! 3. [`pipeline::encode`] turns the frame into a compliant JPEG.
//! 4. [`store`] writes the JPEG and its [`job`] record durably; only then does the display say "Saved".
//! 5. [`publish`] takes saved jobs oldest first: [`media`] stages the JPEG at a public URL, the Graph
//!    API client creates a container, polls it, publishes it, exactly once.
//! 6. [`ui`] turns status events into words on the display.
//!
//! [`sim`] is a Graph API simulator used by `postbooth demo` and the tests.

pub mod config;
pub mod failpoint;
pub mod job;
pub mod media;
pub mod pipeline;
pub mod publish;
pub mod sim;
pub mod store;
pub mod ui;
