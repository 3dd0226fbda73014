"""/statistikk and `distriktsbot stats`: what voters asked and think, per topic and in total.

A period (default: the last 7 days, today included, UTC) is compared with the period of the same
length before it. The figures are a short text naming every topic by its title (grouped by
policy area), a PNG chart (matplotlib's Agg backend, rendered in a worker thread so the event loop
keeps serving voters) and, on request, a CSV file. No person is in any of it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot import messages
from bot.knowledge import KnowledgeBase, Topic
from bot.reply import Block, BlockKind, Reply
from bot.storage import PeriodFigures, Storage, StorageError, TopicFigures

if TYPE_CHECKING:
    from bot.admin import AdminRequest

DEFAULT_DAYS = 7
MAX_DAYS = 3660


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Period:
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    @staticmethod
    def last(days: int, today: date | None = None) -> Period:
        today = today or datetime.now(UTC).date()
        return Period(today - timedelta(days=days - 1), today)


@dataclass(frozen=True)
class StatsRequest:
    period: Period
    csv: bool = False


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_request(arg: str, today: date | None = None) -> StatsRequest | str:
    """ "", "30", "csv", "30 csv", "2026-01-01 2026-01-31 [csv]"; otherwise what is wrong with
    it, in the admins' words (empty when it is not a period at all)."""
    words = arg.lower().split()
    want_csv = "csv" in words
    words = [w for w in words if w != "csv"]
    today = today or datetime.now(UTC).date()
    if not words:
        return StatsRequest(Period.last(DEFAULT_DAYS, today), want_csv)
    if len(words) == 1 and words[0].isdigit():
        days = int(words[0])
        if not 1 <= days <= MAX_DAYS:
            return messages.STATS_BAD_DAYS.format(days=days, low=1, high=MAX_DAYS)
        return StatsRequest(Period.last(days, today), want_csv)
    if 1 <= len(words) <= 2 and all(_DATE.match(w) for w in words):
        try:
            start, end = (date.fromisoformat(w) for w in (words[0], words[-1]))
        except ValueError:
            bad = next(w for w in words if not _is_date(w))
            return messages.STATS_BAD_DATE.format(value=bad)
        end = end if len(words) == 2 else today
        if end < start:
            return messages.STATS_END_BEFORE_START.format(start=_day(start), end=_day(end))
        if (end - start).days >= MAX_DAYS:
            return messages.STATS_TOO_LONG.format(high=MAX_DAYS)
        return StatsRequest(Period(start, end), want_csv)
    return ""


def _is_date(word: str) -> bool:
    try:
        date.fromisoformat(word)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class StatsReport:
    current: PeriodFigures
    previous: PeriodFigures
    subscribers: int


async def gather(storage: Storage, period: Period) -> StatsReport:
    before = period.before()
    current = await storage.stats.period(period.start, period.end)
    previous = await storage.stats.period(before.start, before.end)
    return StatsReport(current, previous, await storage.stats.subscribers())


def _day(d: date) -> str:
    return f"{d.day}.{d.month}.{d.year}"


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)} %"


def _topics_by_area(kb: KnowledgeBase) -> list[tuple[str, list[Topic]]]:
    return [(a.title, [t for t in kb.topics if t.area_id == a.id]) for a in kb.areas]


def report_text(kb: KnowledgeBase, report: StatsReport) -> str:
    cur, prev = report.current, report.previous
    lines = [
        messages.STATS_HEADER.format(
            start=_day(cur.start),
            end=_day(cur.end),
            prev_start=_day(prev.start),
            prev_end=_day(prev.end),
        ),
        messages.STATS_QUESTIONS.format(
            questions=cur.questions,
            prev_questions=prev.questions,
            matched=_pct(cur.matched_share),
            prev_matched=_pct(prev.matched_share),
            declined=_pct(cur.declined_share),
            prev_declined=_pct(prev.declined_share),
        ),
        messages.STATS_SUBSCRIBERS.format(count=report.subscribers),
    ]
    several = len(kb.areas) > 1
    for area_title, topics in _topics_by_area(kb):
        lines.append("")
        if several:
            lines.append(area_title.upper())
        for topic in topics:
            now = cur.topics.get(topic.id, TopicFigures())
            then = prev.topics.get(topic.id, TopicFigures())
            share = now.agree_share
            lines.append(
                messages.STATS_TOPIC.format(
                    title=topic.title,
                    answered=now.answered,
                    prev_answered=then.answered,
                    agree=now.agree,
                    disagree=now.disagree,
                    share=messages.STATS_SHARE.format(share=_pct(share))
                    if share is not None
                    else messages.STATS_NO_VOTES,
                )
            )
    return "\n".join(lines)


