"""Rows of the config tables the departmental SQL joins, from the same ProjectionConfig the folds use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import ProjectionConfig

STAGE_COLUMNS = ("stage", "probability")
SLA_COLUMNS = ("priority", "first_response_sla_minutes", "resolution_sla_minutes")


def stage_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return sorted(config.stage_probabilities.items())


def sla_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return [(priority, first, resolve) for priority, (first, resolve) in sorted(config.sla_minutes.items())]


FX_RATE_COLUMNS = ("currency", "valid_from", "rate", "reporting_currency")
LATE_STAGE_COLUMNS = ("stage", "quiet_days")


def fx_rate_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return [
        (currency, day, rate, config.reporting_currency)
        for currency, rates in sorted(config.fx_rates.items())
        for day, rate in rates
    ]


def late_stage_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return sorted(config.late_stage_quiet_days.items())


HOLD_COLUMNS = (
    "hold_priorities",
    "cool_down_seconds",
    "csat_at_most",
    "nps_at_most",
    "survey_hold_seconds",
    "scope",
)


def hold_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return [
        (
            sorted(config.hold_priorities),
            int(config.hold_cool_down.total_seconds()),
            config.hold_csat_at_most,
            config.hold_nps_at_most,
            int(config.survey_hold.total_seconds()),
            config.hold_scope,
        )
    ]


def hold_lift_rows(config: ProjectionConfig) -> list[tuple[Any, ...]]:
    return [(int(config.hold_lifted_for.total_seconds()),)]


# Every config table: (name, columns, rows from a config). `adapters/storage/migrate.py load_config`
# reloads each.
CONFIG_TABLES: tuple[
    tuple[str, tuple[str, ...], Callable[[ProjectionConfig], list[tuple[Any, ...]]]], ...
] = (
    ("stage_probabilities", STAGE_COLUMNS, stage_rows),
    ("sla_targets", SLA_COLUMNS, sla_rows),
    ("fx_rates", FX_RATE_COLUMNS, fx_rate_rows),
    ("late_stages", LATE_STAGE_COLUMNS, late_stage_rows),
    ("hold_settings", HOLD_COLUMNS, hold_rows),
    ("hold_lift_settings", ("lifted_for_seconds",), hold_lift_rows),
)
