"""Steward tasks (rule violations, divergences) and the decisions taken on them."""
