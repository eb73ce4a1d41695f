"""Every record the process creates is masked, whichever handler meets it later (the entry points'
`mask_every_record`): a handler Faust or uvicorn adds after start-up prints no email and no phone."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from touchstream.adapters.log_privacy import mask_every_record


@pytest.fixture
def restored_factory() -> Iterator[None]:
    """The library's own factory for the test (another test may have installed the masking already),
    and whatever was there afterwards."""
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    yield
    logging.setLogRecordFactory(factory)


@pytest.mark.usefixtures("restored_factory")
def test_a_handler_added_afterwards_prints_no_personal_value() -> None:
    mask_every_record()
    mask_every_record()  # idempotent: one layer of masking
    logger = logging.Logger("late")
    stream = io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    logger.warning("resolved %s from %s", "ada@lovelace.example", "+44 20 7946 0958")
    assert stream.getvalue().strip() == "resolved [email] from [phone]"


@pytest.mark.usefixtures("restored_factory")
def test_faust_s_formatter_formats_a_masked_record() -> None:
    """mode's formatter (Faust's logs) wraps a record's lone argument in a tuple: a masked record keeps
    `args` a tuple, so the worker's own lines print instead of raising a logging error."""
    from mode.utils.logging import ExtensionFormatter

    mask_every_record()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ExtensionFormatter(stream=stream, fmt="%(message)s"))
    logger = logging.Logger("faustish")
    logger.addHandler(handler)
    logger.info("touchstream worker: %s", "records=12 owner: ada@lovelace.example")
    assert stream.getvalue().strip() == "touchstream worker: records=12 owner: [email]"
