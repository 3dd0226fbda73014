"""The `distriktsbot` command line: chat, ask, match, check, eval, run, db upgrade."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.config import Config, ConfigError, load_config
from bot.evaluate import LabelError, evaluate, read_labelled
from bot.knowledge import KnowledgeBase, KnowledgeError
from bot.matcher import Match, Matcher
from bot.services import StorageMode, load_kb, open_services

log = logging.getLogger("distriktsbot")


class CliError(Exception):
    """A user error: printed as one clear message, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    # --config and --knowledge work before or after the command ("run --config x.yaml")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        default=argparse.SUPPRESS,
        help="config file (YAML); see config.example.yaml",
    )
    common.add_argument(
        "--knowledge",
        "-k",
        default=argparse.SUPPRESS,
        help="knowledge folder or file (overrides the config)",
    )
    p = argparse.ArgumentParser(
        prog="distriktsbot",
        description="Svarer på spørsmål om Arbeiderpartiets distriktspolitikk.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    add("chat", "chat with the bot in the terminal (no token, no network)")
    ask = add("ask", "answer one question as the bot would")
    ask.add_argument("question", nargs="+")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    add("match", "JSON Lines in on stdin ({'text': ...}), matched objects out")
    check = add("check", "validate knowledge files and self-test the matching")
    check.add_argument("path", nargs="?", help="knowledge folder or file")
    ev = add("eval", "accuracy on a labelled JSON Lines file")
    ev.add_argument("file")
    ev.add_argument("--json", action="store_true", help="the figures as JSON")
    add("run", "run the Telegram bot")
    bc = add("broadcast", "send a newsletter (a file of Telegram HTML) to every subscriber")
    bc.add_argument("file", nargs="?", help="the newsletter text; HTML as in /kringkast")
    bc.add_argument("--yes", "-y", action="store_true", help="send without asking first")
    bc.add_argument(
        "--resume", action="store_true", help="finish the newsletter being sent (after a crash)"
    )
    db = add("db", "database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply the database migrations")
    return p


def _config(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _knowledge(args: argparse.Namespace, cfg: Config, path: str | None = None) -> KnowledgeBase:
    return load_kb(cfg, path or args.knowledge)


def _match_json(m: Match) -> dict[str, Any]:
    return {
        "topic": m.topic_id,
        "score": m.score,
        "alternatives": [{"topic": t, "score": s} for t, s in m.alternatives],
    }


def cmd_match(matcher: Matcher, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Read JSON Lines, write the same objects with topic/score/alternatives added."""
    bad = 0
    buffer = stdin.buffer if hasattr(stdin, "buffer") else None
    lines = (
        (raw.decode("utf-8", errors="replace") for raw in buffer) if buffer is not None else stdin
    )
    for no, raw_line in enumerate(lines, 1):
        line = raw_line.strip()
        if not line:
            continue
        error = None
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
    matcher = Matcher(kb)
    problems = 0
    total = 0
    for topic in kb.topics:
        for example in topic.examples:
            total += 1
            m = matcher.match(example)
            if m.topic_id != topic.id:
                problems += 1
                got = m.topic_id or "no topic"
                print(f"  {topic.id}: example {example!r} lands on {got} ({m.score})", file=out)
    files = ", ".join(kb.files)
    print(
        f"{len(kb.topics)} topics in {len(kb.files)} file(s) ({files}); "
        f"{total - problems}/{total} examples land on their own topic",
        file=out,
    )
    return 1 if problems else 0


async def _chat(cfg: Config, kb: KnowledgeBase) -> int:
    from bot.console import run_console

    async with open_services(cfg, kb, storage=StorageMode.OPTIONAL) as services:
        await run_console(services.dialogue)
    return 0


async def _ask(cfg: Config, kb: KnowledgeBase, question: str, as_json: bool) -> int:
    from bot.console import render_text

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
        text, _ = render_text(reply)
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
    cfg = _config(args)
    if args.command == "run":
        from handlers.app import run_bot

        cfg.require_for_run()
        kb = _knowledge(args, cfg)
        return run_bot(cfg, kb)
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
        return asyncio.run(_chat(cfg, kb))
    if args.command == "ask":
        return asyncio.run(_ask(cfg, kb, " ".join(args.question), args.json))
    if args.command == "match":
        return cmd_match(Matcher(kb), sys.stdin, sys.stdout, sys.stderr)
    if args.command == "eval":
        return _eval(kb, args.file, args.json)
    raise CliError(f"unknown command {args.command}")  # pragma: no cover - argparse guards
