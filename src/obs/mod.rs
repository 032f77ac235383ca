//! Observability: the Prometheus registry and the `tracing` setup. Both
//! take plain values from the components; neither imports a component.

pub mod logging;
pub mod metrics;
