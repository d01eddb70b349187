//! Publishing saved jobs to Instagram.

pub mod caption;
