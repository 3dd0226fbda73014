"""Configuration: a YAML file (`yaml.safe_load`) into frozen dataclasses.

Every key is documented in config.example.yaml. An unknown key or a value of the wrong kind is an
error that names the key. Secrets may come from the environment instead of the file:
DISTRIKTSBOT_TOKEN, DISTRIKTSBOT_HASH_SECRET, DISTRIKTSBOT_WEBHOOK_SECRET and
DISTRIKTSBOT_DATABASE_URL override the file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from bot.storage import DEFAULT_DATABASE_URL
from bot.yaml_errors import explain_yaml_error

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_CONFIG = "config.yaml"
"""Read from the working directory when no --config is given."""
SECRET_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
ENV = {
    "telegram.token": "DISTRIKTSBOT_TOKEN",
    "privacy.hash_secret": "DISTRIKTSBOT_HASH_SECRET",
    "telegram.webhook.secret_token": "DISTRIKTSBOT_WEBHOOK_SECRET",
    "database.url": "DISTRIKTSBOT_DATABASE_URL",
}


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


@dataclass(frozen=True)
class WebhookConfig:
    url: str = ""  # the public HTTPS address Telegram posts updates to
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "telegram"
    secret_token: str = ""
    max_connections: int = 40  # Telegram's parallel deliveries (setWebhook, by `deploy`)


@dataclass(frozen=True)
class TelegramConfig:
    token: str = ""
    base_url: str = DEFAULT_BASE_URL
    mode: str = "polling"  # polling | webhook
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class LinksConfig:
    engage: str = ""  # "Se andre måter å engasjere seg"


@dataclass(frozen=True)
class PrivacyConfig:
    hash_secret: str = ""


@dataclass(frozen=True)
class AdminToolsConfig:
    # seconds between checks of the knowledge files for changes (0: only /oppdater reloads)
    reload_check_seconds: int = 0
    # days an unanswered question's text is kept before it is deleted
    unanswered_days: int = 30
    # at most this many error reports to the admins per hour
    error_reports_per_hour: int = 6


@dataclass(frozen=True)
class ServerConfig:
    """The bot's own web server in webhook mode (issue 9b)."""

    stop_timeout_seconds: int = 5  # on SIGTERM: time to finish the updates in hand
    knowledge_poll_seconds: int = 2  # how often to look for a reload by another process; 0 = off


@dataclass(frozen=True)
class LimitsConfig:
    """Hardening (issue 9a): per-user rate limit, bounded waits, updates in flight."""

    user_burst: int = 20  # messages/presses one person may send at once …
    user_per_minute: int = 30  # … refilled at this rate; beyond it: one polite notice, then skip
    database_wait: float = 3.0  # seconds a vote waits for the database before "could not save"
    in_flight: int = 100  # updates handled at once by one process (a burst waits at Telegram)
    claim_lease: float = 30.0  # seconds before an update claimed by a dead process is retaken


@dataclass(frozen=True)
class BroadcastConfig:
    """The newsletter's sending (issue 7b)."""

    # messages per second for the whole bot (voters' replies included); Telegram allows ~30
    messages_per_second: int = 29
    # newsletter messages in flight at once (Telegram's round trip, not the rate, needs this)
    concurrency: int = 8
    # how often the admin's progress message is updated
    progress_seconds: int = 3
    # days a finished newsletter's recipient list (chat ids) is kept after its final report
    keep_recipients_days: int = 30


