//! The resumption initiator (being written).
