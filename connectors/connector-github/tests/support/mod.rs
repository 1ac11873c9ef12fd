//! What the tests share: the npm packages they read, GitHub's OpenAPI description, and the
//! fake API built on it.

#![allow(dead_code)]

pub mod fake;
pub mod npm;
pub mod openapi;
