//! The Prometheus endpoint (`[metrics] listen`): `GET /metrics` encodes the
//! latest snapshot (`encode`), `GET /healthz` says whether the control loop
//! still turns. A scrape never reaches the store or /proc; the HTTP side
//! (`http`) is bounded so a slow or hostile client cannot hold it.

mod encode;
mod http;

pub use encode::{CONTENT_TYPE, encode, encode_clock, encode_snapshot};
pub(super) use http::MetricsServer;
