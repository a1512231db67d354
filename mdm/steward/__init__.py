"""Tasks and steward decisions (to come)."""
