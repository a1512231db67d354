"""Rule engine: expectation suites (Great Expectations), built-in checks, divergence from the
targets' own copies (captured databases or API read-back)."""
