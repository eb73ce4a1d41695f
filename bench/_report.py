"""The one way every bench script reports its figures, so `bench/run` can collect them uniformly.

A script calls `emit(bench, [figure(...), ...])` last; that prints one JSON line
`{"bench": ..., "figures": [{"name", "value", "unit", "ceiling", "ceiling_name", "ratio"}, ...]}`.
The ratio is value / ceiling (for rates: the share of the ceiling reached). Scripts import it as
`from _report import emit, figure` (Python puts the script's own folder, bench/, on the path).
"""

from __future__ import annotations

import json
from typing import Any

MARKER = '{"bench":'


def figure(name: str, value: float, unit: str, ceiling: float, ceiling_name: str) -> dict[str, Any]:
    """One measured figure beside the ceiling it was measured against in the same run."""
    return {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "ceiling": round(ceiling, 3),
        "ceiling_name": ceiling_name,
        "ratio": round(value / ceiling, 4) if ceiling else None,
    }


def emit(bench: str, figures: list[dict[str, Any]], **context: Any) -> None:
    """Print the result line (last on stdout). `context`: sizes and settings worth keeping beside it."""
    print(json.dumps({"bench": bench, "figures": figures, "context": context}), flush=True)
