"""Lineage and audit queries: change event → version → delivery → ack (to come)."""
