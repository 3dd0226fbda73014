"""The `distriktsbot` command line: init, chat, ask, match, check, eval, run, db upgrade, and the
admins' stats, unanswered, learn and export (bot/admin_cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from bot.config import Config, ConfigError, find_config, load_config, write_initial_config
from bot.evaluate import LabelError, evaluate, read_labelled
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.matcher import Match, Matcher
from bot.services import StorageMode, load_kb, open_services

log = logging.getLogger("distriktsbot")


class CliError(Exception):
    """A user error: printed as one clear message, exit status 2."""


CHAT_QUIT_HELP = (
    "To quit, type avslutt, ha det, exit or quit (or /slutt), or press Ctrl+D. Numbers pick "
    "from the numbered choices on screen."
)


def _parser() -> argparse.ArgumentParser:
    # --config and --knowledge work before or after the command ("run --config x.yaml")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        default=argparse.SUPPRESS,
        help="config file (YAML; default: ./config.yaml if there is one); see config.example.yaml",
    )
    common.add_argument(
        "--knowledge",
        "-k",
        default=argparse.SUPPRESS,
        help="knowledge folder or file (overrides the config)",
    )
    p = argparse.ArgumentParser(
        prog="distriktsbot",
        description="Answers voters' questions about Arbeiderpartiet's district policy, on "
        "Telegram and in the terminal.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str, epilog: str | None = None) -> argparse.ArgumentParser:
        # `help` is the line in `distriktsbot --help`; the same line opens `COMMAND --help`
        return sub.add_parser(name, help=help, description=help, epilog=epilog, parents=[common])

    add(
        "init",
        "write ./config.yaml (or --config FILE) with a fresh hash secret; never overwrites",
    )
    chat = add("chat", "chat with the bot in the terminal (no token, no network)", CHAT_QUIT_HELP)
    chat.add_argument(
        "--admin", action="store_true", help="as an admin: /oppdater, /statistikk, /ubesvarte"
    )
    ask = add("ask", "answer one question as the bot would")
    ask.add_argument("question", nargs="+", help="the question, e.g. Blir ferja billigere?")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    add(
        "match",
        'JSON Lines on stdin (objects with "text"), the same objects on stdout with the match '
        "added; one line out per line in",
    )
    check = add("check", "validate the knowledge files and self-test the matching")
    check.add_argument("path", nargs="?", help="knowledge folder or file")
    ev = add(
        "eval",
        'accuracy on a labelled JSON Lines file ({"text": ..., "topics": [ids]}; [] = must '
        "decline)",
    )
    ev.add_argument("file", help="the labelled JSON Lines file")
    ev.add_argument("--json", action="store_true", help="the figures as JSON")
    run = add("run", "run the Telegram bot (reads ./config.yaml unless --config is given)")
    run.add_argument(
        "--port", type=int, help="webhook mode: the port to listen on (overrides the config)"
    )
    run.add_argument("--listen", help="webhook mode: the address to listen on")
    add(
        "deploy",
        "once per release: apply migrations, set the command lists and the webhook (setWebhook)",
    )
    stats = add("stats", "what voters asked and think, per topic (admins)")
    stats.add_argument("--since", metavar="DATE", help="first day (YYYY-MM-DD); default: 7 days")
    stats.add_argument("--until", metavar="DATE", help="last day (YYYY-MM-DD); default: today")
    stats.add_argument("--csv", action="store_true", help="CSV on stdout instead of text")
    stats.add_argument("--chart", metavar="FILE.png", help="also write the chart as a PNG")
    unanswered = add("unanswered", "questions the bot could not answer, grouped (admins)")
    unanswered.add_argument("--json", action="store_true", help="machine-readable output")
    learn = add("learn", "add a question as an example to a topic, in its YAML file (admins)")
    learn.add_argument("question", help="the question, as a voter asked it")
    learn.add_argument("topic", help="topic id")
    export = add("export", "votes per topic and day as CSV (no personal data)")
    export.add_argument("--since", metavar="DATE", help="first day (YYYY-MM-DD)")
    bc = add("broadcast", "send a newsletter (a file of Telegram HTML) to every subscriber")
    bc.add_argument("file", nargs="?", help="the newsletter text; HTML as in /kringkast")
    bc.add_argument("--yes", "-y", action="store_true", help="send without asking first")
    bc.add_argument(
        "--resume", action="store_true", help="finish the newsletter being sent (after a crash)"
    )
    db = add("db", "database maintenance (db upgrade: apply the migrations)")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_sub.add_parser(
        "upgrade",
        help="apply the database migrations",
        description="apply the database migrations",
        parents=[common],
    )
    return p


def _config(args: argparse.Namespace) -> Config:
    return load_config(find_config(args.config))


def _init(args: argparse.Namespace) -> int:
    path = Path(args.config or "config.yaml")
    write_initial_config(path)
    print(
        f"Wrote {path} with a fresh privacy.hash_secret (keep it secret and never change it).\n"
        "Next: in Telegram, talk to @BotFather, send /newbot, and put the token it gives you "
        f"in {path} under telegram: token: (or in the environment variable "
        "DISTRIKTSBOT_TOKEN).\n"
        "Then: distriktsbot run"
        + ("" if path.resolve() == Path("config.yaml").resolve() else f" --config {path}")
    )
    return 0


def _knowledge(args: argparse.Namespace, cfg: Config, path: str | None = None) -> KnowledgeBase:
    return load_kb(cfg, path or args.knowledge)


def _match_json(m: Match) -> dict[str, Any]:
    return {
        "topic": m.topic_id,
        "score": m.score,
        "alternatives": [{"topic": t, "score": s} for t, s in m.alternatives],
        "ambiguous": m.ambiguous,
    }


def _input_lines(stdin: TextIO) -> Iterator[tuple[str | None, str | None]]:
    """Each input line as (text, None), or (None, error) when it is not UTF-8. A byte-order mark
    at the start is accepted; the line ending is dropped."""
    buffer: BinaryIO | None = getattr(stdin, "buffer", None)
    if buffer is None:  # a text stream (tests): already decoded
        for no, line in enumerate(stdin, 1):
            yield (line.removeprefix("\ufeff") if no == 1 else line), None
        return
    for no, raw in enumerate(buffer, 1):
        if no == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            yield raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            yield None, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position {exc.start})"


def cmd_match(matcher: Matcher, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Read JSON Lines, write the same objects with topic/score/alternatives added: one line out
    per line in, always (a bad or blank line gets an error object naming it)."""
    bad = 0
    for no, (raw_line, error) in enumerate(_input_lines(stdin), 1):
        obj: Any = {}
        if raw_line is not None:
            line = raw_line.strip()
            if not line:
                error = "empty line"
            else:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    obj, error = {}, f"not valid JSON ({exc.msg})"
        if error is None and (not isinstance(obj, dict) or not isinstance(obj.get("text"), str)):
            obj, error = {}, 'expected an object with a "text" string'
        if error is not None:
            # keep one output line per input line, so results stay aligned with the input
            print(f"line {no}: {error}", file=stderr)
            bad += 1
            obj = {"line": no, "error": error, "topic": None, "score": 0.0, "alternatives": []}
            stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
            continue
        m = matcher.match(obj["text"])
        obj.update(_match_json(m))
        stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    stdout.flush()
    return 1 if bad else 0


