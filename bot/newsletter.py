"""The newsletter: compose and check it, the admins' dialogue around it, and the outbox worker.

Transport-agnostic (no Telegram here):

* `compose` turns what an admin wrote (Telegram-flavoured HTML) into the exact HTML every
  subscriber gets, footer included, or lists what must be fixed, in Norwegian.
* `Newsletter` is the admins' side of `/kringkast`: preview, test, send, cancel, resend the
  unknown ones. Admin rights are checked here on every action, buttons included; for anyone
  else it returns None and the transport answers exactly as it does an unknown command/button.
* `OutboxWorker` sends a broadcast through the outbox (`bot.storage.outbox`), at the pace
  `Pace` allows, through a `Sender` (the transport's), and keeps the admin's progress message
  and final report up to date.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import Final, Protocol

from bot import messages
from bot.dialogue import Person
from bot.reply import NEWSLETTER_ACTIONS, Action, Block, BlockKind, Do, Reply
from bot.storage import StorageError
from bot.storage.outbox import (
    Broadcast,
    BroadcastStatus,
    Cancelled,
    Claimed,
    Counts,
    Finished,
    Outbox,
    RowStatus,
    SenderLock,
    Started,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS: Final = 4096  # Telegram's limit for a text message, after HTML parsing
TAG_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),  # only class="tg-spoiler"
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),  # class="language-…" inside <pre>
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
"""Telegram's HTML: these tags and attributes, nothing else."""
LINK_SCHEMES: Final = ("http://", "https://", "tg://", "mailto:")


# --------------------------------------------------------------------------------------------
# Composing and checking
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Composed:
    """What an admin wrote, made ready: ``html`` is exactly what subscribers get (footer
    included), valid for Telegram; ``problems`` says in Norwegian what must be fixed first."""

    html: str
    problems: tuple[str, ...] = ()
    length: int = 0  # characters a reader sees (UTF-16 units, as Telegram counts)

    @property
    def ok(self) -> bool:
        return not self.problems


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _TelegramHtml(HTMLParser):
    """Re-writes the admin's HTML as canonical Telegram HTML: text escaped (a bare "&" or "<"
    is just a character), only Telegram's tags with their allowed attributes, every tag closed.
    Anything else becomes a problem to report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.plain: list[str] = []
        self.problems: list[str] = []
        self.open: list[tuple[str, int]] = []

    def handle_data(self, data: str) -> None:
        self.out.append(escape(data, quote=False))
        self.plain.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        allowed = TAG_ATTRIBUTES.get(tag)
        if allowed is None:
            self.problems.append(messages.NEWSLETTER_PROBLEM_TAG.format(tag=tag, line=line))
            return
        kept: list[str] = []
        for name, value in attrs:
            if name not in allowed or not self._attribute_ok(tag, name, value):
                self.problems.append(
                    messages.NEWSLETTER_PROBLEM_ATTRIBUTE.format(
                        attribute=name if value is None else f'{name}="{value}"',
                        tag=tag,
                        line=line,
                    )
                )
                continue
            kept.append(name if value is None else f'{name}="{escape(value)}"')
        if tag == "a" and not any(name == "href" for name, _ in attrs):
            self.problems.append(messages.NEWSLETTER_PROBLEM_LINK.format(line=line))
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href and not href.lower().startswith(LINK_SCHEMES):
                self.problems.append(messages.NEWSLETTER_PROBLEM_LINK.format(line=line))
        self.open.append((tag, line))
        self.out.append(f"<{' '.join([tag, *kept])}>")

    @staticmethod
    def _attribute_ok(tag: str, name: str, value: str | None) -> bool:
        if tag == "span":
            return value == "tg-spoiler"
        if tag == "code":
            return bool(value) and str(value).startswith("language-")
        if tag == "blockquote":
            return value is None or value == ""
        return bool(value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.problems.append(messages.NEWSLETTER_PROBLEM_TAG.format(tag=tag, line=self.getpos()[0]))

    def handle_endtag(self, tag: str) -> None:
        line = self.getpos()[0]
        if tag not in TAG_ATTRIBUTES:
            return  # its start tag was reported already
        if not self.open:
            self.problems.append(
                messages.NEWSLETTER_PROBLEM_UNEXPECTED_END.format(tag=tag, line=line)
            )
            return
        expected, _ = self.open[-1]
        if expected != tag:
            if any(t == tag for t, _ in self.open):
                self.problems.append(
                    messages.NEWSLETTER_PROBLEM_MISMATCH.format(
                        found=tag, expected=expected, line=line
                    )
                )
            else:
                self.problems.append(
                    messages.NEWSLETTER_PROBLEM_UNEXPECTED_END.format(tag=tag, line=line)
                )
            return
        self.open.pop()
        self.out.append(f"</{tag}>")

    def handle_comment(self, data: str) -> None:
        self.problems.append(messages.NEWSLETTER_PROBLEM_COMMENT.format(line=self.getpos()[0]))

    def handle_decl(self, decl: str) -> None:
        self.handle_comment(decl)

    def handle_pi(self, data: str) -> None:
        self.handle_comment(data)

    def unknown_decl(self, data: str) -> None:
        self.handle_comment(data)


def compose(text: str) -> Composed:
    """Check what an admin wrote and build the newsletter exactly as subscribers will get it."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    problems = list(parser.problems)
    for tag, line in parser.open:
        problems.append(messages.NEWSLETTER_PROBLEM_UNCLOSED.format(tag=tag, line=line))
    body = "".join(parser.out).strip()
    plain_body = "".join(parser.plain).strip()
    if not plain_body:
        problems.insert(0, messages.NEWSLETTER_PROBLEM_EMPTY)
    html = f"{body}\n\n{messages.NEWSLETTER_FOOTER}"
    footer_plain = _plain(messages.NEWSLETTER_FOOTER)
    length = _utf16_len(plain_body) + 2 + _utf16_len(footer_plain)
    if length > MAX_MESSAGE_CHARS:
        problems.append(
            messages.NEWSLETTER_PROBLEM_TOO_LONG.format(
                length=length, limit=MAX_MESSAGE_CHARS, over=length - MAX_MESSAGE_CHARS
            )
        )
    return Composed(html=html, problems=tuple(problems), length=length)


