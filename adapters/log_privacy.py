"""Log records never print personal values: email addresses and phone-number-like digit runs are masked.

`PrivacyFilter` rewrites a record's message with its arguments already merged in, so a value passed as an
argument (`log.info("resolved %s", email)`) is masked as surely as one pasted into the text; the exception
text a handler would print is masked too. `install_log_privacy()` adds it to every handler of the root
logger (filters on a logger do not see records propagated from child loggers; filters on handlers do).
"""

from __future__ import annotations

import logging
import re

__all__ = ["PrivacyFilter", "install_log_privacy", "mask", "mask_every_record"]

# No quote in the local part (RFC 5322 allows it): a repr's quotes around the address stay outside the mask.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&*+/=?^_{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A phone: an optional +, then 7 or more digits with spaces, dots, dashes or parentheses between them.
# Shorter runs (offsets, counts, ports, years) stay readable; so do UUIDs (hex next to the digits).
_PHONE = re.compile(r"(?<![\w-])\+?\(?\d(?:[\s().-]{0,2}\d){6,}(?![\w-])")
EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"


def mask(text: str) -> str:
    return _PHONE.sub(PHONE_MASK, _EMAIL.sub(EMAIL_MASK, text))


class PrivacyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual, masked
            message = f"{record.msg} {record.args}"
        masked = mask(message)
        if masked != message:  # a record with nothing to mask keeps its msg and args for its handlers
            # An empty tuple, not None: formatters that wrap a lone argument (mode, Faust) make it (None,).
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


def install_log_privacy(logger: logging.Logger | None = None) -> PrivacyFilter:
    """Add one `PrivacyFilter` to each handler of `logger` (the root logger); idempotent."""
    target = logger or logging.getLogger()
    shared = PrivacyFilter()
    for handler in target.handlers:
        if not any(isinstance(f, PrivacyFilter) for f in handler.filters):
            handler.addFilter(shared)
    return shared


def mask_every_record() -> None:
    """Mask every record this process creates, whichever logger and handler it meets later: the entry
    points call it first (Faust and uvicorn set up their own handlers after we start). Idempotent; costs
    nothing for records below a logger's level (they are never created)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_personal_values", False):
        return
    privacy = PrivacyFilter()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        privacy.filter(record)
        return record

    factory.masks_personal_values = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
