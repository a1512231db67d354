"""Every module of the package imports on the interpreter the suite runs on: mypy and
import-linter read source of a newer Python without complaint, and a module only one process
imports (the processor's, the propagation's) would otherwise fail only on the real stack."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import mdm

MODULES = sorted(m.name for m in pkgutil.walk_packages(mdm.__path__, "mdm."))


def test_the_package_has_its_modules():
    assert {"mdm.flows.planner", "mdm.cli.main", "mdm.api.app"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name: str):
    importlib.import_module(name)
