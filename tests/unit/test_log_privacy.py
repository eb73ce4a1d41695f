"""Log lines never carry an email or a phone, whether in the text, an argument or an exception."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from touchstream.adapters.log_privacy import PrivacyFilter, install_log_privacy, mask


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    root = logging.getLogger()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        install_log_privacy()
        yield logging.getLogger("touchstream.test.child"), out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_emails_and_phones_are_masked_in_text_arguments_and_exceptions(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = captured
    log.info("resolved jane.doe+tag@acme-widgets.co.uk to %s", "contact-1")
    log.warning("caller %s from %s", "+1 (415) 555-0134", {"email": "J.Doe@Example.com"})
    try:
        raise ValueError("no contact for 0044 20 7946 0958")
    except ValueError:
        log.exception("lookup failed")
    text = out.getvalue()
    for personal in ("jane.doe", "acme-widgets", "415", "555-0134", "J.Doe", "Example.com", "7946"):
        assert personal not in text
    assert text.count("[email]") == 2
    assert text.count("[phone]") == 3  # the argument, the exception's message and its source line
    assert "contact-1" in text
    assert "{'email': '[email]'}" in text
    assert "ValueError" in text


def test_ids_counts_and_times_stay_readable() -> None:
    line = "batch 4096 of 2026-03-02T10:00:00Z at offset 123456, event 6f1c1a36-8b0e-4a5e-9d61-4a0f8f3e9a11"
    assert mask(line) == line
    assert mask("call 415.555.0134 or +14155550134") == "call [phone] or [phone]"


def test_installing_twice_adds_one_filter() -> None:
    logger = logging.Logger("isolated")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    install_log_privacy(logger)
    install_log_privacy(logger)
    assert sum(isinstance(f, PrivacyFilter) for f in handler.filters) == 1
