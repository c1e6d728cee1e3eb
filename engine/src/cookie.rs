//! Stateless cookies (RFC 7296 §2.6) (being written).