def _plain(html: str) -> str:
    parser = _TelegramHtml()
    parser.feed(html)
    parser.close()
    return "".join(parser.plain)


def plain_text(html: str) -> str:
    """What a reader sees of a newsletter (for terminals and logs-free previews)."""
    return _plain(html)


# --------------------------------------------------------------------------------------------
# What the admin sees
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the transport does for an admin: send ``letter`` (the newsletter, exactly as
    subscribers get it) if there is one, then ``reply``, as a new message or, with ``edit``,
    in place of the message whose button was pressed."""

    reply: Reply
    letter: str | None = None
    edit: bool = False


def _text(*lines: str, rows: tuple[tuple[Action, ...], ...] = (), tag: str = "") -> Reply:
    blocks = tuple(Block(BlockKind.TEXT, line) for line in lines if line)
    return Reply(blocks, rows, tags=frozenset({tag} if tag else ()))


def _count_lines(counts: Counts, *, final: bool) -> str:
    lines = [
        messages.NEWSLETTER_COUNT_SENT.format(sent=counts.sent, total=counts.total),
    ]
    if not final:
        lines.append(messages.NEWSLETTER_COUNT_LEFT.format(left=counts.left))
    lines.append(messages.NEWSLETTER_COUNT_BLOCKED.format(blocked=counts.blocked))
    if counts.failed:
        lines.append(messages.NEWSLETTER_COUNT_FAILED.format(failed=counts.failed))
    if counts.cancelled:
        lines.append(messages.NEWSLETTER_COUNT_CANCELLED.format(cancelled=counts.cancelled))
    if counts.unknown:
        lines.append(messages.NEWSLETTER_COUNT_UNKNOWN.format(unknown=counts.unknown))
    return "\n".join(lines)


def progress_reply(broadcast: Broadcast, counts: Counts, *, paused: bool = False) -> Reply:
    """The admin's progress message while a broadcast is being sent (with **Avbryt**)."""
    if broadcast.status is BroadcastStatus.CANCELLED:
        return _text(
            messages.NEWSLETTER_STOPPING, _count_lines(counts, final=False), tag="stopping"
        )
    cancel = Action(Do.BROADCAST_CANCEL, messages.BUTTON_NEWSLETTER_CANCEL, arg=str(broadcast.id))
    return _text(
        messages.NEWSLETTER_SENDING,
        _count_lines(counts, final=False),
        messages.NEWSLETTER_PAUSED if paused else "",
        rows=((cancel,),),
        tag="progress",
    )


