//! The resumption responder (being written).
