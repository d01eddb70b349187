//! The Graph API simulator. (Being written.)
