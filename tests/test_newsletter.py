"""The newsletter's core without Telegram: composing and checking the HTML, the pace, the outbox's
state machine and the worker (with a scripted sender), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from bot import messages
from bot.newsletter import (
    MAX_MESSAGE_CHARS,
    Delivery,
    OutboxWorker,
    Outcome,
    Pace,
    compose,
    plain_text,
)
from bot.reply import Reply
from bot.storage import Storage, pseudonymize
from bot.storage.outbox import (
    BroadcastStatus,
    Cancelled,
    Finished,
    RowStatus,
    Started,
    sender_lock,
)
from tests.fake_telegram import parse_telegram_html

FOOTER_PLAIN = "Vil du ikke ha flere nyhetsbrev? Skriv /stopp."


# --------------------------------------------------------------------------------------------
# Composing and checking
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seen"),
    [
        ("Bønder & fiskere: 3 < 5 > 1", "Bønder & fiskere: 3 < 5 > 1"),
        ("<b>Fet</b> og <i>kursiv</i>, <u>u</u> <s>s</s>", "Fet og kursiv, u s"),
        ('<a href="https://example.org/?a=1&b=2">lenke</a>', "lenke"),
        ('<span class="tg-spoiler">hemmelig</span> <tg-spoiler>også</tg-spoiler>', "hemmelig også"),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
        ("<blockquote expandable>sitat</blockquote>", "sitat"),
        ("&nbsp;mellomrom&amp;&lt;tegn&gt; &#65;", "\xa0mellomrom&<tegn> A"),
        ("Linje 1\n\nLinje 2", "Linje 1\n\nLinje 2"),
        ("<B>STOR</B>", "STOR"),
    ],
)
def test_valid_html_becomes_exactly_what_telegram_shows(written: str, seen: str) -> None:
    composed = compose(written)
    assert composed.ok, composed.problems
    # the stand-in parses it as Telegram does (strictly: a bare "&" would be an error there)
    plain, _ = parse_telegram_html(composed.html)
    assert plain == f"{seen.strip()}\n\n{FOOTER_PLAIN}"
    assert plain_text(composed.html) == plain


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("<div>x</div>", messages.NEWSLETTER_PROBLEM_TAG.format(tag="div", line=1)),
        ("a<br>b", messages.NEWSLETTER_PROBLEM_TAG.format(tag="br", line=1)),
        ("a<br/>b", messages.NEWSLETTER_PROBLEM_TAG.format(tag="br", line=1)),
        ("\n<a>lenke</a>", messages.NEWSLETTER_PROBLEM_LINK.format(line=2)),
        ('<a href="javascript:alert(1)">x</a>', messages.NEWSLETTER_PROBLEM_LINK.format(line=1)),
        (
            '<span class="rød">x</span>',
            messages.NEWSLETTER_PROBLEM_ATTRIBUTE.format(
                attribute='class="rød"', tag="span", line=1
            ),
        ),
        (
            '<b style="x">y</b>',
            messages.NEWSLETTER_PROBLEM_ATTRIBUTE.format(attribute='style="x"', tag="b", line=1),
        ),
        ("<b>x", messages.NEWSLETTER_PROBLEM_UNCLOSED.format(tag="b", line=1)),
        ("x</i>", messages.NEWSLETTER_PROBLEM_UNEXPECTED_END.format(tag="i", line=1)),
        (
            "<b><i>x</b></i>",
            messages.NEWSLETTER_PROBLEM_MISMATCH.format(found="b", expected="i", line=1),
        ),
        ("x <!-- notat -->", messages.NEWSLETTER_PROBLEM_COMMENT.format(line=1)),
        ("   ", messages.NEWSLETTER_PROBLEM_EMPTY),
        ("<b> </b>", messages.NEWSLETTER_PROBLEM_EMPTY),
    ],
)
def test_what_telegram_refuses_is_explained(written: str, expected: str) -> None:
    composed = compose(written)
    assert not composed.ok
    assert expected in composed.problems


def test_length_counts_the_footer_and_names_the_excess() -> None:
    room = MAX_MESSAGE_CHARS - len(f"\n\n{FOOTER_PLAIN}")
    assert compose("x" * room).ok
    too_long = compose("<b>" + "x" * (room + 7) + "</b>")
    assert too_long.problems == (
        messages.NEWSLETTER_PROBLEM_TOO_LONG.format(
            length=MAX_MESSAGE_CHARS + 7, limit=MAX_MESSAGE_CHARS, over=7
        ),
    )
    # emoji count twice, as Telegram counts them (UTF-16)
    assert not compose("😀" * (room // 2 + 1)).ok


# --------------------------------------------------------------------------------------------
# The pace
# --------------------------------------------------------------------------------------------


class VirtualTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def busiest_second_before(events: list[tuple[float, str]], kind: str) -> int:
    """The most messages (of any kind) that had gone out in the second up to and including a
    message of ``kind``, in the order they went out."""
    return max(
        sum(1 for t, _ in events[: i + 1] if at - 1.0 < t)
        for i, (at, what) in enumerate(events)
        if what == kind
    )


async def test_pace_keeps_every_second_under_the_limit_voters_included() -> None:
    vt = VirtualTime()
    pace = Pace(10, clock=vt.clock, sleep=vt.sleep)
    events: list[tuple[float, str]] = []
    for i in range(60):
        if i % 3 == 0:  # a voter's reply goes out now and then, never waiting
            pace.note()
            events.append((vt.now, "voter"))
        await pace.acquire()
        events.append((vt.now, "newsletter"))
    # a voter's reply never waits; the newsletter goes only when the last second has room
    assert busiest_second_before(events, "newsletter") <= 10
    sent = [t for t, what in events if what == "newsletter"]
    # and it uses what the voters leave: 80 messages at 10/s take about 8 seconds
    assert 7.0 <= sent[-1] - sent[0] <= 9.0


async def test_pace_pauses_on_retry_after_and_slows_then_recovers() -> None:
    vt = VirtualTime()
    pace = Pace(10, clock=vt.clock, sleep=vt.sleep)
    await pace.acquire()
    pace.pause(5)  # a lone 429: wait as told, same pace after
    assert pace.paused and pace.per_second == 10
    before = vt.now
    await pace.acquire()
    assert vt.now - before >= 5
    assert not pace.paused
    vt.now += 2
    pace.pause(1)  # another one soon after: the pace is too fast, one step down
    assert pace.per_second == 9
    await pace.acquire()
    vt.now += pace.RECOVER_AFTER + 1
    await pace.acquire()
    assert pace.per_second == 10


# --------------------------------------------------------------------------------------------
# The outbox and the worker
# --------------------------------------------------------------------------------------------


@dataclass
class ScriptedSender:
    """Records deliveries; `script` gives the outcomes for a chat, in order (then SENT)."""

    script: dict[int, list[Outcome]] = field(default_factory=dict)
    delivered: list[int] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)
    shown: list[tuple[int, int, Reply]] = field(default_factory=list)
    posted: list[tuple[int, Reply]] = field(default_factory=list)
    hang: asyncio.Event | None = None  # deliveries wait for it (a request in flight)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def deliver(self, chat_id: int, html: str) -> Outcome:
        self.attempts.append(chat_id)
        self.started.set()
        if self.hang is not None:
            await self.hang.wait()
        planned = self.script.get(chat_id)
        outcome = planned.pop(0) if planned else Outcome(Delivery.SENT)
        if outcome.delivery is Delivery.SENT:
            self.delivered.append(chat_id)
        return outcome

    async def show(self, chat_id: int, message_id: int, reply: Reply) -> None:
        self.shown.append((chat_id, message_id, reply))

    async def post(self, chat_id: int, reply: Reply) -> None:
        self.posted.append((chat_id, reply))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Storage]:
    storage = await Storage.open(db_url)
    try:
        yield storage
    finally:
        await storage.close()


def key(chat: int) -> str:
    return pseudonymize("newsletter-test-secret", chat)


async def subscribe(storage: Storage, chats: list[int]) -> None:
    for chat in chats:
        await storage.subscribers.subscribe(key(chat), chat)


async def send_all(storage: Storage, sender: ScriptedSender, number: int) -> None:
    """A sender that sends until the broadcast is reported, then stops (the command line)."""
    w = worker(storage, sender)
    try:
        await asyncio.wait_for(w.run(until=number), 20)
    finally:
        await w.stop()


def worker(storage: Storage, sender: ScriptedSender, **kw: float) -> OutboxWorker:
    return OutboxWorker(
        storage.outbox,
        sender_lock(storage.db),
        sender,
        Pace(1000),
        concurrency=int(kw.get("concurrency", 3)),
        progress_seconds=kw.get("progress_seconds", 0.05),
        poll_seconds=0.05,
    )


async def started(storage: Storage, html: str = "brev", progress: tuple[int, int] = (1, 2)) -> int:
    draft = await storage.outbox.draft(html)
    assert await storage.outbox.start(draft.id, progress) is Started.STARTED
    return draft.id


async def test_everyone_once_retry_after_and_the_report(store: Storage) -> None:
    chats = list(range(10, 20))
    await subscribe(store, chats)
    sender = ScriptedSender(
        script={
            12: [Outcome(Delivery.RETRY, retry_after=0.2)],
            13: [Outcome(Delivery.BLOCKED, error="Forbidden: bot was blocked by the user")],
            14: [Outcome(Delivery.FAILED, error="Bad Request: chat not found")],
        }
    )
    number = await started(store)
    await send_all(store, sender, number)
    assert sorted(sender.delivered) == [c for c in chats if c not in (13, 14)]
    assert sender.attempts.count(12) == 2  # refused with 429, then sent: once
    counts = await store.outbox.counts(number)
    assert (counts.sent, counts.blocked, counts.failed, counts.left) == (8, 1, 1, 0)
    assert await store.outbox.recipients() == 9  # the one who blocked the bot is unsubscribed
    [(chat, report)] = sender.posted
    assert chat == 1 and "Sendt: 8 av 10" in report.text and report.actions == []
    assert sender.shown[-1][:2] == (1, 2)  # the progress message's last state
    assert (await store.outbox.get(number)).status is BroadcastStatus.DONE  # type: ignore[union-attr]


async def test_a_sender_that_dies_mid_flight_leaves_unknown_rows_never_resent(
    store: Storage,
) -> None:
    chats = list(range(30, 40))
    await subscribe(store, chats)
    number = await started(store)

    # the first sender: three requests in flight when its process dies
    stuck = ScriptedSender(hang=asyncio.Event())
    first = worker(store, stuck, concurrency=3)
    task = asyncio.create_task(first.run())
    while len(stuck.attempts) < 3:
        await asyncio.sleep(0.01)
    task.cancel()  # as SIGKILL does: nothing after this line of the first sender runs
    with pytest.raises(asyncio.CancelledError):
        await task
    await first.lock.release()  # the kernel/PostgreSQL release the lock of a dead process
    in_flight = set(stuck.attempts)
    assert (await store.outbox.counts(number)).sending == 3

    # the next sender resumes
    sender = ScriptedSender()
    await send_all(store, sender, number)
    assert set(sender.delivered) == set(chats) - in_flight
    assert len(sender.delivered) == len(set(sender.delivered))
    counts = await store.outbox.counts(number)
    assert (counts.sent, counts.unknown) == (7, 3)
    [(_, report)] = sender.posted
    assert "Ukjent: 3" in report.text
    [button] = report.actions
    assert button.encode() == f"kkr:{number}"

    # only when the admin asks are the unknown ones sent again
    assert await store.outbox.resend_unknown(number, (1, 9)) is Started.STARTED
    again = ScriptedSender()
    await send_all(store, again, number)
    assert sorted(again.delivered) == sorted(in_flight)
    assert (await store.outbox.counts(number)).sent == 10
    assert await store.outbox.resend_unknown(number) is Started.NOTHING


async def test_one_broadcast_at_a_time_and_cancel(store: Storage) -> None:
    await subscribe(store, [1, 2, 3])
    first = await started(store)
    second = await store.outbox.draft("andre")
    assert await store.outbox.start(second.id) is Started.BUSY
    assert await store.outbox.start(first) is Started.WRONG_STATE
    assert await store.outbox.cancel(first) is Cancelled.STOPPED
    counts = await store.outbox.counts(first)
    assert (counts.cancelled, counts.pending) == (3, 0)
    assert await store.outbox.cancel(first) is Cancelled.TOO_LATE
    assert await store.outbox.start(second.id) is Started.STARTED
    third = await store.outbox.draft("tredje")
    assert await store.outbox.cancel(third.id) is Cancelled.DRAFT
    assert await store.outbox.start(third.id) is Started.WRONG_STATE


async def test_stopp_drops_what_was_not_yet_sent_and_slettmeg_everything(store: Storage) -> None:
    await subscribe(store, [1, 2])
    number = await started(store)
    row = await store.outbox.claim(number)
    assert row is not None
    await store.outbox.finish(Finished(row, RowStatus.SENT))
    # /stopp: the pending row of the other goes with the subscription
    other = 2 if row.chat_id == 1 else 1
    assert await store.subscribers.unsubscribe(key(other))
    counts = await store.outbox.counts(number)
    assert (counts.sent, counts.pending) == (1, 0)
    # /slettmeg: the delivered row too
    assert await store.subscribers.unsubscribe(key(row.chat_id), forget=True)
    assert (await store.outbox.counts(number)).total == 0


async def test_recipients_of_a_reported_newsletter_are_forgotten_after_the_retention(
    store: Storage,
) -> None:
    await subscribe(store, [1, 2, 3])
    old = await started(store, "gammelt brev")
    await send_all(store, ScriptedSender(), old)  # sent and reported
    running = await started(store, "nytt brev")  # sending, not reported: never touched
    later = datetime.now(UTC) + timedelta(days=31)
    # reported just now: kept until the cut-off has passed
    assert await store.outbox.forget_finished_before(datetime.now(UTC) - timedelta(days=30)) == 0
    assert (await store.outbox.counts(old)).total == 3
    assert await store.outbox.forget_finished_before(later) == 3
    assert (await store.outbox.counts(old)).total == 0
    assert (await store.outbox.counts(running)).pending == 3
    broadcast = await store.outbox.get(old)  # the letter and its status stay
    assert broadcast is not None and broadcast.status is BroadcastStatus.DONE
    assert broadcast.html == "gammelt brev"
    assert await store.outbox.recipients() == 3  # subscriptions are not deliveries


async def test_only_the_lock_holder_sends_and_another_takes_over(db_url: str) -> None:
    """Two processes on one database (here: two engines): one sends, the other waits; when
    the sender's process ends, the other takes over."""
    a, b = await Storage.open(db_url), await Storage.open(db_url)
    try:
        await subscribe(a, list(range(100, 130)))
        number = await started(a)
        sa, sb = ScriptedSender(), ScriptedSender()
        wa, wb = worker(a, sa), worker(b, sb)
        await asyncio.wait_for(asyncio.gather(wa.run(until=number), wb.run(until=number)), 30)
        assert sorted(sa.delivered + sb.delivered) == list(range(100, 130))
        assert [wa.leader, wb.leader].count(True) == 1
        # the sender stops (its process ends); the other one sends the next broadcast
        leader, waiting, waiting_sender = (wa, wb, sb) if wa.leader else (wb, wa, sa)
        await leader.stop()
        number = await started(a, "neste")
        await asyncio.wait_for(waiting.run(until=number), 30)
        assert waiting.leader
        assert sorted(waiting_sender.delivered[-30:]) == list(range(100, 130))
        await waiting.stop()
    finally:
        await a.close()
        await b.close()


async def test_concurrent_claims_never_share_a_row(db_url: str) -> None:
    """`FOR UPDATE SKIP LOCKED` on PostgreSQL, one writer at a time on SQLite."""
    a, b = await Storage.open(db_url), await Storage.open(db_url)
    try:
        await subscribe(a, list(range(200, 260)))
        number = await started(a)
        claims = await asyncio.gather(*(s.outbox.claim(number) for _ in range(40) for s in (a, b)))
        got = [c.id for c in claims if c is not None]
        assert len(got) == 60 and len(set(got)) == 60
    finally:
        await a.close()
        await b.close()
