//! The Prometheus endpoint: [`render`] (in `exposition`) turns a
//! [`GatewayStats`](crate::stats::GatewayStats) snapshot into the text
//! exposition format 0.0.4, and [`MetricsServer`] (in `http`) serves it at
//! `GET /metrics`.
//!
//! Every metric is named `rebound_*`; per-worker metrics carry a
//! `worker="N"` label. The list with what to watch for is in
//! `docs/OPERATIONS.md` ("Metrics").

mod exposition;
mod http;

pub use exposition::{CONTENT_TYPE, render};
pub use http::{
    CONNECTION_TIMEOUT, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_REQUEST_HEAD, MetricsServer,
    MetricsSource,
};