def finished_reply(broadcast: Broadcast, counts: Counts) -> Reply:
    """The progress message's last state: no buttons."""
    head = (
        messages.NEWSLETTER_STOPPED
        if broadcast.status is BroadcastStatus.CANCELLED
        else messages.NEWSLETTER_DONE
    )
    return _text(head, _count_lines(counts, final=True), tag="finished")


def report_reply(broadcast: Broadcast, counts: Counts) -> Reply:
    """The final report, a new message; unknown ones get a button to resend them."""
    rows: tuple[tuple[Action, ...], ...] = ()
    explained = ""
    if counts.unknown:
        explained = messages.NEWSLETTER_UNKNOWN_EXPLAINED
        label = messages.BUTTON_NEWSLETTER_RESEND.format(count=counts.unknown)
        rows = ((Action(Do.BROADCAST_RESEND, label, arg=str(broadcast.id)),),)
    head = (
        messages.NEWSLETTER_STOPPED
        if broadcast.status is BroadcastStatus.CANCELLED
        else messages.NEWSLETTER_DONE
    )
    return _text(
        f"{messages.NEWSLETTER_REPORT} {head}",
        _count_lines(counts, final=True),
        explained,
        rows=rows,
        tag="report",
    )


def preview_reply(broadcast_id: int, recipients: int) -> Reply:
    """Under the preview: how many get it, and Send / Send test til meg / Avbryt."""
    test = Action(Do.BROADCAST_TEST, messages.BUTTON_NEWSLETTER_TEST, arg=str(broadcast_id))
    cancel = Action(Do.BROADCAST_CANCEL, messages.BUTTON_NEWSLETTER_CANCEL, arg=str(broadcast_id))
    if recipients == 0:
        return _text(
            messages.NEWSLETTER_PREVIEW,
            messages.NEWSLETTER_NO_RECIPIENTS,
            rows=((test,), (cancel,)),
            tag="preview",
        )
    send = Action(Do.BROADCAST_SEND, messages.BUTTON_NEWSLETTER_SEND, arg=str(broadcast_id))
    noun = "abonnent" if recipients == 1 else "abonnenter"
    return _text(
        messages.NEWSLETTER_PREVIEW,
        messages.NEWSLETTER_RECIPIENTS.format(count=recipients, noun=noun),
        rows=((send,), (test,), (cancel,)),
        tag="preview",
    )


