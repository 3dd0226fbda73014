"""/ubesvarte and `distriktsbot unanswered`/`learn`: the bot learns from its misses.

Questions the bot could not answer (and those it answered with "Mente du …?") are sorted into
groups of near-duplicates (rapidfuzz over the folded text); a group is stored, so its short id can
ride on a button. The inbox lists the open groups, most asked first, and shows one at a time with
the matcher's best guesses as buttons: a guessed topic (adds the question to that topic's
examples), "Annet emne…" (any topic), "Ikke vår politikk" (the area's out_of_scope examples) and
"Ignorer". A handled group leaves the inbox.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rapidfuzz import fuzz, process

from bot import messages
from bot.knowledge import KnowledgeBase, Topic
from bot.matcher import Matcher
from bot.normalize import words
from bot.reply import Action, Block, BlockKind, Do, Reply
from bot.storage import GroupState, LoggedQuestion, Missed, Storage, StorageError
from bot.writeback import WriteError, Written

if TYPE_CHECKING:
    from bot.admin import AdminRequest
    from bot.services import ReloadResult, Services

SIMILARITY = 85  # token_sort_ratio over the folded words: this close is "the same question"
MAX_LISTED = 10
MAX_GUESSES = 3


@dataclass(frozen=True)
class Group:
    id: int
    text: str  # the wording asked most often (the latest among equals)
    count: int
    wordings: int
    ambiguous: int  # how many got "Mente du …?"
    last_asked: datetime

    @property
    def key(self) -> str:
        return encode_group(self.id)


def encode_group(group_id: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    n = group_id
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def decode_group(key: str) -> int | None:
    try:
        return int(key, 36)
    except ValueError:
        return None


def words_key(text: str) -> str:
    return " ".join(words(text))


async def open_groups(storage: Storage) -> list[Group]:
    """Sort new questions into groups (stored), then list the open groups, most asked first."""
    questions = await storage.unanswered.open_questions()
    members: dict[int, list[LoggedQuestion]] = defaultdict(list)
    loose: list[LoggedQuestion] = []
    for q in questions:
        (members[q.group_id] if q.group_id is not None else loose).append(q)
    if loose:
        # one representative key per distinct wording of each open group
        choices: dict[str, int] = {}
        for gid, qs in members.items():
            for q in qs:
                choices.setdefault(words_key(q.text), gid)
        new_groups: list[list[LoggedQuestion]] = []
        new_keys: dict[str, int] = {}  # key -> index in new_groups
        joins: dict[int, list[int]] = defaultdict(list)
        for q in loose:
            key = words_key(q.text)
            found = _closest(key, choices)
            if found is not None:
                joins[found].append(q.id)
                members[found].append(q)
                continue
            near = _closest(key, new_keys)
            if near is None:
                new_keys[key] = len(new_groups)
                new_groups.append([q])
            else:
                new_groups[near].append(q)
        created = await storage.unanswered.assign([[q.id for q in g] for g in new_groups], joins)
        for gid, qs in zip(created, new_groups, strict=True):
            members[gid] = qs
    groups = [_summary(gid, qs) for gid, qs in members.items() if qs]
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp(), g.id))
    return groups


def _closest(key: str, choices: dict[str, int]) -> int | None:
    if not choices or not key:
        return choices.get(key) if key else None
    if key in choices:
        return choices[key]
    best = process.extractOne(
        key, list(choices), scorer=fuzz.token_sort_ratio, score_cutoff=SIMILARITY
    )
    return choices[best[0]] if best is not None else None


def _summary(group_id: int, qs: list[LoggedQuestion]) -> Group:
    counts = Counter(q.text for q in qs)
    latest = {q.text: q.created_at for q in qs}
    # the most asked wording; among equals, one written as a question ("Blir …?"), then the latest
    text = max(counts, key=lambda t: (counts[t], t[:1].isupper() + t.endswith("?"), latest[t]))
    return Group(
        id=group_id,
        text=text,
        count=len(qs),
        wordings=len(counts),
        ambiguous=sum(1 for q in qs if q.kind is Missed.AMBIGUOUS),
        last_asked=max(q.created_at for q in qs),
    )


def guesses(kb: KnowledgeBase, matcher: Matcher, text: str, n: int = MAX_GUESSES) -> list[Topic]:
    """The matcher's best guesses for a question it could not answer: the topics it scores
    highest, even under the threshold for an answer."""
    m = matcher.match(text)
    ids = list(m.candidates)
    if len(ids) < n:
        _, ranks, _, _ = matcher.scores(text)
        ranked = heapq.nlargest(n + 1, ranks.items(), key=lambda kv: (kv[1], -kv[0]))
        for ti, score in ranked:
            if score <= 0 or ti >= len(matcher.topic_ids):
                continue
            tid = matcher.topic_ids[ti]
            if tid not in ids:
                ids.append(tid)
    return [t for t in (kb.topic(i) for i in ids[:n]) if t is not None]


# --- the replies ------------------------------------------------------------------------------


def _text(*paragraphs: str) -> tuple[Block, ...]:
    return tuple(Block(BlockKind.TEXT, p) for p in paragraphs if p)


def _times(count: int) -> str:
    return messages.plural(count, "gang", "ganger")


def _groups(count: int) -> str:
    return messages.plural(count, "gruppe", "grupper")


def overview(groups: list[Group]) -> str:
    if not groups:
        return messages.INBOX_EMPTY
    lines = [messages.INBOX_HEADER.format(groups=_groups(len(groups)))]
    for n, g in enumerate(groups[:MAX_LISTED], 1):
        similar = (
            messages.INBOX_SIMILAR.format(
                count=messages.plural(
                    g.wordings - 1, "lignende formulering", "lignende formuleringer"
                )
            )
            if g.wordings > 1
            else ""
        )
        ambiguous = messages.INBOX_AMBIGUOUS if g.ambiguous else ""
        lines.append(
            messages.INBOX_LINE.format(
                n=n, text=g.text, count=_times(g.count), similar=similar, ambiguous=ambiguous
            )
        )
    if len(groups) > MAX_LISTED:
        lines.append(messages.INBOX_MORE.format(count=_groups(len(groups) - MAX_LISTED)))
    return "\n".join(lines)


def card(services: Services, group: Group, intro: tuple[str, ...] = ()) -> Reply:
    kb = services.kb
    found = guesses(kb, services.dialogue.matcher, group.text)
    last = f"{group.last_asked.day}.{group.last_asked.month}."
    ambiguous = f"\n{messages.INBOX_AMBIGUOUS.strip()}" if group.ambiguous else ""
    body = messages.INBOX_CARD.format(
        text=group.text, count=_times(group.count), last=last, ambiguous=ambiguous
    )
    rows: list[tuple[Action, ...]] = [
        (Action(Do.LEARN, t.title, arg=f"{group.key}:{t.id}"),) for t in found
    ]
    rows.append((Action(Do.PICK_TOPIC, messages.BUTTON_OTHER_TOPIC, arg=group.key),))
    rows.append(
        (
            Action(Do.NOT_OURS, messages.BUTTON_NOT_OURS, arg=group.key),
            Action(Do.IGNORE, messages.BUTTON_IGNORE, arg=group.key),
        )
    )
    hint = messages.INBOX_GUESSES if found else messages.INBOX_NO_GUESSES
    return Reply(_text(*intro, body, hint), tuple(rows), tags=frozenset({"inbox"}))


async def _next(services: Services, storage: Storage, intro: tuple[str, ...]) -> Reply:
    """After a decision: what was done, and the next group (or that the inbox is empty)."""
    groups = await open_groups(storage)
    if not groups:
        return Reply(_text(*intro, messages.INBOX_EMPTY), tags=frozenset({"inbox"}))
    remaining = messages.INBOX_REMAINING.format(count=_groups(len(groups)))
    return card(services, groups[0], (*intro, remaining, messages.INBOX_NEXT))


async def _group(storage: Storage, key: str) -> Group | None:
    gid = decode_group(key)
    if gid is None:
        return None
    return next((g for g in await open_groups(storage) if g.id == gid), None)


def _no_database() -> Reply:
    return Reply(_text(messages.STATS_NO_DATABASE))


def _gone() -> Reply:
    return Reply(
        _text(messages.INBOX_GONE),
        ((Action(Do.INBOX, messages.BUTTON_INBOX),),),
        tags=frozenset({"inbox"}),
    )


async def inbox_command(req: AdminRequest) -> Reply:
    storage = req.services.storage
    if storage is None:
        return _no_database()
    try:
        groups = await open_groups(storage)
    except StorageError:
        return _no_database()
    if not groups:
        return Reply(_text(messages.INBOX_EMPTY), tags=frozenset({"inbox"}))
    return card(req.services, groups[0], (overview(groups),))


async def show(req: AdminRequest) -> Reply:
    """The inbox ("uv") or one group of it ("uv:<group>")."""
    if not req.arg:
        return await inbox_command(req)
    storage = req.services.storage
    if storage is None:
        return _no_database()
    group = await _group(storage, req.arg)
    return card(req.services, group) if group is not None else _gone()


async def pick_topic(req: AdminRequest) -> Reply:
    picked = await _picked(req)
    if isinstance(picked, Reply):
        return picked
    _, group, _ = picked
    kb = req.services.kb
    rows: list[tuple[Action, ...]] = []
    for area in kb.areas:
        topics = [t for t in kb.topics if t.area_id == area.id]
        if len(kb.areas) > 1:
            label = messages.AREA_MENU_BUTTON.format(title=area.title)
            rows.append((Action(Do.PICK_TOPIC, label, arg=group.key),))
        rows.extend(
            tuple(Action(Do.LEARN, t.title, arg=f"{group.key}:{t.id}") for t in topics[i : i + 2])
            for i in range(0, len(topics), 2)
        )
    rows.append((Action(Do.INBOX, messages.BUTTON_BACK, arg=group.key),))
    return Reply(_text(messages.INBOX_PICK.format(text=group.text)), tuple(rows))


def _write_failed(exc: WriteError) -> Reply:
    from bot.admin import problems_text

    detail = problems_text(exc.problems) if exc.problems else ""
    return Reply(_text(str(exc), detail), tags=frozenset({"inbox"}))


def _landed(kb: KnowledgeBase, topic_id: str | None) -> str:
    topic = kb.topic(topic_id) if topic_id else None
    return f"«{topic.title}»" if topic else messages.SELFTEST_NOWHERE


def _selftest(result: ReloadResult) -> str:
    from bot.admin import reload_report, selftest_text

    if not result.ok:
        return "\n".join(reload_report(result))
    return selftest_text(result)


async def _picked(req: AdminRequest) -> tuple[Storage, Group, str] | Reply:
    """The inbox group a button names ("<group>[:<rest>]") and the rest of its argument; or the
    reply to give when there is no database or no such group (any more)."""
    storage = req.services.storage
    if storage is None:
        return _no_database()
    key, _, rest = req.arg.partition(":")
    group = await _group(storage, key)
    if group is None:
        return _gone()
    return storage, group, rest


async def learn(req: AdminRequest) -> Reply:
    """Add the group's question as an example to a topic ("ul:<group>:<topic id>")."""
    services, picked = req.services, await _picked(req)
    if isinstance(picked, Reply):
        return picked
    storage, group, topic_id = picked
    topic = services.kb.topic(topic_id)
    if topic is None:
        return _gone()
    try:
        written, result = await services.learn(topic.id, group.text)
    except WriteError as exc:
        return _write_failed(exc)
    await storage.unanswered.close_group(group.id, GroupState.LEARNED, topic.id)
    lines, _ = learned(services, topic, group.text, written, result)
    return await _next(services, storage, lines)


