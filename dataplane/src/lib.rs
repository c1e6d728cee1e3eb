//! Rebound's data plane: packet I/O ([`backend`]), pinned workers, the
//! control plane, the gateway that assembles them ([`gateway`]), its
//! settings ([`config`]) and metrics ([`metrics`]), and the storm generator
//! ([`storm`]) operators load-test it with.

#![forbid(unsafe_code)]

pub mod backend;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod control;
pub mod gateway;
pub mod guard_state;
pub mod keys;
pub mod metrics;
pub mod parts;
pub mod privilege;
pub mod runtime;
pub mod sink;
pub mod stats;
pub mod worker;
