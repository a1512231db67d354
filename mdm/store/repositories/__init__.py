"""Repositories: all SQL on the hub's tables, one module per concern.

They import only ``mdm.model``, ``mdm.config``, ``mdm.errors`` and ``mdm.store``.
"""
