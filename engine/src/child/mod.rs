//! Child SA negotiation: ESP proposals, traffic selectors, internal addresses (being written).
