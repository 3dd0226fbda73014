"""Configuration: YAML into frozen dataclasses, errors that name the key (never the token),
environment overrides."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest
import yaml

from bot.config import Config, ConfigError, find_config, load_config, write_initial_config
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
        f"telegram:\n  token: !{TOKEN}\n",  # YAML errors that would quote the value
        f"telegram:\n  token: *{TOKEN.replace(':', '')}\n",
        f"telegram:\n  token: {TOKEN}: x\n",
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


def problems_of(message: str) -> list[str]:
    """The settings a require_for_run() message lists, one per indented line, in order."""
    return [
        line.strip().split(":", 1)[0]
        for line in message.splitlines()
        if line.startswith("  ") and not line.startswith("    ")
    ]


def test_run_needs_a_token(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISTRIKTSBOT_HASH_SECRET": HASH_SECRET})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    message = str(info.value)
    assert problems_of(message) == ["telegram.token"]
    assert "DISTRIKTSBOT_TOKEN" in message
    assert "@BotFather" in message and "/newbot" in message


def test_run_needs_a_hash_secret(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISTRIKTSBOT_TOKEN": TOKEN})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    message = str(info.value)
    assert problems_of(message) == ["privacy.hash_secret"]
    assert "DISTRIKTSBOT_HASH_SECRET" in message
    assert TOKEN not in message


def test_everything_missing_is_listed_at_once_with_what_to_do(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "telegram:\n  mode: webhook\n"), environ={})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    message = str(info.value)
    assert problems_of(message) == ["telegram.token", "privacy.hash_secret", "telegram.webhook.url"]
    assert str(tmp_path / "config.yaml") in message  # which file was read
    assert "stable" in message  # the secret must not change between runs


def test_the_secret_command_in_the_message_makes_a_secret_that_is_accepted(
    tmp_path: Path,
) -> None:
    """The message gives the exact command; running it gives a secret `run` accepts."""
    cfg = load_config(None, environ={"DISTRIKTSBOT_TOKEN": TOKEN})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    commands = [
        line.strip() for line in str(info.value).splitlines() if line.strip().startswith("python")
    ]
    assert len(commands) == 1, info.value
    argv = shlex.split(commands[0])
    argv[0] = sys.executable
    secret = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    environ = {"DISTRIKTSBOT_TOKEN": TOKEN, "DISTRIKTSBOT_HASH_SECRET": secret}
    load_config(None, environ=environ).require_for_run()  # no error


def test_without_a_file_the_message_says_none_was_read_and_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(find_config(None), environ={})
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    message = str(info.value)
    assert "No config file was read" in message
    assert "--config" in message and "distriktsbot init" in message


def test_run_needs_a_long_enough_hash_secret(tmp_path: Path) -> None:
    cfg = load_config(
        None, environ={"DISTRIKTSBOT_TOKEN": TOKEN, "DISTRIKTSBOT_HASH_SECRET": "short"}
    )
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    assert problems_of(str(info.value)) == ["privacy.hash_secret"]
    assert "short" in str(info.value).split("privacy.hash_secret:", 1)[1]


def test_webhook_mode_needs_a_url(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram:\n  mode: webhook\n")
    cfg = load_config(
        path, environ={"DISTRIKTSBOT_TOKEN": TOKEN, "DISTRIKTSBOT_HASH_SECRET": HASH_SECRET}
    )
    with pytest.raises(ConfigError) as info:
        cfg.require_for_run()
    assert problems_of(str(info.value)) == ["telegram.webhook.url"]
    assert TOKEN not in str(info.value)


# --- the default file and `distriktsbot init` ------------------------------------------------


def test_config_yaml_in_the_working_directory_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config(None) is None
    (tmp_path / "config.yaml").write_text("log_level: DEBUG\n", encoding="utf-8")
    found = find_config(None)
    assert found is not None
    cfg = load_config(found, environ={})
    assert cfg.log_level == "DEBUG"
    assert cfg.file == str(tmp_path / "config.yaml")
    assert cfg.describe_file() == str(tmp_path / "config.yaml")
    # an explicit file wins
    other = tmp_path / "other.yaml"
    other.write_text("log_level: ERROR\n", encoding="utf-8")
    assert find_config(str(other)) == other


def test_init_writes_the_documented_example_with_a_fresh_secret(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write_initial_config(first)
    write_initial_config(second)
    one = load_config(first, environ={})
    two = load_config(second, environ={})
    assert len(one.privacy.hash_secret) >= 32
    assert one.privacy.hash_secret != two.privacy.hash_secret
    # apart from the secret, the defaults of the documented example
    example = load_config(ROOT / "config.example.yaml", environ={})
    assert dataclasses.replace(one, privacy=example.privacy, base_dir="", file="") == (
        dataclasses.replace(example, base_dir="", file="")
    )
    assert first.stat().st_mode & 0o077 == 0  # the file holds a secret: owner only
    # every comment of the example is kept (the keys stay documented)
    example_comments = [
        line for line in (ROOT / "config.example.yaml").read_text().splitlines() if "#" in line
    ]
    written = first.read_text()
    assert all(line in written for line in example_comments)
    # with the secret, only the token is missing
    with pytest.raises(ConfigError) as info:
        one.require_for_run()
    assert problems_of(str(info.value)) == ["telegram.token"]


def test_init_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("privacy:\n  hash_secret: the-one-my-votes-are-stored-under\n")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        write_initial_config(path)
    assert "already exists" in str(info.value)
    assert path.read_bytes() == before


def test_init_without_the_example_writes_a_short_valid_file(tmp_path: Path) -> None:
    """Installed without the repository (no config.example.yaml beside the code)."""
    path = tmp_path / "config.yaml"
    write_initial_config(path, example=tmp_path / "missing.example.yaml")
    cfg = load_config(path, environ={})
    assert len(cfg.privacy.hash_secret) >= 32
    assert "config.example.yaml" in path.read_text()


def test_knowledge_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "kunnskap").mkdir()
    cfg = load_config(write(tmp_path, "knowledge: kunnskap\n"), environ={})
    assert cfg.knowledge_path() == tmp_path / "kunnskap"
    absolute = load_config(write(tmp_path, f"knowledge: {tmp_path}/x\n"), environ={})
    assert absolute.knowledge_path() == tmp_path / "x"
