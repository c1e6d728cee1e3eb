//! The key log (being written).