@dataclass(frozen=True)
class Config:
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    knowledge: str = "knowledge"
    admins: tuple[int, ...] = ()
    links: LinksConfig = field(default_factory=LinksConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    log_level: str = "INFO"
    admin_tools: AdminToolsConfig = field(default_factory=AdminToolsConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    broadcast: BroadcastConfig = field(default_factory=BroadcastConfig)
    base_dir: str = field(default=".", metadata={"internal": True})
    file: str = field(default="", metadata={"internal": True})  # the config file read, if any

    def describe_file(self) -> str:
        """Which config file was read, for the start-up log line and error messages."""
        if self.file:
            return self.file
        return (
            f"none (no ./{DEFAULT_CONFIG} in {Path.cwd()}; pass one with --config FILE, "
            "or write one with `distriktsbot init`)"
        )

    def knowledge_path(self) -> Path:
        """The knowledge folder: relative to the config file, else the working directory, else
        the one shipped beside the code."""
        path = Path(self.knowledge)
        if path.is_absolute():
            return path
        for base in (Path(self.base_dir), Path.cwd(), Path(__file__).resolve().parent.parent):
            if (base / path).exists():
                return base / path
        return Path(self.base_dir) / path

    def require_for_run(self) -> None:
        """Check what `distriktsbot run` needs beyond a valid file: every problem in one message,
        each with what to do about it."""
        where = self.file or f"./{DEFAULT_CONFIG}"
        problems: list[str] = []
        if not self.telegram.token:
            problems.append(
                "telegram.token: missing. In Telegram, talk to @BotFather, send /newbot and copy "
                f"the token it answers with (123456:ABC…) into {where} under telegram: token:, "
                "or into the environment variable DISTRIKTSBOT_TOKEN."
            )
        secret = self.privacy.hash_secret
        if len(secret) < 16:
            what = "missing" if not secret else "too short (at least 16 random characters)"
            problems.append(
                f"privacy.hash_secret: {what}. Generate one ONCE with\n"
                f"      {SECRET_COMMAND}\n"
                f"    and paste it into {where} under privacy: hash_secret:, or into the "
                "environment variable DISTRIKTSBOT_HASH_SECRET where the bot's service is "
                "defined. Keep it stable and secret: votes are stored under pseudonyms keyed by "
                "it, and a new secret makes every earlier vote unlinkable (do not put the "
                "command itself in a startup script: it makes a new secret each time)."
            )
        if self.telegram.mode == "webhook" and not self.telegram.webhook.url:
            problems.append(
                "telegram.webhook.url: required when telegram.mode is 'webhook' (the public "
                "https:// address Telegram posts updates to)"
            )
        if not problems:
            return
        hint = ""
        if not self.file:
            hint = (
                f"\nNo config file was read (no ./{DEFAULT_CONFIG} in {Path.cwd()}). "
                "`distriktsbot init` writes one with a fresh secret; or pass one with "
                "--config FILE."
            )
        raise ConfigError(
            f"cannot start the bot, {len(problems)} setting(s) missing or invalid "
            f"(config file: {self.file or 'none'}):\n"
            + "\n".join(f"  {p}" for p in problems)
            + hint
        )


def _validate(cfg: Config) -> None:
    if cfg.telegram.mode not in ("polling", "webhook"):
        raise ConfigError(
            f"telegram.mode: must be 'polling' or 'webhook', got {cfg.telegram.mode!r}"
        )
    for key, url in (
        ("telegram.base_url", cfg.telegram.base_url),
        ("links.engage", cfg.links.engage),
    ):
        if url and urlparse(url).scheme not in ("http", "https"):
            raise ConfigError(f"{key}: must be an http(s) URL, got {url!r}")
    hook = cfg.telegram.webhook
    if hook.url and urlparse(hook.url).scheme != "https":
        raise ConfigError(f"telegram.webhook.url: must be an https URL, got {hook.url!r}")
    if not 1 <= hook.port <= 65535:
        raise ConfigError(f"telegram.webhook.port: must be 1-65535, got {hook.port}")
    if not 1 <= hook.max_connections <= 100:
        raise ConfigError(
            f"telegram.webhook.max_connections: must be 1-100, got {hook.max_connections}"
        )
    for key, value, low in (
        ("server.stop_timeout_seconds", cfg.server.stop_timeout_seconds, 0),
        ("server.knowledge_poll_seconds", cfg.server.knowledge_poll_seconds, 0),
    ):
        if value < low:
            raise ConfigError(f"{key}: must be at least {low}, got {value}")
    token = cfg.telegram.token
    if token and (":" not in token or any(c.isspace() for c in token)):
        raise ConfigError("telegram.token: does not look like a bot token (expected '123456:ABC…')")
    scheme = cfg.database.url.split(":", 1)[0]
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            "database.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://, got "
            f"{scheme}://…"
        )
    tools = cfg.admin_tools
    for key, value, low in (
        ("admin_tools.reload_check_seconds", tools.reload_check_seconds, 0),
        ("admin_tools.unanswered_days", tools.unanswered_days, 1),
        ("admin_tools.error_reports_per_hour", tools.error_reports_per_hour, 0),
    ):
        if value < low:
            raise ConfigError(f"{key}: must be at least {low}, got {value}")
    limits = cfg.limits
    for name in ("user_burst", "user_per_minute", "in_flight"):
        if getattr(limits, name) < 1:
            raise ConfigError(f"limits.{name}: must be at least 1, got {getattr(limits, name)}")
    for name in ("database_wait", "claim_lease"):
        if not 0 < getattr(limits, name) <= 3600:
            raise ConfigError(f"limits.{name}: must be 0-3600 seconds, got {getattr(limits, name)}")
    for key, value, low, high in (
        ("broadcast.messages_per_second", cfg.broadcast.messages_per_second, 1, 1000),
        ("broadcast.concurrency", cfg.broadcast.concurrency, 1, 64),
        ("broadcast.progress_seconds", cfg.broadcast.progress_seconds, 1, 600),
        ("broadcast.keep_recipients_days", cfg.broadcast.keep_recipients_days, 1, 3650),
    ):
        if not low <= value <= high:
            raise ConfigError(f"{key}: must be {low}-{high}, got {value}")
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"log_level: must be DEBUG, INFO, WARNING or ERROR, got {cfg.log_level!r}"
        )


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        name = prefix.rstrip(".") or "config"
        raise ConfigError(f"{name}: must be a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in fields:
            name = f"{prefix}{key}"
            raise ConfigError(f"{name}: unknown key; allowed here: {', '.join(sorted(fields))}")
    values: dict[str, Any] = {}
    for name in fields:
        if name not in data:
            continue
        key = f"{prefix}{name}"
        values[name] = _coerce(hints[name], data[name], key)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    origin = typing.get_origin(hint)
    if origin is tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be a whole number, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: must be text, got {type(value).__name__}")
        return str(value)
    raise ConfigError(f"{key}: unsupported type")  # pragma: no cover


def _apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for dotted, var in ENV.items():
        value = environ.get(var)
        if not value:
            continue
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"{part}: must be a mapping of keys")
            node = child
        node[last] = value


