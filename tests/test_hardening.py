"""Issue 9's eight breaks, each through the stand-in Bot API (with fault injection), in process.

The bot runs as `distriktsbot run` wires it (`handlers.app.running`: its own polling loop, the
update pipeline, the retrying Bot API calls) on SQLite under tmp_path. Each test acts as users
do and reads what the bot sent back and what it stored. The process-level cases (SIGKILL mid-
burst, the token on stderr, an unreachable Bot API, a read-only database) are in
tests/test_run_resilience.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import messages
from bot.config import Config, LimitsConfig
from bot.knowledge import KnowledgeBase
from bot.logs import configure_logging
from bot.storage import Storage
from handlers.app import running
from handlers.common import SERVICES
from handlers.polling import Poller
from tests.fake_telegram import HANG_UP, Call, FakeTelegram, SentMessage
from tests.test_telegram_e2e import (
    AGREE_THANKS,
    DISAGREE_THANKS,
    FERRY_QUESTION,
    STORAGE_DOWN_START,
    make_config,
    open_storage,
    restore_logging,  # noqa: F401 - a fixture
    text_of,
)

ROOT = Path(__file__).resolve().parent.parent


def config(fake: FakeTelegram, db_path: Path, **limits: Any) -> Config:
    cfg = make_config(fake, db_path)
    return dataclasses.replace(cfg, limits=dataclasses.replace(LimitsConfig(), **limits))


@dataclasses.dataclass
class Bot:
    app: Any
    poller: Poller

    @property
    def pipeline(self) -> Any:
        return self.poller._pipeline

    async def drain(self) -> None:
        await self.app.bot_data[SERVICES].dialogue.drain()


@contextlib.asynccontextmanager
async def serving(cfg: Config, kb: KnowledgeBase) -> AsyncIterator[Bot]:
    async with running(cfg, kb) as started:
        assert started is not None
        yield Bot(*started)


async def answer_for(fake: FakeTelegram, user_id: int, text: str = FERRY_QUESTION) -> SentMessage:
    fake.send_text(fake.user(user_id, f"U{user_id}"), text)
    return await fake.next_message(user_id, timeout=20)


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


def replies_in(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.plain_text or "" for m in fake.sent(chat_id)]


# --------------------------------------------------------------------------------------------
# 1. The last press wins
# --------------------------------------------------------------------------------------------


async def test_the_last_press_wins_for_every_voter(
    fake: FakeTelegram, db_path: Path, db_url: str, kb: KnowledgeBase
) -> None:
    """Break 1: with up to 64 updates handled at once in no order, a voter pressing Enig then
    Uenig quickly was stored as Enig (on PostgreSQL for 40 of 100 voters), and the reply they
    saw contradicted what was stored."""
    users = list(range(2001, 2041))
    cfg = config(fake, db_path)
    cfg = dataclasses.replace(cfg, database=dataclasses.replace(cfg.database, url=db_url))
    async with serving(cfg, kb) as bot:
        answers = {uid: await answer_for(fake, uid) for uid in users}
        fake.mark()
        for uid in users:  # both presses of every voter queued before the bot fetches them
            fake.press_button(uid, answers[uid], "ja:fergetakster")
            fake.press_button(uid, answers[uid], "nei:fergetakster")
        await wait_until(lambda: len(fake.calls_to("answerCallbackQuery")) >= 2 * len(users))
        await wait_until(lambda: all(len(fake.sent(uid)) >= 3 for uid in users))
        key = bot.app.bot_data[SERVICES].dialogue.key
    storage = await Storage.open(db_url)
    try:
        [opinion] = await storage.votes.opinions()
        assert (opinion.agree, opinion.disagree) == (0, len(users))
    finally:
        await storage.close()
    for uid in users:  # and the last reply each voter sees says so
        last = replies_in(fake, uid)[-1]
        assert last.startswith(DISAGREE_THANKS), last
        assert messages.VOTE_CHANGED_DISAGREE in last
    assert key  # the dialogue was there


async def test_a_press_handled_late_never_overrides_a_later_one(db_path: Path) -> None:
    """Across processes a later press can be handled first: the vote carries its update_id."""
    from bot.storage import VoteOutcome, pseudonymize

    key = pseudonymize("s" * 20, 7)
    async with open_storage(db_path) as storage:
        assert await storage.votes.record(key, "fergetakster", False, 101) is VoteOutcome.NEW
        late = await storage.votes.record(key, "fergetakster", True, 100)
        assert late is VoteOutcome.SUPERSEDED
        assert await storage.votes.get(key, "fergetakster") is False
        again = await storage.votes.record(key, "fergetakster", True, 102)
        assert again is VoteOutcome.CHANGED


# --------------------------------------------------------------------------------------------
# 2. Bad updates are skipped
# --------------------------------------------------------------------------------------------


async def test_an_unparsable_update_is_skipped_not_fatal(
    fake: FakeTelegram,
    db_path: Path,
    kb: KnowledgeBase,
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,  # noqa: F811
) -> None:
    """Break 2: a poll missing newer fields, or a message without `date`, made polling spin on
    the same offset, and the CRITICAL log held the raw update (a voter's name)."""
    caplog.set_level(logging.DEBUG)
    cfg = config(fake, db_path)
    configure_logging(dataclasses.replace(cfg, log_level="DEBUG"))
    user = fake.user(3001, "Ingeborg", username="ingeborg_3001")
    async with serving(cfg, kb) as bot:
        fake.push_update(
            {
                "poll": {  # as an older Bot API server sends it: no persistent_id
                    "id": "5",
                    "question": "Hvem stemmer du på?",
                    "options": [{"text": "Ingeborg", "voter_count": 1}],
                    "total_voter_count": 1,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                }
            }
        )
        fake.push_update(
            {
                "message": {  # no date
                    "message_id": 99,
                    "from": user.to_dict(),
                    "chat": user.chat.to_dict(),
                    "text": "Ingeborg her, hemmelig",
                }
            }
        )
        answer = await answer_for(fake, 3001)
        assert "Halvere fergetakstene." in text_of(answer)
        await wait_until(lambda: not fake.pending_updates())  # all confirmed, bad ones too
        assert bot.pipeline.stats["unparsable"] == 2
    polls = len(fake.calls_to("getUpdates"))
    assert polls < 30, f"{polls} getUpdates calls: polling spun on the bad updates"
    for record in caplog.records:
        shown = record.getMessage() + (record.exc_text or "")
        assert "Ingeborg" not in shown and "hemmelig" not in shown, shown


# --------------------------------------------------------------------------------------------
# 3. Confirmed only when handled (in process; the SIGKILL case is in test_run_resilience.py)
# --------------------------------------------------------------------------------------------


async def test_updates_are_confirmed_only_once_handled_and_duplicates_handled_once(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    users = list(range(4001, 4061))
    async with serving(config(fake, db_path), kb) as bot:
        # every reply is slow, so most of the burst is in hand at once
        fake.inject("sendMessage", None, delay=0.05, times=len(users))
        ids = {fake.send_text(fake.user(uid), FERRY_QUESTION): uid for uid in users}
        handled_while_pending: list[int] = []

        def check() -> bool:
            # an update Telegram no longer holds (confirmed) must have been answered
            pending = {u["update_id"] for u in fake.pending_updates()}
            for update_id, uid in ids.items():
                if update_id not in pending and not fake.sent(uid):
                    handled_while_pending.append(update_id)
            return all(fake.sent(uid) for uid in users)

        await wait_until(check, timeout=30)
        assert handled_while_pending == [], "confirmed before it was answered"
        await wait_until(lambda: bot.pipeline.in_hand == 0)
        # Telegram delivers some of them again (it may): nothing is answered twice
        for update_id in list(ids)[:10]:
            fake.redeliver(update_id)
        fake.send_text(fake.user(users[0]), "/hjelp")
        await wait_until(lambda: len(fake.sent(users[0])) == 2)
        await wait_until(lambda: not fake.pending_updates())
    assert all(len(fake.sent(uid)) == 1 for uid in users[1:])


async def test_two_processes_receiving_one_update_handle_it_once(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Behind a proxy, two webhook processes can receive the same update (a redelivery):
    two pipelines with their own memory, one database; the update is answered once."""
    from handlers.pipeline import UpdatePipeline

    async with serving(config(fake, db_path), kb) as bot:
        services = bot.app.bot_data[SERVICES]
        one = UpdatePipeline(bot.app, services, claims=True)
        two = UpdatePipeline(bot.app, services, claims=True)
        user = fake.user(4501, "Kari")
        update = {
            "update_id": 990_000_001,
            "message": {
                "message_id": 1,
                "date": 0,
                "from": user.to_dict(),
                "chat": user.chat.to_dict(),
                "text": FERRY_QUESTION,
            },
        }
        await asyncio.gather(one.handle(update), two.handle(update), one.handle(update))
        await two.handle(update)  # and once more, later
        await one.drain(5)
        await two.drain(5)
        assert len(fake.sent(4501)) == 1
        assert one.stats["handled"] + two.stats["handled"] == 1
        assert one.stats["duplicate"] + two.stats["duplicate"] == 3


# --------------------------------------------------------------------------------------------
# 4. Telegram's errors are retried
# --------------------------------------------------------------------------------------------


async def test_429_500_502_and_dropped_connections_are_retried(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Break 4: a 429 with retry_after, a 500/502, a dropped connection: the answer was lost and
    the voter got "noe gikk galt", also when the vote was stored."""
    async with serving(config(fake, db_path), kb):
        answer = await answer_for(fake, 5001)
        for status in (429, 500, 502, HANG_UP):
            fake.mark()
            fake.inject("sendMessage", status, retry_after=1 if status == 429 else None, times=2)
            fake.click(5001, answer, "Enig")
            thanks = await fake.next_message(5001, timeout=20)
            assert text_of(thanks).startswith(AGREE_THANKS), status
            failed = [c for c in fake.calls_to("sendMessage")[-3:] if not c.ok]
            assert len(failed) == 2, [str(c) for c in failed]
        assert not any(
            messages.SOMETHING_WENT_WRONG in (m.plain_text or "") for m in fake.sent(5001)
        )


async def test_a_429_in_one_chat_does_not_stall_the_others(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    async with serving(config(fake, db_path), kb):
        fake.inject("sendMessage", 429, retry_after=3, times=1, chat_id=5101)
        fake.send_text(fake.user(5101), FERRY_QUESTION)
        await fake.wait_for(lambda c: c.error_code == 429, timeout=10)
        # while 5101's answer waits out its retry_after, others are answered
        others = [5102, 5103, 5104]
        for uid in others:
            fake.send_text(fake.user(uid), FERRY_QUESTION)
        for uid in others:
            await fake.next_message(uid, timeout=10)
        assert fake.sent(5101) == [], "the throttled chat was answered before its wait"
        late = await fake.next_message(5101, timeout=15)
        assert "Halvere fergetakstene." in text_of(late)


async def test_a_burst_of_429s_while_many_ask_loses_no_answer(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    users = list(range(5201, 5241))
    async with serving(config(fake, db_path), kb):
        fake.inject("*", 429, retry_after=1, times=60)
        for uid in users:
            fake.send_text(fake.user(uid), FERRY_QUESTION)
        await wait_until(lambda: all(fake.sent(uid) for uid in users), timeout=60)
    for uid in users:
        [reply] = fake.sent(uid)
        assert "Halvere fergetakstene." in (reply.plain_text or "")


async def test_one_flooding_voter_is_limited_and_the_unanswered_log_bounded(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Break 4/8: one voter sending thousands of messages delayed everyone and could add
    unlimited rows to the unanswered log. Now: `user_burst` answers, one polite notice, the rest
    skipped; another voter is answered as usual."""
    burst = 5
    async with serving(config(fake, db_path, user_burst=burst, user_per_minute=1), kb) as bot:
        flooder = fake.user(6001, "Flo")
        for i in range(200):
            fake.send_text(flooder, f"Hva mener dere om ulv nummer {i}?")
        answer = await answer_for(fake, 6002)
        assert "Halvere fergetakstene." in text_of(answer)
        await wait_until(lambda: not fake.pending_updates(), timeout=30)
        await wait_until(lambda: bot.pipeline.in_hand == 0)
        await bot.drain()
        assert bot.pipeline.stats["rate_limited"] >= 190
    replies = replies_in(fake, 6001)
    assert replies.count(messages.SLOW_DOWN) == 1
    assert len(replies) <= burst + 2  # the burst, maybe one refill, the notice
    async with open_storage(db_path) as storage:
        logged = sum(q.count for q in await storage.unanswered.most_asked(500))
    assert logged <= burst + 1


async def test_a_person_who_blocked_the_bot_loses_the_subscription(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    async with serving(config(fake, db_path), kb):
        answer = await answer_for(fake, 7001)
        fake.click(7001, answer, "Enig")
        thanks = await fake.next_message(7001)
        fake.click(7001, thanks, messages.BUTTON_SUBSCRIBE)
        await fake.next_message(7001)
        async with open_storage(db_path) as storage:
            assert await storage.subscribers.chat_ids() == [7001]
        fake.block(7001)
        fake.send_text(7001, FERRY_QUESTION)
        await fake.wait_for(lambda c: c.method == "sendMessage" and c.error_code == 403)

        async def gone() -> bool:
            async with open_storage(db_path) as storage:
                return await storage.subscribers.chat_ids() == []

        for _ in range(100):
            if await gone():
                break
            await asyncio.sleep(0.05)
        assert await gone()


# --------------------------------------------------------------------------------------------
# 6. DEBUG logs never link a vote to a person
# --------------------------------------------------------------------------------------------


async def test_debug_logs_of_every_library_hold_no_vote_and_no_chat_id(
    fake: FakeTelegram,
    db_path: Path,
    kb: KnowledgeBase,
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,  # noqa: F811
) -> None:
    """Break 6: at DEBUG the database driver logged statements with their parameters: the vote
    key and topic, then the subscriber's raw chat id."""
    cfg = dataclasses.replace(config(fake, db_path), log_level="DEBUG")
    caplog.set_level(logging.DEBUG)
    configure_logging(cfg)
    for name in ("sqlalchemy.engine", "aiosqlite", "asyncpg", "aiohttp"):  # an admin digging
        logging.getLogger(name).setLevel(logging.DEBUG)
    user_id = 7_345_129_876
    async with serving(cfg, kb) as bot:
        answer = await answer_for(fake, user_id)
        fake.click(user_id, answer, "Enig")
        thanks = await fake.next_message(user_id)
        fake.click(user_id, thanks, messages.BUTTON_SUBSCRIBE)
        await fake.next_message(user_id)
        fake.send_text(user_id, "Hva mener dere om abort?")
        await fake.next_message(user_id)
        await bot.drain()
        key = bot.app.bot_data[SERVICES].dialogue.key
    from bot.dialogue import Person

    pseudonym = key(Person(user_id, user_id))
    assert caplog.records
    for record in caplog.records:
        shown = record.getMessage() + (record.exc_text or "")
        assert str(user_id) not in shown, (record.name, shown[:300])
        assert pseudonym not in shown, (record.name, shown[:300])
        assert not re.search(r"fergetakster.{0,40}(True|False|\b1\b|\b0\b)", shown), shown[:300]
        assert "abort" not in shown, (record.name, shown[:300])


# --------------------------------------------------------------------------------------------
# 7. A hanging database starves nothing
# --------------------------------------------------------------------------------------------


def _take_write_lock(db_path: Path) -> sqlite3.Connection:
    lock = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    return lock


def _release(lock: sqlite3.Connection) -> None:
    lock.execute("ROLLBACK")
    lock.close()


async def test_a_locked_database_never_holds_up_answers_and_votes_recover(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Break 7: "det vet jeg ikke" waited 30 s behind the unanswered-question insert; votes hung.
    With another connection holding the write lock (longer than SQLite's 15 s busy timeout),
    questions are answered and a vote gets a fast "could not save"; released, votes work."""
    async with serving(config(fake, db_path, database_wait=1.0), kb):
        answer = await answer_for(fake, 8001)
        # the lock is taken and released in a thread: a blocking call on the bot's event loop
        # while the bot is mid-transaction would deadlock
        lock = await asyncio.to_thread(_take_write_lock, db_path)
        try:
            # SQLite's busy timeout is 15 s: an answer waiting on the insert would miss this
            fake.send_text(8001, "Hva mener dere om abort?")
            dont_know = await fake.next_message(8001, timeout=10)
            assert text_of(dont_know) == messages.DONT_KNOW
            fake.click(8001, answer, "Enig")
            failed = await fake.next_message(8001, timeout=20)
            assert text_of(failed).startswith(STORAGE_DOWN_START)
            other = await answer_for(fake, 8002, "Hva med bredbånd?")
            assert "Bredbånd" in text_of(other)
        finally:
            await asyncio.to_thread(_release, lock)
        # the database is back: the next press is stored, without a restart
        for _ in range(40):
            fake.click(8001, answer, "Enig")
            reply = await fake.next_message(8001, timeout=10)
            if text_of(reply).startswith(AGREE_THANKS):
                break
            await asyncio.sleep(0.25)
        assert text_of(reply).startswith(AGREE_THANKS)
    async with open_storage(db_path) as storage:
        [opinion] = await storage.votes.opinions()
        assert (opinion.agree, opinion.disagree) == (1, 0)


async def test_a_hanging_postgresql_gives_fast_answers_and_recovers(
    fake: FakeTelegram, db_path: Path, pg_url: str, kb: KnowledgeBase
) -> None:
    """Break 7 on PostgreSQL: with 200 votes pending on a hanging database, plain answers took
    35 s. Another connection holds an exclusive lock on the votes table: every vote waits for
    it. Questions are still answered, votes get "could not save", and after the lock is gone
    votes are stored again."""
    import asyncpg
    from sqlalchemy import make_url

    cfg = config(fake, db_path, database_wait=1.0)
    cfg = dataclasses.replace(cfg, database=dataclasses.replace(cfg.database, url=pg_url))
    dsn = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    users = list(range(8101, 8131))
    async with serving(cfg, kb):
        answers = {uid: await answer_for(fake, uid) for uid in users}
        holder = await asyncpg.connect(dsn, timeout=5)
        tx = holder.transaction()
        await tx.start()
        await holder.execute("LOCK TABLE votes IN ACCESS EXCLUSIVE MODE")
        try:
            fake.mark()
            for uid in users:
                fake.click(uid, answers[uid], "Enig")
            asker = 8199
            dont_know = await answer_for(fake, asker, "Hva mener dere om abort?")
            assert text_of(dont_know) == messages.DONT_KNOW
            ferry = await answer_for(fake, asker)
            assert "Halvere fergetakstene." in text_of(ferry)
            for uid in users:
                reply = await fake.next_message(uid, timeout=20)
                assert text_of(reply).startswith(STORAGE_DOWN_START)
        finally:
            await tx.rollback()
            await holder.close()
        fake.click(users[0], answers[users[0]], "Enig")
        reply = await fake.next_message(users[0], timeout=20)
        assert text_of(reply).startswith(AGREE_THANKS)


# --------------------------------------------------------------------------------------------
# 8. The smaller ones
# --------------------------------------------------------------------------------------------


async def test_a_forged_callback_with_only_an_inline_message_id_is_answered(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    async with serving(config(fake, db_path), kb):
        update_id = fake.press_inline_button(fake.user(9001), "zzz")
        query_id = next(
            u["callback_query"]["id"] for u in fake.updates if u["update_id"] == update_id
        )

        def answered(call: Call) -> bool:
            return (
                call.method == "answerCallbackQuery"
                and str(call.params.get("callback_query_id")) == query_id
            )

        assert (await fake.wait_for(answered, timeout=10)).ok
        reply = await fake.next_message(9001)  # the menu, privately
        assert text_of(reply) == messages.UNKNOWN_BUTTON


async def test_a_deleted_question_in_a_group_is_answered_without_the_quote(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Break 8: a 400 "message to be replied not found" was not caught (nothing was sent)."""
    group = fake.group(-100_900_900, "Bygdelaget")
    async with serving(config(fake, db_path), kb):
        fake.inject("sendMessage", None, delay=0.5, times=1)  # the question is deleted meanwhile
        fake.send_text(fake.user(9101), f"@{fake.bot_username} blir ferja billigere?", chat=group)
        asked = fake.updates[-1]["message"]["message_id"]
        fake.delete_user_message(group.id, asked)
        answer = await fake.next_message(group.id, timeout=10)
        assert "Halvere fergetakstene." in text_of(answer)
        assert "reply_to_message" not in answer.message
        assert any(
            c.error_code == 400 and "replied not found" in (c.description or "")
            for c in fake.calls_to("sendMessage")
        )


async def test_nul_bytes_and_zero_width_spaces(
    fake: FakeTelegram, db_path: Path, kb: KnowledgeBase
) -> None:
    """Break 8: a zero-width space inside a word defeated the matcher; a NUL byte broke the
    unanswered insert (PostgreSQL; the storage tests cover both backends)."""
    async with serving(config(fake, db_path), kb) as bot:
        answer = await answer_for(fake, 9201, "Blir fer\u200bja billig\u200bere?")
        assert "Halvere fergetakstene." in text_of(answer)
        reply = await answer_for(fake, 9201, "Hva mener dere om ab\x00ort?")
        assert text_of(reply) == messages.DONT_KNOW
        await bot.drain()
    async with open_storage(db_path) as storage:
        assert [q.text for q in await storage.unanswered.most_asked()] == [
            "Hva mener dere om abort?"
        ]


# --------------------------------------------------------------------------------------------
# Storage on both backends: the vote upsert, claims, NUL bytes
# --------------------------------------------------------------------------------------------


async def test_storage_votes_claims_and_nul_bytes_on_both_backends(db_url: str) -> None:
    from bot.storage import Claim, VoteOutcome, pseudonymize

    key = pseudonymize("s" * 20, 7)
    storage = await Storage.open(db_url)
    try:
        await storage.check_writable()
        record = storage.votes.record
        assert await record(key, "fergetakster", True, 10) is VoteOutcome.NEW
        assert await record(key, "fergetakster", True, 11) is VoteOutcome.UNCHANGED
        assert await record(key, "fergetakster", False, 13) is VoteOutcome.CHANGED
        assert await record(key, "fergetakster", True, 12) is VoteOutcome.SUPERSEDED
        assert await storage.votes.get(key, "fergetakster") is False
        assert await record(key, "fergetakster", True) is VoteOutcome.CHANGED  # no update: wins

        assert await storage.updates.claim([1, 2, 3], 30) == dict.fromkeys([1, 2, 3], Claim.MINE)
        await storage.updates.finish([1])
        again = await storage.updates.claim([1, 2, 4], 30)
        assert again == {1: Claim.DONE, 2: Claim.BUSY, 4: Claim.MINE}
        assert await storage.updates.claim([2], 0) == {2: Claim.MINE}  # a dead process's claim
        assert await storage.updates.release_unfinished() == 3

        # PostgreSQL refuses NUL in text: it is dropped before storing
        await storage.unanswered.log("Hva med ab\x00ort?", key)
        assert [q.text for q in await storage.unanswered.most_asked()] == ["Hva med abort?"]
    finally:
        await storage.close()


# --------------------------------------------------------------------------------------------
# The pipeline's parts
# --------------------------------------------------------------------------------------------


def test_rate_limit_allows_a_burst_tells_once_then_refills() -> None:
    from handlers.pipeline import RateLimit

    limit = RateLimit(burst=3, per_minute=60)  # one a second
    taken = [limit.take("kari", 100.0) for _ in range(6)]
    assert taken == [True, True, True, None, False, False]  # None: tell her, once
    assert limit.take("ola", 100.0) is True  # others are not affected
    assert limit.take("kari", 101.5) is True  # a second later: one more
    assert limit.take("kari", 101.6) is None  # over again: told again (a new episode)


def test_describe_update_reads_any_shape_defensively() -> None:
    from handlers.pipeline import describe_update

    user = {"id": 5, "is_bot": False, "first_name": "K"}
    message = {"message_id": 1, "from": user, "chat": {"id": -9, "type": "group"}}
    assert describe_update({"update_id": 1, "message": message}) == ("message", 5, -9)
    press = {"id": "q", "from": user, "message": message}
    assert describe_update({"update_id": 2, "callback_query": press}) == ("callback_query", 5, -9)
    inline = {"id": "q", "from": user, "inline_message_id": "x"}
    assert describe_update({"update_id": 3, "callback_query": inline}) == (
        "callback_query",
        5,
        None,
    )
    assert describe_update({"update_id": 4, "message": "?"}) == ("message", None, None)
    assert describe_update({"update_id": 5}) == ("", None, None)
    bogus = {"update_id": 6, "message": {"from": {"id": "5"}, "chat": {"id": True}}}
    assert describe_update(bogus) == ("message", None, None)


async def test_the_batcher_writes_concurrent_items_together_and_reports_failures() -> None:
    from bot.batching import Batcher

    calls: list[list[int]] = []

    async def write(items: list[int]) -> dict[int, int]:
        calls.append(items)
        await asyncio.sleep(0.01)
        if 13 in items:
            raise RuntimeError("boom")
        return {i: i * 2 for i in items}

    batcher: Batcher[int, int] = Batcher(write)
    first = [batcher.submit(i) for i in range(5)]
    assert await asyncio.gather(*first) == [0, 2, 4, 6, 8]
    assert calls == [[0, 1, 2, 3, 4]]  # one write for all five
    failing = batcher.submit(13)
    with pytest.raises(RuntimeError):
        await failing
    assert await batcher.submit(7) == 14  # and it goes on
