//! What the display says. (Being written.)