def report_csv(kb: KnowledgeBase, report: StatsReport) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(messages.STATS_CSV_HEADER)
    for area in kb.areas:
        for topic in (t for t in kb.topics if t.area_id == area.id):
            now = report.current.topics.get(topic.id, TopicFigures())
            then = report.previous.topics.get(topic.id, TopicFigures())
            share = now.agree_share
            writer.writerow(
                [
                    area.id,
                    topic.id,
                    topic.title,
                    now.answered,
                    now.matched,
                    now.opened,
                    now.agree,
                    now.disagree,
                    "" if share is None else f"{share:.3f}",
                    then.answered,
                    then.agree,
                    then.disagree,
                ]
            )
    return out.getvalue().encode("utf-8")


def warm_up() -> None:
    """Import matplotlib (a second or more the first time; building its font cache on a fresh
    machine takes longer): called in a worker thread at start, so the first /statistikk is fast."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    FigureCanvasAgg(fig)
    fig.add_subplot(1, 1, 1).set_title("x")
    fig.savefig(io.BytesIO(), format="png")


def render_chart(kb: KnowledgeBase, report: StatsReport) -> bytes:
    """A PNG: per topic, how often it was shown and Enig/Uenig. CPU-bound: call it in a worker
    thread (asyncio.to_thread). Uses matplotlib's object API with the Agg canvas: no pyplot, no
    global state, safe outside the main thread."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cur = report.current
    topics = [t for _, ts in _topics_by_area(kb) for t in ts]
    labels = [t.title for t in topics]
    shown = [cur.topics.get(t.id, TopicFigures()).answered for t in topics]
    agree = [cur.topics.get(t.id, TopicFigures()).agree for t in topics]
    disagree = [cur.topics.get(t.id, TopicFigures()).disagree for t in topics]
    height = max(3.0, 0.45 * len(topics) + 1.2)
    fig = Figure(figsize=(9, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(len(topics)))
    bar = 0.38
    ax.barh(
        [y - bar / 2 for y in ys],
        shown,
        height=bar,
        color="#b0b7bf",
        label=messages.STATS_CHART_SHOWN,
    )
    ax.barh(
        [y + bar / 2 for y in ys],
        agree,
        height=bar,
        color="#e4202c",
        label=messages.STATS_CHART_AGREE,
    )
    ax.barh(
        [y + bar / 2 for y in ys],
        disagree,
        left=agree,
        height=bar,
        color="#5b6670",
        label=messages.STATS_CHART_DISAGREE,
    )
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_title(messages.STATS_CHART_CAPTION.format(start=_day(cur.start), end=_day(cur.end)))
    fig.legend(loc="lower center", ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    # fixed margins (room for the longest title) instead of tight_layout, which draws the whole
    # figure once more only to measure it
    longest = max((len(label) for label in labels), default=10)
    fig.subplots_adjust(
        left=min(0.5, 0.04 + 0.0105 * longest),
        right=0.97,
        top=1 - 0.5 / height,
        bottom=0.75 / height,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


async def stats_reply(kb: KnowledgeBase, storage: Storage, request: StatsRequest) -> Reply:
    report = await gather(storage, request.period)
    text = Block(BlockKind.TEXT, report_text(kb, report))
    cur = report.current
    stamp = f"{cur.start.isoformat()}_{cur.end.isoformat()}"
    if request.csv:
        caption = messages.STATS_CSV_CAPTION.format(start=_day(cur.start), end=_day(cur.end))
        data = report_csv(kb, report)
        return Reply((text, Block.document(data, f"statistikk_{stamp}.csv", caption)))
    png = await asyncio.to_thread(render_chart, kb, report)
    caption = messages.STATS_CHART_CAPTION.format(start=_day(cur.start), end=_day(cur.end))
    return Reply((text, Block.image(png, f"statistikk_{stamp}.png", caption)))


async def stats_command(req: AdminRequest) -> Reply:
    request = parse_request(req.arg)
    if isinstance(request, str):
        usage = messages.STATS_USAGE.format(
            default=DEFAULT_DAYS,
            example_days=30,
            example_start="2026-01-01",
            example_end="2026-01-31",
        )
        return Reply(tuple(Block(BlockKind.TEXT, t) for t in (request, usage) if t))
    storage = req.services.storage
    if storage is None:
        return Reply((Block(BlockKind.TEXT, messages.STATS_NO_DATABASE),))
    try:
        return await stats_reply(req.services.kb, storage, request)
    except StorageError:
        return Reply((Block(BlockKind.TEXT, messages.STATS_NO_DATABASE),))