def cmd_check(kb: KnowledgeBase, out: TextIO) -> int:
    from bot.selftest import self_test

    result = self_test(kb)
    for line in result.lines():
        print(line, file=out)
    return 0 if result.ok else 1


async def _chat(
    cfg: Config, kb: KnowledgeBase, as_admin: bool = False, knowledge: str | None = None
) -> int:
    import dataclasses

    from bot.console import CONSOLE_PERSON, run_console

    if as_admin:  # the person at the terminal is the console's one person
        cfg = dataclasses.replace(cfg, admins=(*cfg.admins, CONSOLE_PERSON.user_id))
    async with open_services(
        cfg, kb, knowledge=knowledge, storage=StorageMode.OPTIONAL
    ) as services:
        await run_console(services.dialogue, admin=services.admin if as_admin else None)
    return 0


async def _ask(cfg: Config, kb: KnowledgeBase, question: str, as_json: bool) -> int:
    from bot.console import render_text, terminal_width

    async with open_services(cfg, kb, storage=StorageMode.NONE) as services:
        dialogue = services.dialogue
        reply = await dialogue.ask(None, question)
    if as_json:
        m = dialogue.matcher.match(question)
        out = {
            "question": question,
            **_match_json(m),
            "ambiguous": m.ambiguous,
            "kind": m.kind.value,
            "text": reply.text,
            "actions": [
                {"label": a.label, "action": a.encode() if a.url is None else None, "url": a.url}
                for a in reply.actions
            ],
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        text, _ = render_text(reply, terminal_width())
        print(text)
    return 0


def _eval(kb: KnowledgeBase, file: str, as_json: bool) -> int:
    items = read_labelled(Path(file), kb.topic_ids)
    if not items:
        raise CliError(f"{file}: no labelled questions")
    report = evaluate(Matcher(kb), items)
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0


async def _db_upgrade(cfg: Config) -> int:
    from bot.storage import upgrade_database

    revision = await upgrade_database(cfg.database.url)
    print(f"database is at revision {revision}")
    return 0


def _with_listener(cfg: Config, listen: str | None, port: int | None) -> Config:
    """`run --listen/--port`: one config file for N processes, each on its own port."""
    hook = cfg.telegram.webhook
    if port is not None:
        if not 1 <= port <= 65535:
            raise CliError(f"--port: must be 1-65535, got {port}")
        hook = dataclasses.replace(hook, port=port)
    if listen:
        hook = dataclasses.replace(hook, listen=listen)
    return dataclasses.replace(cfg, telegram=dataclasses.replace(cfg.telegram, webhook=hook))


async def _deploy(cfg: Config) -> int:
    from handlers.deploy import DeployError, deploy

    try:
        await deploy(cfg)
    except DeployError as exc:
        print(f"distriktsbot: {exc}", file=sys.stderr)
        return 4
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for name in ("config", "knowledge"):
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.command is None:
        _parser().print_help()
        return 2
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return _dispatch(args)
    except (ConfigError, KnowledgeError, LabelError, CliError) as exc:
        print(f"distriktsbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except Exception as exc:  # StorageError and anything unexpected: one line, no traceback
        from bot.storage import StorageError

        if isinstance(exc, StorageError):
            print(f"distriktsbot: database: {exc}", file=sys.stderr)
            return 3
        log.debug("unexpected error", exc_info=True)
        print(f"distriktsbot: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "init":  # before reading any config: there may be none yet
        return _init(args)
    cfg = _config(args)
    if args.command == "run":
        from handlers.app import run_bot

        cfg = _with_listener(cfg, args.listen, args.port)
        cfg.require_for_run()
        kb = _knowledge(args, cfg)
        return run_bot(cfg, kb)
    if args.command == "deploy":
        cfg.require_for_run()
        return asyncio.run(_deploy(cfg))
    if args.command == "broadcast":
        if cfg.telegram.token == "":
            cfg.require_for_run()  # names the missing token
        if bool(args.file) == bool(args.resume):
            raise CliError("usage: distriktsbot broadcast FILE [--yes] | broadcast --resume")
        from bot.broadcast_cli import broadcast

        return asyncio.run(broadcast(cfg, _knowledge(args, cfg), args.file, args.yes))
    if args.command == "db":
        if args.db_command != "upgrade":
            raise CliError("usage: distriktsbot db upgrade")
        return asyncio.run(_db_upgrade(cfg))
    if args.command == "check":
        kb = _knowledge(args, cfg, args.path)
        return cmd_check(kb, sys.stdout)
    kb = _knowledge(args, cfg)
    if args.command == "chat":
        return asyncio.run(_chat(cfg, kb, args.admin, args.knowledge))
    if args.command == "ask":
        return asyncio.run(_ask(cfg, kb, " ".join(args.question), args.json))
    if args.command == "match":
        return cmd_match(Matcher(kb), sys.stdin, sys.stdout, sys.stderr)
    if args.command in ("stats", "unanswered", "learn", "export"):
        from bot.admin_cli import run_admin_command

        return asyncio.run(run_admin_command(args, cfg, kb))
    if args.command == "eval":
        return _eval(kb, args.file, args.json)
    raise CliError(f"unknown command {args.command}")  # pragma: no cover - argparse guards
