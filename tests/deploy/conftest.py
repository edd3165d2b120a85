"""Deployment tests: k8s/validate.py loaded as a module (k8s/ is not a package)."""

from __future__ import annotations

import importlib.util

import pytest
from support import REPO


@pytest.fixture(scope="session")
def k8s():
    spec = importlib.util.spec_from_file_location("k8s_validate", REPO / "k8s" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def rendered(k8s):
    """Every overlay rendered once: {overlay: [objects]}."""
    return {overlay: k8s.render(overlay) for overlay in k8s.OVERLAYS}
