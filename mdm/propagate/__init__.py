"""propagate stage."""