class Newsletter:
    """The admins' side of `/kringkast`. Every method returns None for anyone who is not an
    admin in a private chat: the transport then answers as it answers anything unknown."""

    def __init__(self, outbox: Outbox, is_admin: Callable[[Person], bool]) -> None:
        self.outbox = outbox
        self.is_admin = is_admin  # the one admin gate (bot.admin.Admin.is_admin)
        # called when a broadcast starts, so a sender in this process begins at once
        self.on_start: Callable[[], None] = lambda: None

    async def command(self, person: Person, text: str) -> Answer | None:
        """`/kringkast <tekst>`: check it, store a draft, show the preview."""
        if not self.is_admin(person):
            return None
        try:
            return await self._command(text)
        except StorageError as exc:
            log.warning("newsletter: %s", exc)
            return Answer(_text(messages.STORAGE_DOWN, tag="error"))

    async def _command(self, text: str) -> Answer:
        if not text.strip():
            return Answer(_text(messages.NEWSLETTER_USAGE, tag="usage"))
        composed = compose(text)
        if not composed.ok:
            problems = "\n".join(f"• {p}" for p in composed.problems)
            return Answer(
                _text(
                    messages.NEWSLETTER_INVALID,
                    problems,
                    messages.NEWSLETTER_RESUBMIT,
                    tag="invalid",
                )
            )
        draft = await self.outbox.draft(composed.html)
        recipients = await self.outbox.recipients()
        return Answer(preview_reply(draft.id, recipients), letter=composed.html)

    async def press(
        self, person: Person, data: str | None, where: tuple[int, int] | None = None
    ) -> Answer | None:
        """An admin's button (data as `Action.encode` made it). ``where`` is (chat id,
        message id) of the message it was on, which becomes the progress message."""
        if not self.is_admin(person):
            return None
        parsed = Action.decode(data)
        if parsed is None or parsed[0] not in NEWSLETTER_ACTIONS or parsed[1] is None:
            return None
        try:
            return await self._press(parsed[0], int(parsed[1]), where)
        except StorageError as exc:
            log.warning("newsletter: %s", exc)
            return Answer(_text(messages.STORAGE_DOWN, tag="error"))

    async def _press(self, do: Do, number: int, where: tuple[int, int] | None) -> Answer:
        if do is Do.BROADCAST_TEST:
            draft = await self.outbox.get(number)
            if draft is None:
                return Answer(_text(messages.NEWSLETTER_NOT_FOUND, tag="not-found"))
            if draft.status is not BroadcastStatus.DRAFT:
                return Answer(_text(messages.NEWSLETTER_ALREADY, tag="already"))
            recipients = await self.outbox.recipients()
            return Answer(preview_reply(draft.id, recipients), letter=draft.html)
        if do is Do.BROADCAST_SEND or do is Do.BROADCAST_RESEND:
            if do is Do.BROADCAST_SEND:
                started = await self.outbox.start(number, where)
            else:
                started = await self.outbox.resend_unknown(number, where)
            return await self._started(number, started, resend=do is Do.BROADCAST_RESEND)
        if do is Do.BROADCAST_CANCEL:
            cancelled = await self.outbox.cancel(number)
            if cancelled is Cancelled.DRAFT:
                return Answer(_text(messages.NEWSLETTER_DISCARDED, tag="discarded"), edit=True)
            if cancelled is Cancelled.STOPPED:
                self.on_start()  # wakes the sender, which finishes and reports
                broadcast = await self.outbox.get(number)
                assert broadcast is not None
                counts = await self.outbox.counts(number)
                return Answer(progress_reply(broadcast, counts), edit=True)
            if cancelled is Cancelled.NOT_FOUND:
                return Answer(_text(messages.NEWSLETTER_NOT_FOUND, tag="not-found"))
            return Answer(_text(messages.NEWSLETTER_ALREADY, tag="already"))
        raise ValueError(f"not a newsletter action: {do}")  # pragma: no cover

    async def _started(self, number: int, started: Started, *, resend: bool) -> Answer:
        if started is Started.STARTED:
            self.on_start()
            broadcast = await self.outbox.get(number)
            assert broadcast is not None
            counts = await self.outbox.counts(number)
            return Answer(progress_reply(broadcast, counts), edit=True)
        if started is Started.BUSY:
            return Answer(_text(messages.NEWSLETTER_BUSY, tag="busy"))
        if started is Started.NOT_FOUND:
            return Answer(_text(messages.NEWSLETTER_NOT_FOUND, tag="not-found"))
        if started is Started.NOTHING:
            text = (
                messages.NEWSLETTER_NOTHING_TO_RESEND
                if resend
                else messages.NEWSLETTER_NO_RECIPIENTS
            )
            return Answer(_text(text, tag="nothing"))
        current = await self.outbox.get(number)
        if current is not None and current.status is BroadcastStatus.SENDING:
            return Answer(_text(messages.NEWSLETTER_IN_PROGRESS, tag="already"))
        if current is not None and not current.started:  # a draft replaced or discarded
            return Answer(_text(messages.NEWSLETTER_REPLACED, tag="already"))
        return Answer(_text(messages.NEWSLETTER_ALREADY, tag="already"))


