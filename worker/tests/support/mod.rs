//! Test servers shared by integration tests.

pub mod moto;
