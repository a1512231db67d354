"""Flows: documents that travel across systems (flows/*.yaml). When a version meets a hop's
condition (conditions.py), the hop's command goes into the outbox in the same processing
transaction; a created document that names its origin is linked to it, and its fields go
back there (planner.py)."""
