"""The orchestrators: one processing transaction across the stages (golden → rules → key-clash
holds → divergence → write-back → outbox → inbox status), the processing loop, and the
propagation role with the targets' read-back. The stages do the work; this package wires them."""