def find_config(explicit: str | Path | None) -> Path | None:
    """The config file to read: the one given, else ./config.yaml if there is one, else none."""
    if explicit is not None:
        return Path(explicit)
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and the environment; raise ConfigError naming a bad key."""
    environ = os.environ if environ is None else environ
    data: Any = {}
    base_dir = "."
    file = ""
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(
                f"{p}: no such config file (`distriktsbot init` writes one with a fresh secret)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read: {exc}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            explained = explain_yaml_error(exc)  # never the parser's words: they may quote a secret
            where = f":{explained.line}" if explained.line is not None else ""
            raise ConfigError(f"{p}{where}: {explained.operator_message}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: must be a mapping of keys at the top level")
        base_dir = str(p.resolve().parent)
        file = str(p.resolve())
    _apply_env(data, environ)
    cfg: Config = _build(Config, data, "")
    cfg = dataclasses.replace(cfg, base_dir=base_dir, file=file)
    _validate(cfg)
    return cfg


EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config.example.yaml"
_SECRET_LINE = re.compile(r'^(  hash_secret:) ""[ \t]*$', re.MULTILINE)
_MINIMAL_CONFIG = """\
# Every key is documented in config.example.yaml (in the repository).
telegram:
  # The bot token from @BotFather (Telegram: /newbot). Required for `distriktsbot run`.
  # Or leave it empty and set the environment variable DISTRIKTSBOT_TOKEN.
  token: ""
privacy:
  hash_secret: ""
"""


def write_initial_config(path: Path, example: Path = EXAMPLE_CONFIG) -> None:
    """Write a first config file: the documented example with a fresh privacy.hash_secret.
    Never overwrites: an existing file is a ConfigError. The file is readable by its owner only
    (it holds a secret)."""
    try:
        template = example.read_text(encoding="utf-8")
    except OSError:  # installed without the repository: a short file that points to the docs
        template = _MINIMAL_CONFIG
    secret = secrets.token_urlsafe(32)
    text, count = _SECRET_LINE.subn(
        lambda m: (
            "  # Generated by `distriktsbot init`. Keep it secret and never change it: votes are\n"
            "  # stored under pseudonyms keyed by it.\n"
            f'{m.group(1)} "{secret}"'
        ),
        template,
        count=1,
    )
    if count != 1:
        raise ConfigError(f"{example}: has no empty `privacy: hash_secret:` line to fill in")
    header = "# Written by `distriktsbot init` (with a fresh privacy.hash_secret).\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(
            f"{path}: already exists; not overwritten (its hash secret must stay the same). "
            "Edit it, or move it away first."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(header + text)
