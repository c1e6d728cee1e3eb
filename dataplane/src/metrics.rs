//! PLACEHOLDER: the Prometheus endpoint lands next.
