"""Rows of the config tables the departmental SQL joins, from the same ProjectionConfig the folds use."""

from __future__ import annotations

from typing import Any

from .config import ProjectionConfig

STAGE_COLUMNS = ("stage", "probability")
SLA_COLUMNS = ("priority", "first_response_sla_minutes", "resolution_sla_minutes")


def stage_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return sorted(config.stage_probabilities.items())


def sla_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return [(priority, first, resolve) for priority, (first, resolve) in sorted(config.sla_minutes.items())]
