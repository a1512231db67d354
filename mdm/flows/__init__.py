"""Flows: hop conditions, commands, links — issue 13."""
