"""Several processes, for real: a real nginx (from deploy/nginx.conf, on loopback with a
self-signed certificate), two `distriktsbot run` webhook processes behind it, one throw-away
PostgreSQL database, and the stand-in Bot API delivering its updates over HTTPS to nginx with
several parallel connections, as Telegram does. `distriktsbot deploy` runs once.

nginx is installed with apt-get when missing (tests/nginx.py; `.ci/run` does it up front).

MERGE (lead): issue-7b's "the newsletter outbox is sent by exactly one process" belongs here:
start a broadcast through one process of the `cluster` fixture and assert every subscriber
got exactly one letter while both processes ran (the leader holds the advisory lock); and
issue-7a's `/oppdater` should replace the direct version bump in
`test_a_knowledge_reload_reaches_both_processes`.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import make_url

from bot.storage import Storage
from tests.conftest import copy_knowledge, run_isolated
from tests.fake_telegram import FakeTelegram, FakeUser, SentMessage
from tests.nginx import Nginx, NginxUnavailable, ensure_nginx, free_port
from tests.test_run_process import (
    FERRY_QUESTION,
    HASH_SECRET,
    ROOT,
    STARTUP_TIMEOUT,
    WEBHOOK_SECRET,
    BotProcess,
    Runner,
)

REPLY_TIMEOUT = 30.0
PUBLIC_URL = "https://bot.example.org/telegram"
QUESTIONS = (
    FERRY_QUESTION,  # matched, with Enig/Uenig
    "Hva mener dere om ulvepolitikken?",  # declined
    "Hei!",  # small talk
    "Hva gjør dere for bredbånd på bygda?",  # matched
)


@pytest.fixture(scope="module")
def nginx_ready() -> None:
    try:
        ensure_nginx()
    except NginxUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


class Cluster:
    def __init__(self, workdir: Path, fake: FakeTelegram, database_url: str) -> None:
        self.workdir = workdir
        self.fake = fake
        self.database_url = database_url
        self.runner = Runner(workdir)
        self.ports = [free_port(), free_port()]
        self.knowledge = workdir / "knowledge"
        copy_knowledge(self.knowledge)
        self.config = self.runner.write_config(
            {
                "telegram": {
                    "base_url": fake.base_url,
                    "mode": "webhook",
                    "webhook": {"url": PUBLIC_URL, "listen": "127.0.0.1"},
                },
                "database": {"url": database_url},
                "knowledge": str(self.knowledge),
                "log_level": "INFO",
                "server": {"knowledge_poll_seconds": 1},
            }
        )
        self.metrics_dir = workdir / "metrics"
        self.metrics_dir.mkdir()
        self.env = self.runner.env(
            DISTRIKTSBOT_TOKEN=fake.token,
            DISTRIKTSBOT_HASH_SECRET=HASH_SECRET,
            DISTRIKTSBOT_WEBHOOK_SECRET=WEBHOOK_SECRET,
            PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir),
        )
        self.nginx = Nginx(workdir / "nginx", self.ports)
        self.bots: dict[int, BotProcess] = {}

    def deploy(self) -> None:
        code, done = self.runner.run(["--config", str(self.config), "deploy"], self.env)
        assert code == 0, done.output()

    def start_bot(self, port: int) -> BotProcess:
        self.spawn(port)
        return self.wait_started(port)

    def spawn(self, port: int) -> None:
        self.bots[port] = self.runner.start(
            ["--config", str(self.config), "run", "--port", str(port)], self.env
        )

    def wait_started(self, port: int) -> BotProcess:
        bot = self.bots[port]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                self.health(port)
                return bot
            except OSError:
                if bot.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"bot on {port} did not start:\n{bot.output()}") from None
                time.sleep(0.05)

    def health(self, port: int) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            return dict(json.loads(conn.getresponse().read()))
        finally:
            conn.close()

    def through_nginx(self, path: str) -> tuple[int, str]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", self.nginx.port, context=context)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def handled(self) -> list[int]:
        return [int(self.health(port)["handled"]) for port in self.ports]

    def stop(self) -> None:
        self.nginx.stop()
        self.runner.cleanup()


@pytest.fixture(scope="module")
def cluster(
    nginx_ready: None, pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    fake = FakeTelegram()
    fake.webhook_workers = 8
    with fake:
        workdir = tmp_path_factory.mktemp("cluster")
        c = Cluster(workdir, fake, pg_database)
        fake.webhook_target = f"{c.nginx.url}/telegram"  # instead of the public address
        try:
            c.deploy()
            for port in c.ports:
                c.spawn(port)
            for port in c.ports:
                c.wait_started(port)
            c.nginx.start()
            yield c
        finally:
            c.stop()


def votes(database_url: str) -> list[tuple[str, str, bool]]:
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)

    async def read() -> list[tuple[str, str, bool]]:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            rows = await conn.fetch("SELECT user_key, topic_id, agree FROM votes")
            return [(r["user_key"], r["topic_id"], r["agree"]) for r in rows]
        finally:
            await conn.close()

    return run_isolated(read)


def wait_messages(fake: FakeTelegram, user: FakeUser, count: int) -> list[SentMessage]:
    deadline = time.monotonic() + REPLY_TIMEOUT
    while len(fake.sent(user.id)) < count:
        assert time.monotonic() < deadline, fake._timeout_report(f"{count} messages", 0)
        time.sleep(0.02)
    return fake.sent(user.id)


def wait_delivered(fake: FakeTelegram) -> None:
    deadline = time.monotonic() + REPLY_TIMEOUT
    while fake.pending_updates():
        assert time.monotonic() < deadline, f"{len(fake.pending_updates())} never confirmed"
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------


def test_questions_and_quick_double_presses_across_two_processes(cluster: Cluster) -> None:
    fake = cluster.fake
    before = sum(cluster.handled())
    users = [fake.user(31_000 + i, f"U{i}") for i in range(24)]
    for i, user in enumerate(users):
        fake.send_text(user, QUESTIONS[i % len(QUESTIONS)])
    answers = {user.id: wait_messages(fake, user, 1)[0] for user in users}

    voters = [u for u in users if any(b == "Enig" for b, _ in answers[u.id].buttons())]
    assert len(voters) == 12
    for user in voters:  # both buttons, pressed quickly: Enig, then Uenig
        fake.click(user, answers[user.id], "Enig")
        fake.click(user, answers[user.id], "Uenig")
    for user in voters:
        wait_messages(fake, user, 3)
    wait_delivered(fake)
    time.sleep(0.3)  # a reply sent twice would show up now

    for user in users:  # every update answered once
        expected = 3 if user in voters else 1
        assert len(fake.sent(user.id)) == expected, [m.plain_text for m in fake.sent(user.id)]
    for user in voters:
        last = fake.sent(user.id)[-1].plain_text or ""
        assert last.startswith("Takk for tilbakemeldingen. Vi kan ikke være enige om alt!")
    stored = votes(cluster.database_url)
    assert len(stored) == len(voters)  # every vote stored once
    assert len({key for key, _, _ in stored}) == len(voters)
    assert all(agree is False for _, _, agree in stored)  # the last press won

    # both processes took part, and together they handled each update once
    handled = cluster.handled()
    total = len(users) + 2 * len(voters)
    assert sum(handled) - before == total
    assert all(n > 0 for n in handled), handled
    # metrics through nginx, summed over both processes (PROMETHEUS_MULTIPROC_DIR)
    status, text = cluster.through_nginx("/metrics")
    assert status == 200
    kinds = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("distriktsbot_updates_total{")
    }
    assert sum(kinds.values()) == sum(handled)
    status, body = cluster.through_nginx("/healthz")
    assert status == 200 and json.loads(body)["database"] == "ok"


def test_sigterm_of_one_process_under_traffic_loses_and_repeats_nothing(
    cluster: Cluster,
) -> None:
    fake = cluster.fake
    fake.method_delays["sendMessage"] = 0.05  # updates stay in hand a little while
    try:
        users = [fake.user(32_000 + i, f"S{i}") for i in range(40)]
        for user in users:
            fake.send_text(user, FERRY_QUESTION)
        deadline = time.monotonic() + REPLY_TIMEOUT
        while sum(1 for u in users if fake.sent(u.id)) < 8:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        port = cluster.ports[0]
        bot = cluster.bots[port]
        bot.proc.send_signal(15)
        assert bot.wait() == 0, bot.output()
        assert "Traceback" not in bot.output()
        cluster.start_bot(port)  # restarted: takes its share again
        for user in users:
            wait_messages(fake, user, 1)
        wait_delivered(fake)
        time.sleep(0.3)
        assert [len(fake.sent(u.id)) for u in users] == [1] * len(users)
    finally:
        fake.method_delays.clear()


def test_a_knowledge_reload_reaches_both_processes(cluster: Cluster) -> None:
    """A reload published in the database (what /oppdater in one process does after reloading
    its own knowledge) makes every process reload from its files within the poll interval."""
    fake = cluster.fake
    area = cluster.knowledge / "distriktspolitikk.yaml"
    text = area.read_text(encoding="utf-8")
    assert "title: Fergetakster\n" in text  # (a pledge must stay the party's own words)
    area.write_text(
        text.replace("title: Fergetakster\n", "title: Billigere ferje\n", 1), encoding="utf-8"
    )
    before = [int(cluster.health(p)["knowledge_version"]) for p in cluster.ports]

    async def publish() -> int:
        storage = await Storage.open(cluster.database_url, migrate=False)
        try:
            return await storage.knowledge_version.bump()
        finally:
            await storage.close()

    version = run_isolated(publish)
    assert version == max(before) + 1
    deadline = time.monotonic() + REPLY_TIMEOUT
    while [int(cluster.health(p)["knowledge_version"]) for p in cluster.ports] != [version] * 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # voters keep asking until each process has answered some with the new knowledge (nginx
    # may still avoid a process that was restarted a moment ago: max_fails / fail_timeout)
    counted = cluster.handled()
    deadline = time.monotonic() + 30
    uid = 33_000
    while not all(now > then for now, then in zip(cluster.handled(), counted, strict=True)):
        assert time.monotonic() < deadline, (counted, cluster.handled())
        user = fake.user(uid, f"K{uid}")
        uid += 1
        fake.send_text(user, FERRY_QUESTION)
        [answer] = wait_messages(fake, user, 1)
        assert (answer.plain_text or "").startswith("Billigere ferje")
        time.sleep(0.05)


def test_duplicates_and_racing_presses_are_handled_once_and_the_last_press_wins(
    cluster: Cluster,
) -> None:
    """Telegram redelivers an update it got no 200 for (to any process), and after such
    redeliveries one chat's updates can arrive in parallel on both processes."""
    fake = cluster.fake
    users = [fake.user(34_000 + i, f"D{i}") for i in range(16)]
    asked = [fake.send_text(user, FERRY_QUESTION) for user in users]
    answers = {user.id: wait_messages(fake, user, 1)[0] for user in users}
    fake.webhook_per_chat_order = False
    try:
        for update_id in asked[:8]:
            fake.redeliver(update_id)  # duplicates: must not be answered again
        for user in users:
            fake.click(user, answers[user.id], "Enig")
            fake.click(user, answers[user.id], "Uenig")
        for user in users:
            wait_messages(fake, user, 3)
        wait_delivered(fake)
        time.sleep(0.5)
    finally:
        fake.webhook_per_chat_order = True
    assert [len(fake.sent(u.id)) for u in users] == [3] * len(users)
    stored = [row for row in votes(cluster.database_url) if row[1] == "fergetakster"]
    assert all(agree is False for _, _, agree in stored)


def test_the_test_config_is_the_deployed_one(cluster: Cluster) -> None:
    """The nginx the tests run is deploy/nginx.conf with only ports and certificate paths
    changed: every proxy directive of the shipped file is in it."""
    shipped = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    tested = (cluster.nginx.prefix / "distriktsbot.conf").read_text(encoding="utf-8")
    for line in shipped.splitlines():
        stripped = line.strip()
        if stripped.startswith(("proxy_", "location", "limit_except", "allow", "deny")):
            assert line in tested.splitlines(), line
