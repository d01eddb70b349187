//! The durable store. (Being written.)
