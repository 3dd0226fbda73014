"""Logging for every entry point: one format, and secrets never reach any output."""

from __future__ import annotations

import logging

from bot.config import Config


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token, the hashing secret) in every log record, whatever logger
    wrote it, exception text included."""

    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

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
    redact = RedactSecrets(
        cfg.telegram.token, cfg.privacy.hash_secret, cfg.telegram.webhook.secret_token
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
