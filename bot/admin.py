"""The admins' side: who is an admin, the admin command table, and the gate every admin action
passes.

Admins are the Telegram user ids in the config's `admins`, in a private chat. Everything an admin
can do is declared in the two tables below, and nowhere else: `ADMIN_COMMANDS` (name, the
description the admins' command menu shows, the handler) and `ADMIN_BUTTONS` (a button's action,
see `bot.reply.ADMIN_ACTIONS`, and its handler). A new admin command is one more entry. Every
command and every button press goes through `Admin.command` / `Admin.press`, which check the
person first: anyone else gets exactly the reply to an unknown command or an unknown button
(callback data can be forged).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot import messages
from bot.dialogue import COMMANDS, Person
from bot.knowledge import KnowledgeBase, Problem
from bot.reply import NEWSLETTER_ACTIONS, Action, Block, BlockKind, Do, Reply

if TYPE_CHECKING:
    from bot.services import ReloadResult, Services


@dataclass(frozen=True)
class AdminRequest:
    """One admin action: who, and the command's text or the button's argument ("" if none)."""

    services: Services
    person: Person
    arg: str = ""
    action: Action | None = None  # the pressed button's action (None for a command)


AdminHandler = Callable[[AdminRequest], Awaitable[Reply]]


@dataclass(frozen=True)
class AdminCommand:
    name: str
    description: str  # shown in the admins' command menu
    run: AdminHandler


async def _newsletter(req: AdminRequest) -> Reply:
    """/kringkast and its buttons without Telegram (the console chat): the same core, the
    letter shown as text above the reply. On Telegram, handlers/broadcast.py sends the letter
    as its own message and edits the progress message in place."""
    newsletter = req.services.newsletter
    if newsletter is None:
        return Reply((Block(BlockKind.TEXT, messages.STORAGE_DOWN),), tags=frozenset({"error"}))
    if req.action is None:
        answer = await newsletter.command(req.person, req.arg)
    else:
        answer = await newsletter.press(req.person, req.action.encode())
    if answer is None:  # pragma: no cover - the gate above already let only admins in
        return Reply((Block(BlockKind.TEXT, messages.UNKNOWN_BUTTON),))
    if answer.letter is None:
        return answer.reply
    letter = Block(BlockKind.TEXT, answer.letter)
    return dataclasses.replace(answer.reply, blocks=(letter, *answer.reply.blocks))


async def _reload(req: AdminRequest) -> Reply:
    result = await req.services.reload_knowledge()
    return Reply(tuple(Block(BlockKind.TEXT, t) for t in reload_report(result)))


def _commands() -> tuple[AdminCommand, ...]:
    from bot import inbox, statistics

    return (
        AdminCommand("oppdater", messages.ADMIN_DESCRIBE_RELOAD, _reload),
        AdminCommand("statistikk", messages.ADMIN_DESCRIBE_STATS, statistics.stats_command),
        AdminCommand("ubesvarte", messages.ADMIN_DESCRIBE_INBOX, inbox.inbox_command),
        AdminCommand("kringkast", messages.ADMIN_DESCRIBE_BROADCAST, _newsletter),
    )


def _buttons() -> dict[Do, AdminHandler]:
    from bot import inbox

    return {
        Do.INBOX: inbox.show,
        Do.LEARN: inbox.learn,
        Do.PICK_TOPIC: inbox.pick_topic,
        Do.NOT_OURS: inbox.not_ours,
        Do.IGNORE: inbox.ignore,
        **dict.fromkeys(NEWSLETTER_ACTIONS, _newsletter),
    }


ADMIN_COMMANDS: tuple[AdminCommand, ...] = _commands()
ADMIN_BUTTONS: dict[Do, AdminHandler] = _buttons()
ADMIN_COMMAND_NAMES: tuple[str, ...] = tuple(c.name for c in ADMIN_COMMANDS)
_BY_NAME = {c.name: c for c in ADMIN_COMMANDS}


class Admin:
    def __init__(self, services: Services, admins: Iterable[int]) -> None:
        self.services = services
        self.admins = frozenset(admins)

    def is_admin(self, person: Person | None) -> bool:
        """An admin, in a private chat: the check every admin action passes."""
        return person is not None and person.private and person.user_id in self.admins

    async def command(self, person: Person, name: str, arg: str = "") -> Reply:
        entry = _BY_NAME.get(name.lower())
        if entry is None or not self.is_admin(person):
            # exactly what anyone gets for a command the bot does not know
            return await self.services.dialogue.command(person, name, arg)
        # what an admin reads includes everything this process was asked until now: the
        # questions and counters still being written off the voters' reply path
        await self.services.dialogue.drain()
        return await entry.run(AdminRequest(self.services, person, arg.strip()))

    async def press(self, person: Person, data: str | None) -> Reply:
        parsed = Action.decode(data)
        handler = ADMIN_BUTTONS.get(parsed[0]) if parsed is not None else None
        if parsed is None or handler is None or not self.is_admin(person):
            # exactly what anyone gets for a button the bot does not know
            return await self.services.dialogue.press(person, None)
        await self.services.dialogue.drain()
        action = Action(parsed[0], "", arg=parsed[1])
        return await handler(AdminRequest(self.services, person, parsed[1] or "", action))

    def start_note(self, person: Person) -> str | None:
        """What /start adds for an admin: the admin commands."""
        if not self.is_admin(person):
            return None
        lines = "\n".join(f"/{c.name} – {c.description}" for c in ADMIN_COMMANDS)
        return messages.ADMIN_START_NOTE.format(commands=lines)

    @staticmethod
    def command_menu() -> list[tuple[str, str]]:
        """The command menu an admin's chat shows: the voters' commands, then the admins'."""
        return [*COMMANDS.items(), *((c.name, c.description) for c in ADMIN_COMMANDS)]


