"""Configuration: a YAML file (`yaml.safe_load`) into frozen dataclasses.

Every key is documented in config.example.yaml. An unknown key or a value of the wrong kind is an
error that names the key. Secrets may come from the environment instead of the file:
DISTRIKTSBOT_TOKEN, DISTRIKTSBOT_HASH_SECRET, DISTRIKTSBOT_WEBHOOK_SECRET and
DISTRIKTSBOT_DATABASE_URL override the file.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from bot.storage import DEFAULT_DATABASE_URL

DEFAULT_BASE_URL = "https://api.telegram.org/bot"
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
class BroadcastConfig:
    """The newsletter's sending (issue 7b)."""

    # messages per second for the whole bot (voters' replies included); Telegram allows ~30
    messages_per_second: int = 29
    # newsletter messages in flight at once (Telegram's round trip, not the rate, needs this)
    concurrency: int = 8
    # how often the admin's progress message is updated
    progress_seconds: int = 3


@dataclass(frozen=True)
class Config:
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    knowledge: str = "knowledge"
    admins: tuple[int, ...] = ()
    links: LinksConfig = field(default_factory=LinksConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    log_level: str = "INFO"
    broadcast: BroadcastConfig = field(default_factory=BroadcastConfig)
    base_dir: str = field(default=".", metadata={"internal": True})

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
        """Check what `distriktsbot run` needs beyond a valid file."""
        if not self.telegram.token:
            raise ConfigError(
                "telegram.token: missing; set it in the config file or in the environment "
                "variable DISTRIKTSBOT_TOKEN"
            )
        if not self.privacy.hash_secret:
            raise ConfigError(
                "privacy.hash_secret: missing; set a long random string in the config file or in "
                "DISTRIKTSBOT_HASH_SECRET (votes are stored under a keyed hash of the user id)"
            )
        if len(self.privacy.hash_secret) < 16:
            raise ConfigError("privacy.hash_secret: too short; use at least 16 random characters")
        if self.telegram.mode == "webhook" and not self.telegram.webhook.url:
            raise ConfigError("telegram.webhook.url: required when telegram.mode is 'webhook'")


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
    token = cfg.telegram.token
    if token and (":" not in token or any(c.isspace() for c in token)):
        raise ConfigError("telegram.token: does not look like a bot token (expected '123456:ABC…')")
    scheme = cfg.database.url.split(":", 1)[0]
    if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise ConfigError(
            "database.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://, got "
            f"{scheme}://…"
        )
    for key, value, low, high in (
        ("broadcast.messages_per_second", cfg.broadcast.messages_per_second, 1, 1000),
        ("broadcast.concurrency", cfg.broadcast.concurrency, 1, 64),
        ("broadcast.progress_seconds", cfg.broadcast.progress_seconds, 1, 600),
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


def load_config(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any) and the environment; raise ConfigError naming a bad key."""
    environ = os.environ if environ is None else environ
    data: Any = {}
    base_dir = "."
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{p}: no such config file (copy config.example.yaml)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read: {exc}") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(
                f"{p}{where}: not valid YAML: {getattr(exc, 'problem', exc)}"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: must be a mapping of keys at the top level")
        base_dir = str(p.resolve().parent)
    _apply_env(data, environ)
    cfg: Config = _build(Config, data, "")
    cfg = dataclasses.replace(cfg, base_dir=base_dir)
    _validate(cfg)
    return cfg
