"""Keep the app secret and access tokens out of logs, messages and reprs.
Pure: no I/O; holds the process-wide set of registered secrets.

The old DingTalk API carries the token in the URL (``?access_token=…``, errcode 41001 if it
is in the body) and ``gettoken`` carries the app secret there too. httpx logs every request
URL at INFO, query included, so a filter on httpx's loggers rewrites those records; the
client registers each secret it holds so that a secret echoed anywhere else is caught too.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

_SECRET_PARAMS = re.compile(
    r"(?P<name>access_token|appsecret|app_secret|corpsecret|accessToken|appSecret)"
    r"(?P<sep>=|%3D|\"?\s*:\s*\"?)(?P<value>[^&\s\"'#,}]+)",
    re.IGNORECASE,
)
_MIN_SECRET_LENGTH = 6  # shorter strings would mask ordinary words, and are not secrets anyway

_lock = threading.Lock()
_secrets: set[str] = set()

LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "reconciler.dingtalk",
)
"""Loggers whose records are redacted. A logger's filters see only records logged on that
very logger, not its children's, so each one httpx/httpcore log to is named: httpx logs
request URLs; ours should never need it, but a registered secret is masked wherever."""


def register_secret(secret: str) -> None:
    """Mask ``secret`` in every log record from now on (idempotent, thread-safe)."""
    if len(secret) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with secret query/JSON parameters and every registered secret masked."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (args merged in) when it would show a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logger's problem, not ours
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Attach the filter to the loggers in `LOGGERS` (once)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
