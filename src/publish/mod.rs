//! Publishing saved jobs to Instagram: the Graph API [`graph`] client, what its errors mean
//! ([`errors`]), how long to wait ([`backoff`], [`usage`]), and the [`publisher`] loop that
//! drives each job through its states exactly once.

pub mod backoff;
pub mod caption;
pub mod errors;
pub mod gate;
pub mod graph;
pub mod publisher;
pub mod ready_wait;
pub mod token;
pub mod token_keeper;
pub mod usage;
pub mod window;
