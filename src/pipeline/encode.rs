//! Frame to compliant JPEG. (Being written.)
