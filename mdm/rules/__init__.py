"""Rule engine: expectation suites and divergence checks (to come)."""
