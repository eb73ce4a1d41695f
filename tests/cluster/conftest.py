"""The `cluster` suite's fixture: the local cluster, started (or found running) once per session.

The suite runs only when asked for by marker (`pytest -m cluster tests/cluster`): it starts ten more
servers and kills some of them, so a plain `pytest` deselects it (deselected, not skipped).
"""

from __future__ import annotations

import pytest
from cluster_harness import LocalCluster, local_cluster_endpoints


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "cluster" in (config.getoption("markexpr") or ""):
        return
    here = [item for item in items if item.get_closest_marker("cluster") is not None]
    if here:
        config.hook.pytest_deselected(items=here)
        items[:] = [item for item in items if item.get_closest_marker("cluster") is None]


@pytest.fixture(scope="session")
def local_cluster() -> LocalCluster:
    return local_cluster_endpoints()
