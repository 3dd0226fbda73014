"""Configuration: YAML into frozen dataclasses, errors that name the key (never the token),
environment overrides."""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from pathlib import Path

import pytest
import yaml

from bot.config import Config, ConfigError, load_config
from tests.conftest import ROOT

TOKEN = "123456789:AAHsEcReTtOkEn-abcdefghijklmnopqrs"
HASH_SECRET = "a-long-random-hash-secret-0123456789"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path | None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=environ or {})
    message = str(info.value)
    assert TOKEN not in message
    assert TOKEN.split(":", 1)[1] not in message
    assert HASH_SECRET not in message
    return message


def test_a_full_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""\
        telegram:
          token: "{TOKEN}"
          base_url: http://127.0.0.1:8081/bot
          mode: webhook
          webhook:
            url: https://bot.example.org/telegram
            port: 8443
            secret_token: hook-secret
        database:
          url: postgresql+asyncpg://bot:pw@db:5432/distriktsbot
        knowledge: kunnskap
        admins: [11, 22]
        links:
          engage: https://example.org/engasjer
        privacy:
          hash_secret: {HASH_SECRET}
        log_level: debug
        """,
    )
    cfg = load_config(path, environ={})
    assert cfg.telegram.token == TOKEN
    assert cfg.telegram.base_url == "http://127.0.0.1:8081/bot"
    assert cfg.telegram.mode == "webhook"
    assert cfg.telegram.webhook.url == "https://bot.example.org/telegram"
    assert cfg.telegram.webhook.secret_token == "hook-secret"
    assert cfg.database.url.startswith("postgresql+asyncpg://")
    assert cfg.admins == (11, 22)
    assert cfg.links.engage == "https://example.org/engasjer"
    assert cfg.privacy.hash_secret == HASH_SECRET
    assert cfg.knowledge_path() == tmp_path / "kunnskap"
    cfg.require_for_run()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.log_level = "ERROR"  # type: ignore[misc]


def test_no_file_gives_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(None, environ={})
    assert cfg == dataclasses.replace(Config(), base_dir=cfg.base_dir)
    assert cfg.telegram.mode == "polling"
    assert cfg.database.url.startswith("sqlite+aiosqlite://")
    assert cfg.knowledge_path().is_dir()


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), environ={})
    assert cfg.telegram == Config().telegram


def test_the_example_file_loads_and_documents_every_key() -> None:
    example = ROOT / "config.example.yaml"
    cfg = load_config(example, environ={})
    assert cfg.telegram.mode == "polling"
    data = yaml.safe_load(example.read_text(encoding="utf-8"))

    def keys(cls: type, prefix: str = "") -> set[str]:
        hints = typing.get_type_hints(cls)
        out = set()
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            out.add(prefix + f.name)
            if dataclasses.is_dataclass(hints[f.name]):
                out |= keys(hints[f.name], f"{prefix}{f.name}.")
        return out

    def present(node: object, prefix: str = "") -> set[str]:
        out = set()
        if isinstance(node, dict):
            for k, v in node.items():
                out.add(prefix + k)
                out |= present(v, f"{prefix}{k}.")
        return out

    expected = keys(Config)
    assert "telegram.webhook.secret_token" in expected
    assert present(data) == expected


# --- errors that name the key ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("telegram:\n  tokn: x\n", "telegram.tokn"),
        ("telegram:\n  webhook:\n    prot: 3\n", "telegram.webhook.prot"),
        ("databse:\n  url: x\n", "databse"),
        ("privacy:\n  hash_secert: x\n", "privacy.hash_secert"),
    ],
)
def test_unknown_key_is_named_with_its_dotted_path(tmp_path: Path, text: str, key: str) -> None:
    message = error_of(write(tmp_path, text))
    assert message.startswith(f"{key}:")
    assert "unknown" in message


def test_unknown_key_lists_what_is_allowed(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "telegram:\n  tokn: x\n"))
    for allowed in ("token", "base_url", "mode", "webhook"):
        assert allowed in message


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("telegram:\n  webhook:\n    port: abc\n", "telegram.webhook.port", "whole number"),
        ("telegram:\n  webhook:\n    port: 70000\n", "telegram.webhook.port", "65535"),
        ("admins: 5\n", "admins", "list"),
        ("admins: [1, x]\n", "admins[1]", "whole number"),
        ("telegram:\n  mode: [polling]\n", "telegram.mode", "text"),
        ("knowledge: {a: 1}\n", "knowledge", "text"),
        ("telegram: 5\n", "telegram", "mapping"),
        ("privacy: [a, b]\n", "privacy", "mapping"),
    ],
)
def test_wrong_type_is_named(tmp_path: Path, text: str, key: str, says: str) -> None:
    message = error_of(write(tmp_path, text))
    assert message.startswith(f"{key}:"), message
    assert says in message


def test_bad_mode(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "telegram:\n  mode: pull\n"))
    assert message.startswith("telegram.mode:")
    assert "'pull'" in message and "polling" in message and "webhook" in message


def test_bad_database_scheme_hides_the_password(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "database:\n  url: mysql://bot:hunter2@db/x\n"))
    assert message.startswith("database.url:")
    assert "mysql" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("telegram:\n  base_url: ftp://x\n", "telegram.base_url"),
        ("links:\n  engage: javascript:alert(1)\n", "links.engage"),
        ("telegram:\n  webhook:\n    url: http://insecure.example.org/\n", "telegram.webhook.url"),
        ("log_level: verbose\n", "log_level"),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, key: str) -> None:
    assert error_of(write(tmp_path, text)).startswith(f"{key}:")


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, f'telegram:\n  token: "{TOKEN}"\n  mode: [polling\n')
    message = error_of(path)
    assert str(path) in message
    assert "YAML" in message


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    message = error_of(tmp_path / "nope.yaml")
    assert str(tmp_path / "nope.yaml") in message


def test_a_list_at_the_top_level(tmp_path: Path) -> None:
    assert "mapping" in error_of(write(tmp_path, "- a\n- b\n"))


# --- the token never leaks -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f'telegram:\n  token: "{TOKEN}"\n  tokn: x\n',
        f'telegram:\n  token: "{TOKEN}"\n  mode: pull\n',
        f'telegram:\n  token: "{TOKEN} "\n',  # a stray space: not a token
        f'telegram:\n  token: "{TOKEN.replace(":", "")}"\n',
        f'telegram: "{TOKEN}"\n',  # the token one level too high
        f'telegram:\n  token: ["{TOKEN}"]\n',
        f'telegram:\n  base_url: "https://api.telegram.org/bot{TOKEN}"\n  mode: x\n',
        f'telegram:\n  token: "{TOKEN}"\ndatabase:\n  url: "mysql://x"\n',
    ],
)
def test_the_token_never_appears_in_an_error(tmp_path: Path, text: str) -> None:
    error_of(write(tmp_path, text))  # error_of asserts the token is not in the message


def test_a_bad_token_from_the_environment_is_not_echoed(tmp_path: Path) -> None:
    message = error_of(None, {"DISTRIKTSBOT_TOKEN": TOKEN.replace(":", "")})
    assert message.startswith("telegram.token:")
    assert TOKEN.replace(":", "") not in message


# --- the environment ------------------------------------------------------------------------


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        telegram:
          token: "111:from-file"
          webhook:
            port: 9000
        privacy:
          hash_secret: from-file-secret-0000
        """,
    )
    db = f"sqlite+aiosqlite:///{tmp_path}/env.sqlite3"
    cfg = load_config(
        path,
        environ={
            "DISTRIKTSBOT_TOKEN": TOKEN,
            "DISTRIKTSBOT_HASH_SECRET": HASH_SECRET,
            "DISTRIKTSBOT_WEBHOOK_SECRET": "hook-from-env",
            "DISTRIKTSBOT_DATABASE_URL": db,
        },
    )
    assert cfg.telegram.token == TOKEN
    assert cfg.privacy.hash_secret == HASH_SECRET
    assert cfg.telegram.webhook.secret_token == "hook-from-env"
    assert cfg.telegram.webhook.port == 9000  # the rest of the file is kept
    assert cfg.database.url == db


