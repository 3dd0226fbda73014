"""Logging for every entry point: one format, and secrets never reach any output."""

from __future__ import annotations

import logging

from bot.config import Config


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token, the hashing secret) in every log record, whatever logger
    wrote it, exception text included."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        found = {s for s in secrets if s}
        # a bot token's secret half on its own (a URL-quoted or split token) is a secret too
        found |= {s.split(":", 1)[1] for s in secrets if s and ":" in s and len(s) > 20}
        self.secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "<redacted>")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if any(s in text for s in self.secrets):
                record.msg = f"{record.getMessage()}\n{self.redact(text)}"
                record.args, record.exc_info, record.exc_text = None, None, None
        return True


# Loggers that write personal data below WARNING: the database drivers log statements with their
# parameters (a vote's key and topic, a subscriber's chat id), aiohttp's client logs request
# URLs (which hold the token).
QUIET_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "alembic.runtime", "aiohttp", "httpx")


class KeepPersonalDataOut(logging.Filter):
    """No personal data in any log record, whatever level a logger was set to:

    * records below WARNING from the database drivers and HTTP clients are dropped;
    * python-telegram-bot's own records never show an update (its CRITICAL line about an update
      it could not handle formats the whole update: a voter's name and what they pressed): any
      argument that is not a plain number or string is replaced by its type and update_id."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if record.levelno < logging.WARNING and name.startswith(QUIET_LOGGERS):
            return False
        if name.startswith("telegram") and record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_describe(a) for a in args)
        return True


def _describe(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    update_id = getattr(value, "update_id", None)
    if isinstance(value, dict):
        update_id = value.get("update_id")
    shown = f"<{type(value).__name__}"
    return f"{shown} {update_id}>" if isinstance(update_id, int) else f"{shown}>"


def redact(text: str, cfg: Config) -> str:
    """`text` without the token or the hashing secret (for messages printed on stderr)."""
    return RedactSecrets(cfg.telegram.token, cfg.privacy.hash_secret).redact(text)


def configure_logging(cfg: Config) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the command line may have set a quieter default before the config was read
    logging.getLogger().setLevel(cfg.log_level.upper())
    # httpx logs every request URL at INFO, and Bot API URLs contain the token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # PTB's DEBUG records hold whole updates (who pressed Enig on what): personal data, so the
    # library stays at INFO even when the bot's own loggers are at DEBUG
    level = logging.getLevelName(cfg.log_level.upper())
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    # the database drivers log SQL parameters at DEBUG/INFO: pinned, and filtered below
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    redactor = RedactSecrets(
        cfg.telegram.token, cfg.privacy.hash_secret, cfg.telegram.webhook.secret_token
    )
    private = KeepPersonalDataOut()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, KeepPersonalDataOut) for f in handler.filters):
            handler.addFilter(private)
        handler.addFilter(redactor)
