"""The admins' tools on the command line, for admins without Telegram and for scripts:
`stats`, `unanswered`, `learn` and `export`. Same services (bot.services), same core functions
and the same write-back as the Telegram commands."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from rapidfuzz import fuzz, process

from bot import inbox, messages, statistics
from bot.config import Config
from bot.knowledge import KnowledgeBase
from bot.services import Services, StorageMode, open_services
from bot.storage import GroupState


class AdminCliError(Exception):
    """A user error; the message is printed as one line."""


def _date(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AdminCliError(messages.CLI_NOT_A_DATE.format(option=name, value=value)) from None


async def run_admin_command(args: argparse.Namespace, cfg: Config, kb: KnowledgeBase) -> int:
    from bot.cli import CliError

    try:
        async with open_services(
            cfg, kb, knowledge=args.knowledge, storage=StorageMode.EXISTING
        ) as services:
            if args.command == "stats":
                return await _stats(services, args)
            if args.command == "unanswered":
                return await _unanswered(services, args.json)
            if args.command == "learn":
                return await _learn(services, args.question, args.topic)
            return await _export(services, _date(args.since, "--since"))
    except AdminCliError as exc:
        raise CliError(str(exc)) from None


async def _stats(services: Services, args: argparse.Namespace) -> int:
    assert services.storage is not None
    today = datetime.now(UTC).date()
    since = _date(args.since, "--since")
    until = _date(args.until, "--until") or today
    if since is None:
        period = statistics.Period.last(statistics.DEFAULT_DAYS, until)
    else:
        period = statistics.Period(since, until)
    if period.end < period.start:
        raise AdminCliError(messages.CLI_SINCE_AFTER_UNTIL)
    report = await statistics.gather(services.storage, period)
    if args.csv:
        sys.stdout.write(statistics.report_csv(services.kb, report).decode("utf-8"))
    else:
        print(statistics.report_text(services.kb, report))
    if args.chart:
        png = statistics.render_chart(services.kb, report)
        try:
            Path(args.chart).write_bytes(png)
        except OSError as exc:
            raise AdminCliError(
                messages.CLI_CANNOT_WRITE.format(file=args.chart, reason=exc.strerror or exc)
            ) from None
        print(messages.STATS_CHART_WRITTEN.format(file=args.chart), file=sys.stderr)
    return 0


async def _unanswered(services: Services, as_json: bool) -> int:
    assert services.storage is not None
    groups = await inbox.open_groups(services.storage)
    matcher = services.dialogue.matcher
    guessed = {g.id: [t.id for t in inbox.guesses(services.kb, matcher, g.text)] for g in groups}
    rows: list[dict[str, object]] = [
        {
            "group": g.key,
            "text": g.text,
            "count": g.count,
            "wordings": g.wordings,
            "ambiguous": g.ambiguous,
            "last_asked": g.last_asked.isoformat(),
            "guesses": guessed[g.id],
        }
        for g in groups
    ]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(inbox.overview(groups))
        for g in groups:
            titles = [t.title for t in inbox.guesses(services.kb, matcher, g.text)]
            guesses = ", ".join(f"«{t}»" for t in titles) or messages.CLI_NO_GUESSES
            print(messages.CLI_UNANSWERED_LINE.format(key=g.key, text=g.text, guesses=guesses))
    return 0


async def _learn(services: Services, question: str, topic_id: str) -> int:
    from bot.admin import problems_text
    from bot.writeback import WriteError

    assert services.storage is not None
    topic = services.kb.topic(topic_id)
    if topic is None:
        raise AdminCliError(_unknown_topic(services.kb, topic_id))
    try:
        written, result = await services.learn(topic.id, question)
    except WriteError as exc:
        detail = problems_text(exc.problems) if exc.problems else ""
        raise AdminCliError(f"{exc}\n{detail}".rstrip()) from None  # in the admins' words
    # the inbox group this question came from, if any, is handled now
    key = inbox.words_key(question)
    for group in await inbox.open_groups(services.storage):
        if inbox.words_key(group.text) == key:
            await services.storage.unanswered.close_group(group.id, GroupState.LEARNED, topic.id)
    lines, there = inbox.learned(services, topic, question, written, result)
    print("\n".join(lines))
    return 0 if there else 1


def _unknown_topic(kb: KnowledgeBase, topic_id: str) -> str:
    """In the admins' words: which ids there are, and the nearest one (by id or title)."""
    names = {t.id: t.id for t in kb.topics} | {t.title: t.id for t in kb.topics}
    best = process.extractOne(topic_id, list(names), scorer=fuzz.WRatio, score_cutoff=70)
    hint = messages.UNKNOWN_KEY_HINT.format(suggestion=names[best[0]]) if best else ""
    known = ", ".join(kb.topic_ids)
    return messages.LEARN_UNKNOWN_TOPIC.format(topic=topic_id, hint=hint, known=known)


async def _export(services: Services, since: date | None) -> int:
    assert services.storage is not None
    rows = await services.storage.stats.daily_votes(since)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["dag", "omrade", "emne_id", "enig", "uenig"])
    for row in rows:
        topic = services.kb.topic(row.topic_id)
        area = topic.area_id if topic is not None else ""
        writer.writerow([row.day, area, row.topic_id, row.agree, row.disagree])
    return 0