# --- /oppdater: the report --------------------------------------------------------------------


def problem_text(problem: Problem) -> str:
    """A loader problem as the admins read it: file (its name), line, field, what to do."""
    file = Path(problem.file).name if problem.file else "?"
    return messages.RELOAD_PROBLEM.format(problem=problem.text(file))


MAX_PROBLEMS_SHOWN = 15


def problems_text(problems: list[Problem]) -> str:
    lines = [problem_text(p) for p in problems[:MAX_PROBLEMS_SHOWN]]
    if len(problems) > MAX_PROBLEMS_SHOWN:
        lines.append(messages.RELOAD_MORE_PROBLEMS.format(count=len(problems) - MAX_PROBLEMS_SHOWN))
    return "\n".join(lines)


def _title(kb: KnowledgeBase, topic_id: str) -> str:
    topic = kb.topic(topic_id)
    return topic.title if topic else topic_id


def _titles(kb: KnowledgeBase, topic_ids: tuple[str, ...]) -> str:
    return ", ".join(f"«{_title(kb, t)}»" for t in topic_ids)


def selftest_text(result: ReloadResult) -> str:
    test = result.selftest
    if test is None:
        return ""
    kb = result.kb
    warnings = [messages.SELFTEST_WARNING.format(warning=w) for w in test.warnings]
    warnings = warnings[:MAX_PROBLEMS_SHOWN]
    if test.uncertain:
        shown = test.uncertain[:MAX_PROBLEMS_SHOWN]
        warnings[:0] = [
            messages.SELFTEST_UNCERTAIN.format(count=len(test.uncertain)),
            *(
                messages.SELFTEST_UNCERTAIN_ITEM.format(
                    example=u.example, topic=_title(kb, u.topic_id), choices=_titles(kb, u.choices)
                )
                for u in shown
            ),
        ]
    if test.ok:
        return "\n".join([messages.SELFTEST_OK.format(total=test.examples), *warnings])
    lines = [messages.SELFTEST_MISSES.format(passed=test.passed, total=test.examples)]
    for miss in test.misses[:MAX_PROBLEMS_SHOWN]:
        landed_topic = kb.topic(miss.landed) if miss.landed else None
        topic = kb.topic(miss.topic_id)
        lines.append(
            messages.SELFTEST_MISS.format(
                example=miss.example,
                topic=topic.title if topic else miss.topic_id,
                landed=f"«{landed_topic.title}»" if landed_topic else messages.SELFTEST_NOWHERE,
            )
        )
    return "\n".join([*lines, *warnings])


def reload_report(result: ReloadResult, *, automatic: bool = False) -> list[str]:
    """The paragraphs of the reply to /oppdater (or of the note after an automatic reload)."""
    if not result.ok:
        head = messages.RELOAD_AUTO_FAILED if automatic else messages.RELOAD_FAILED
        return [head, problems_text(result.problems)]
    kb = result.kb
    out = [messages.RELOAD_AUTO] if automatic else []
    out.append(messages.RELOAD_DONE.format(topics=len(kb.topics), files=len(kb.files)))
    diff = result.diff
    changes = []
    if diff is not None:

        def titles(topics: Iterable[object]) -> str:
            return ", ".join(f"«{getattr(t, 'title', t)}»" for t in topics)

        if diff.added:
            changes.append(messages.RELOAD_ADDED.format(titles=titles(diff.added)))
        if diff.removed:
            changes.append(messages.RELOAD_REMOVED.format(titles=titles(diff.removed)))
        if diff.changed:
            changes.append(messages.RELOAD_CHANGED.format(titles=titles(diff.changed)))
        if diff.examples_added:
            changes.append(messages.RELOAD_EXAMPLES.format(count=diff.examples_added))
        if diff.not_ours_added:
            changes.append(messages.RELOAD_NOT_OURS.format(count=diff.not_ours_added))
    out.append("\n".join(changes) if changes else messages.RELOAD_NO_CHANGE)
    out.append(selftest_text(result))
    return [p for p in out if p]


# --- errors reach the admins ------------------------------------------------------------------


class ErrorReports:
    """Short error reports for the admins, at most `per_hour` an hour.

    A report names the kind of error, where in the code it happened and what kind of update was
    being handled: never the error's message (it may quote a voter's text), never the token or the
    secret."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._sent: deque[float] = deque()
        self._suppressed = 0

    def report(self, error: BaseException, update_kind: str) -> str | None:
        now = self._clock()
        while self._sent and now - self._sent[0] >= 3600:
            self._sent.popleft()
        if len(self._sent) >= self.per_hour:
            self._suppressed += 1
            return None
        self._sent.append(now)
        frames = traceback.extract_tb(error.__traceback__)
        own = [f for f in frames if "/bot/" in f.filename or "/handlers/" in f.filename]
        frame = (own or frames)[-1] if frames else None
        where = f"{Path(frame.filename).name}:{frame.lineno} ({frame.name})" if frame else "?"
        text = messages.ERROR_REPORT.format(
            error=type(error).__name__, where=where, update=update_kind
        )
        if self._suppressed:
            text += messages.ERROR_REPORT_SUPPRESSED.format(count=self._suppressed)
            self._suppressed = 0
        return text