def learned(
    services: Services, topic: Topic, question: str, written: Written, result: ReloadResult
) -> tuple[tuple[str, str, str], bool]:
    """What an admin is told after adding `question` to `topic` (in Telegram and on the
    command line): what was written, where the question lands now, the self-test; and whether
    it lands where the admin put it."""
    kb = services.kb
    file = Path(written.file).name
    question = written.text or question
    done = (messages.INBOX_LEARNED if written.added else messages.INBOX_LEARNED_ALREADY).format(
        text=question, title=topic.title, file=file
    )
    m = services.dialogue.matcher.match(question)
    there = m.topic_id == topic.id and not m.ambiguous
    if there:
        lands = messages.INBOX_LANDS.format(title=topic.title)
    elif m.ambiguous and topic.id in m.candidates:
        choices = ", ".join(_landed(kb, c) for c in m.candidates[:3])
        lands = messages.INBOX_LANDS_UNCERTAIN.format(choices=choices, file=file)
    else:
        lands = messages.INBOX_LANDS_ELSEWHERE.format(
            landed=_landed(kb, m.topic_id), title=topic.title, file=file
        )
    return (done, lands, _selftest(result)), there


async def not_ours(req: AdminRequest) -> Reply:
    """Add the group's question to an area's out_of_scope examples ("ux:<group>[:<area>]")."""
    services, picked = req.services, await _picked(req)
    if isinstance(picked, Reply):
        return picked
    storage, group, area_id = picked
    kb = services.kb
    if not area_id:
        if len(kb.areas) > 1:
            rows = tuple(
                (Action(Do.NOT_OURS, a.title, arg=f"{group.key}:{a.id}"),) for a in kb.areas
            )
            back = ((Action(Do.INBOX, messages.BUTTON_BACK, arg=group.key),),)
            return Reply(_text(messages.INBOX_PICK_AREA.format(text=group.text)), rows + back)
        area_id = kb.areas[0].id
    area = next((a for a in kb.areas if a.id == area_id), None)
    if area is None:
        return _gone()
    try:
        written, result = await services.mark_not_ours(area.id, group.text)
    except WriteError as exc:
        return _write_failed(exc)
    await storage.unanswered.close_group(group.id, GroupState.NOT_OURS)
    done = messages.INBOX_NOT_OURS.format(
        text=written.text, area=area.title, file=Path(written.file).name
    )
    m = services.dialogue.matcher.match(written.text)
    if m.topic_id is None:
        now = messages.INBOX_DECLINED_NOW
    else:
        now = messages.INBOX_NOT_DECLINED.format(landed=_landed(services.kb, m.topic_id))
    return await _next(services, storage, (done, now, _selftest(result)))


async def ignore(req: AdminRequest) -> Reply:
    picked = await _picked(req)
    if isinstance(picked, Reply):
        return picked
    storage, group, _ = picked
    if not await storage.unanswered.close_group(group.id, GroupState.IGNORED):
        return _gone()
    return await _next(req.services, storage, (messages.INBOX_IGNORED.format(text=group.text),))