def test_environment_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISTRIKTSBOT_TOKEN": TOKEN})
    assert cfg.telegram.token == TOKEN
    assert cfg.telegram.mode == "polling"


def test_an_empty_environment_variable_does_not_override(tmp_path: Path) -> None:
    path = write(tmp_path, f'telegram:\n  token: "{TOKEN}"\n')
    cfg = load_config(path, environ={"DISTRIKTSBOT_TOKEN": ""})
    assert cfg.telegram.token == TOKEN


def test_a_bad_database_url_from_the_environment_is_named(tmp_path: Path) -> None:
    message = error_of(None, {"DISTRIKTSBOT_DATABASE_URL": "mysql://u:hunter2@h/db"})
    assert message.startswith("database.url:")
    assert "hunter2" not in message


# --- what `run` needs ----------------------------------------------------------------------


def test_run_needs_a_token(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISTRIKTSBOT_HASH_SECRET": HASH_SECRET})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    assert str(info.value).startswith("telegram.token:")
    assert "DISTRIKTSBOT_TOKEN" in str(info.value)


def test_run_needs_a_hash_secret(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISTRIKTSBOT_TOKEN": TOKEN})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    message = str(info.value)
    assert message.startswith("privacy.hash_secret:")
    assert "DISTRIKTSBOT_HASH_SECRET" in message
    assert TOKEN not in message


def test_run_needs_a_long_enough_hash_secret(tmp_path: Path) -> None:
    cfg = load_config(
        None, environ={"DISTRIKTSBOT_TOKEN": TOKEN, "DISTRIKTSBOT_HASH_SECRET": "short"}
    )
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    assert str(info.value).startswith("privacy.hash_secret:")


def test_webhook_mode_needs_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  mode: webhook\n")
    cfg = load_config(
        path, environ={"DISTRIKTSBOT_TOKEN": TOKEN, "DISTRIKTSBOT_HASH_SECRET": HASH_SECRET}
    )
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    assert str(info.value).startswith("telegram.webhook.url:")
    assert TOKEN not in str(info.value)


def test_knowledge_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "kunnskap").mkdir()
    cfg = load_config(write(tmp_path, "knowledge: kunnskap\n"), environ={})
    assert cfg.knowledge_path() == tmp_path / "kunnskap"
    absolute = load_config(write(tmp_path, f"knowledge: {tmp_path}/x\n"), environ={})
    assert absolute.knowledge_path() == tmp_path / "x"