# --------------------------------------------------------------------------------------------
# The pace: Telegram's limit, measured
# --------------------------------------------------------------------------------------------


class Pace:
    """At most ``per_second`` messages in any one-second window, counted from what this process
    really sends: voters' replies are noted as they go out (`note`, never delayed) and the
    newsletter waits for the room they leave (`acquire`), spaced evenly rather than in bursts.
    A 429 from Telegram pauses every newsletter message (`pause`); 429s that keep coming lower
    the pace by one message per second each time, and each quiet ten seconds give one back, up
    to the configured pace."""

    WINDOW: Final = 1.0
    RECOVER_AFTER: Final = 10.0

    def __init__(
        self,
        per_second: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        self.ceiling = per_second
        self.per_second = per_second
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._last = float("-inf")
        self._paused_until = float("-inf")
        self._last_pause = float("-inf")
        self._lock = asyncio.Lock()

    def note(self) -> None:
        """A message went out that did not wait for the pace (a voter's reply)."""
        self._sent.append(self._clock())

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nobody in the outbox sends before then."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + max(seconds, 0.0))
        since = now - self._last_pause
        # a lone 429 is jitter (messages bunched up on the way): the pause is enough. Another
        # episode soon after means the pace is too fast for this Telegram: one step down.
        if self.WINDOW < since <= self.RECOVER_AFTER:
            self.per_second = max(1, self.per_second - 1)
        if since > self.WINDOW:
            self._last_pause = now

    @property
    def paused(self) -> bool:
        return self._clock() < self._paused_until

    def measured(self) -> int:
        """Messages sent in the last second."""
        self._forget(self._clock())
        return len(self._sent)

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.WINDOW:
            self._sent.popleft()

    async def acquire(self) -> None:
        """Wait until one more message keeps the pace, and count it."""
        async with self._lock:  # one waiter at a time: first come, first served
            while True:
                now = self._clock()
                if self.per_second < self.ceiling and now - self._last_pause > self.RECOVER_AFTER:
                    self.per_second += 1
                    self._last_pause = now
                wait = self._paused_until - now
                self._forget(now)
                if len(self._sent) >= self.per_second:
                    wait = max(wait, self._sent[0] + self.WINDOW - now)
                wait = max(wait, self._last + 1.0 / self.per_second - now)
                if wait <= 0:
                    self._sent.append(now)
                    self._last = now
                    return
                await self._sleep(wait)


# --------------------------------------------------------------------------------------------
# The worker
# --------------------------------------------------------------------------------------------


class Delivery(enum.Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot
    FAILED = "failed"  # refused for good (e.g. the chat no longer exists)
    UNKNOWN = "unknown"  # may or may not have arrived (a timeout after sending)
    RETRY = "retry"  # certainly not delivered; try again after ``retry_after`` seconds


_ROW_STATUS: Final = {
    Delivery.SENT: RowStatus.SENT,
    Delivery.BLOCKED: RowStatus.BLOCKED,
    Delivery.FAILED: RowStatus.FAILED,
    Delivery.UNKNOWN: RowStatus.UNKNOWN,
}


@dataclass(frozen=True)
class Outcome:
    delivery: Delivery
    retry_after: float = 0.0
    error: str | None = None


class Sender(Protocol):
    """The transport: deliver a newsletter, and show the admin how it goes."""

    async def deliver(self, chat_id: int, html: str) -> Outcome: ...

    async def show(self, chat_id: int, message_id: int, reply: Reply) -> None:
        """Replace the progress message's text and buttons (no change is not an error)."""

    async def post(self, chat_id: int, reply: Reply) -> None:
        """Send a new message (the final report)."""


@dataclass
class _Shown:
    text: str = ""
    at: float = float("-inf")
    done: bool = False


@dataclass
class Progress:
    """Handed to a watcher (the command line's progress bar) as sending goes on."""

    broadcast: Broadcast
    counts: Counts
    paused: bool = False
    finished: bool = False


class OutboxWorker:
    """Sends the active broadcast, one claimed row at a time per lane, at the pace allowed.

    Only the holder of the `SenderLock` sends; others wait for it (and take over when its
    process dies). On taking over, rows left ``sending`` become ``unknown`` and are not sent
    again; everything still pending is sent. Stopping (`stop`) lets messages in flight finish.
    """

    LOCK_RETRY_SECONDS: Final = 2.0
    ERROR_BACKOFF_SECONDS: Final = 2.0
    STOP_GRACE_SECONDS: Final = 10.0

    def __init__(
        self,
        outbox: Outbox,
        lock: SenderLock,
        sender: Sender,
        pace: Pace,
        *,
        concurrency: int = 4,
        progress_seconds: float = 3.0,
        poll_seconds: float = 1.0,
        watch: Callable[[Progress], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.lock = lock
        self.sender = sender
        self.pace = pace
        self.concurrency = concurrency
        self.progress_seconds = progress_seconds
        self.poll_seconds = poll_seconds
        self.watch = watch
        self.leader = False
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        """Run in the background (the bot); `stop` ends it."""
        self._task = asyncio.create_task(self.run(), name="newsletter-sender")

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.STOP_GRACE_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.lock.release()
        self.leader = False

    async def run(self, until: int | None = None) -> None:
        """Send whatever is in the outbox until stopped; with ``until``, return once that
        broadcast has ended and been reported (whoever sent it)."""
        while not self._stopping:
            try:
                if await self._lead():
                    active = await self.outbox.active()
                    if active is not None:
                        await self._send(active)
                    for ended in await self.outbox.unreported():
                        await self._report(ended)
                if until is not None and await self._ended(until):
                    return
            except StorageError as exc:
                log.warning("newsletter sender: %s", exc)
                await self._idle(self.ERROR_BACKOFF_SECONDS)
                continue
            except Exception:  # a bug must not end the sender for good: log it, go on
                log.exception("newsletter sender failed; trying again")
                await self._idle(self.ERROR_BACKOFF_SECONDS)
                continue
            await self._idle(self.poll_seconds if self.leader else self.LOCK_RETRY_SECONDS)

    async def _lead(self) -> bool:
        if self.leader and await self.lock.held():
            return True
        self.leader = await self.lock.try_acquire()
        if self.leader:
            recovered = await self.outbox.recover()
            if recovered:
                log.warning(
                    "%d newsletter message(s) were in flight when the previous sender stopped; "
                    "marked unknown, not sent again",
                    recovered,
                )
            log.info("this process sends the newsletters")
        return self.leader

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    def _tell(self, progress: Progress) -> None:
        """Show the watcher how far it is; a display that fails never stops the sending."""
        if self.watch is None:
            return
        try:
            self.watch(progress)
        except Exception:
            log.warning("newsletter progress display failed", exc_info=True)

    async def _ended(self, broadcast_id: int) -> bool:
        broadcast = await self.outbox.get(broadcast_id)
        if broadcast is None:
            return True
        if self.watch is not None and not self.leader and broadcast.started:
            # someone else sends it: show how far they are
            counts = await self.outbox.counts(broadcast_id)
            self._tell(Progress(broadcast, counts, finished=broadcast.reported))
        return broadcast.status in (BroadcastStatus.DONE, BroadcastStatus.CANCELLED) and (
            broadcast.reported or not broadcast.started
        )

    # --- sending -----------------------------------------------------------------------------

    async def _send(self, broadcast: Broadcast) -> None:
        log.info("sending newsletter %d", broadcast.id)
        shown = _Shown()
        lanes = [
            asyncio.create_task(self._lane(broadcast), name=f"newsletter-lane-{i}")
            for i in range(self.concurrency)
        ]
        sent = asyncio.Event()
        progress = asyncio.create_task(
            self._progress(broadcast, shown, sent), name="newsletter-progress"
        )
        try:
            results = await asyncio.gather(*lanes, return_exceptions=True)
        finally:
            # told, not cancelled: a unit of work cancelled halfway can leave the database's
            # connection in the middle of a transaction
            sent.set()
            await progress
        for result in results:
            if isinstance(result, StorageError):
                raise result
            if isinstance(result, Exception):
                log.error("newsletter lane failed", exc_info=result)
        if not self._stopping and await self.outbox.complete(broadcast.id):
            log.info("newsletter %d sent", broadcast.id)

    async def _lane(self, broadcast: Broadcast) -> None:
        done: Finished | None = None  # the previous row's outcome, recorded with the next claim
        try:
            while not self._stopping and await self.lock.held():
                row = await self.outbox.claim(broadcast.id, done)
                done = None
                if row is None:
                    return
                # the row is claimed first and the pace waited for after: the database's
                # latency then never sits between the pace's go and the request, where it would
                # bunch messages up at Telegram. At most `concurrency` rows wait like this.
                try:
                    await self.pace.acquire()
                except asyncio.CancelledError:
                    await asyncio.shield(self.outbox.release(row.id))  # certainly not sent
                    raise
                if self._stopping:
                    await self.outbox.release(row.id)
                    return
                done = await self._deliver(broadcast, row)
        finally:
            if done is not None:
                await self._record(done)

    async def _deliver(self, broadcast: Broadcast, row: Claimed) -> Finished | None:
        """Send one row; its outcome, or None if it was given back unsent."""
        while True:
            try:
                outcome = await self.sender.deliver(row.chat_id, broadcast.html)
            except asyncio.CancelledError:
                raise  # in flight: left "sending", so it becomes "unknown"
            except Exception as exc:  # a bug in the transport must not stop the broadcast
                log.exception("newsletter delivery failed unexpectedly")
                outcome = Outcome(Delivery.UNKNOWN, error=type(exc).__name__)
            if outcome.delivery is not Delivery.RETRY:
                return Finished(row, _ROW_STATUS[outcome.delivery], outcome.error)
            # certainly not delivered: wait as told, then the same row again
            self.pace.pause(outcome.retry_after)
            if self._stopping:
                await self.outbox.release(row.id)
                return None
            try:
                await self.pace.acquire()
            except asyncio.CancelledError:
                await asyncio.shield(self.outbox.release(row.id))
                raise

    async def _record(self, done: Finished) -> None:
        for attempt in range(3):
            try:
                await asyncio.shield(self.outbox.finish(done))
                return
            except StorageError as exc:
                # left "sending", the row would become "unknown": never sent twice
                log.warning("newsletter delivery not recorded (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.5 * (attempt + 1))

    async def _progress(self, broadcast: Broadcast, shown: _Shown, sent: asyncio.Event) -> None:
        while not sent.is_set():
            with contextlib.suppress(StorageError):
                await self._show_progress(broadcast, shown)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sent.wait(), self.progress_seconds)

    async def _show_progress(self, broadcast: Broadcast, shown: _Shown) -> None:
        current = await self.outbox.get(broadcast.id) or broadcast
        counts = await self.outbox.counts(broadcast.id)
        paused = self.pace.paused
        self._tell(Progress(current, counts, paused=paused))
        if current.progress_chat_id is None or current.progress_message_id is None:
            return
        reply = progress_reply(current, counts, paused=paused)
        if reply.text == shown.text:
            return  # nothing new: Telegram would answer "message is not modified"
        await self.sender.show(current.progress_chat_id, current.progress_message_id, reply)
        shown.text = reply.text

    async def _report(self, broadcast: Broadcast) -> None:
        counts = await self.outbox.counts(broadcast.id)
        self._tell(Progress(broadcast, counts, finished=True))
        chat, message = broadcast.progress_chat_id, broadcast.progress_message_id
        if chat is not None:
            if message is not None:
                await self.sender.show(chat, message, finished_reply(broadcast, counts))
            await self.sender.post(chat, report_reply(broadcast, counts))
        await self.outbox.mark_reported(broadcast.id)
        log.info(
            "newsletter %d ended (%s): %d sent, %d blocked, %d failed, %d unknown, %d cancelled",
            broadcast.id,
            broadcast.status.value,
            counts.sent,
            counts.blocked,
            counts.failed,
            counts.unknown,
            counts.cancelled,
        )
