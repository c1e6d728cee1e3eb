//! Rebound's data plane: packet I/O ([`backend`]), pinned workers, the
//! control plane, the gateway that assembles them ([`gateway`]), its
//! settings ([`config`]) and metrics ([`metrics`]), and the storm generator
//! ([`storm`]) operators load-test it with.

pub mod backend;
pub mod config;
pub mod control;
pub mod gateway;
pub mod keys;
pub mod metrics;
pub mod sink;
pub mod storm;
pub mod worker;
