//! PLACEHOLDER: `rebound storm` lands next.
