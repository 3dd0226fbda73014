"""Prometheus metrics of the Telegram transport, served at /metrics by the webhook server.

Several processes: set PROMETHEUS_MULTIPROC_DIR to one directory shared by every process of the
deployment (empty at boot; deploy/ uses /run/distriktsbot/metrics) before the process starts.
prometheus-client then keeps each process's values in memory-mapped files there, and /metrics
of any process reports the sum over all of them (the gauge too: `livesum`, the processes alive).
Without the variable, each process reports its own figures.

Nothing here identifies a person: no chat ids, no user ids, no topics per person.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from bot.reply import Action, Do, Reply

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

if os.environ.get(MULTIPROCESS_ENV):  # the files are written at import: the folder must exist
    os.makedirs(os.environ[MULTIPROCESS_ENV], exist_ok=True)

UPDATES = Counter(
    "distriktsbot_updates_total", "Updates handled, by kind (message, callback_query, …)", ["kind"]
)
UPDATE_SECONDS = Histogram(
    "distriktsbot_update_seconds",
    "Time from receiving an update to having answered it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ANSWERS = Counter(
    "distriktsbot_answers_total",
    "Answers to free-text questions: matched, ambiguous, declined, smalltalk, noise",
    ["outcome"],
)
VOTES = Counter(
    "distriktsbot_votes_total", "Enig/Uenig presses: new, changed, unchanged, failed", ["outcome"]
)
ERRORS = Counter(
    "distriktsbot_errors_total",
    "Errors: handler (a handler raised), webhook (an update not handled), forged, bad_request",
    ["kind"],
)
IN_FLIGHT = Gauge(
    "distriktsbot_updates_in_flight",
    "Updates received and not yet answered (being handled or waiting for a slot): queue depth",
    multiprocess_mode="livesum",
)

UPDATE_KINDS = frozenset(
    (
        "message edited_message channel_post edited_channel_post callback_query inline_query "
        "chosen_inline_result my_chat_member chat_member poll poll_answer"
    ).split()
)


def update_kind(data: object) -> str:
    """The kind of a raw update (its one field besides update_id); "other" when unknown."""
    if isinstance(data, dict):
        for key in data:
            if key != "update_id":
                return key if key in UPDATE_KINDS else "other"
    return "other"


def observe_answer(reply: Reply) -> None:
    """Count a free-text question's outcome from the Reply's tags."""
    tags = reply.tags
    if "unanswered" in tags:
        outcome = "declined"
    elif "ambiguous" in tags:
        outcome = "ambiguous"
    elif "smalltalk" in tags:
        outcome = "smalltalk"
    elif "noise" in tags or "empty" in tags:
        outcome = "noise"
    elif reply.topic_id is not None:
        outcome = "matched"
    else:
        outcome = "other"
    ANSWERS.labels(outcome).inc()


def observe_press(data: str | None, reply: Reply) -> None:
    """Count a vote: a press of Enig/Uenig, stored (new, changed, unchanged) or failed."""
    parsed = Action.decode(data)
    if parsed is None or parsed[0] not in (Do.AGREE, Do.DISAGREE):
        return
    for tag in reply.tags:
        if tag.startswith("vote-"):
            VOTES.labels(tag.removeprefix("vote-")).inc()
            return
    if "error" in reply.tags:
        VOTES.labels("failed").inc()


def render() -> tuple[bytes, str]:
    """The exposition text of every metric (summed over the processes in multiprocess mode)."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_dead_processes() -> None:
    """A process that was killed (not stopped) leaves its live gauge (the queue depth) behind in
    the shared folder; drop those of processes that no longer exist (call at start)."""
    folder = os.environ.get(MULTIPROCESS_ENV)
    if not folder or not Path("/proc/self").exists():  # liveness is read from /proc (Linux)
        return
    for path in Path(folder).glob("gauge_live*_*.db"):
        found = re.search(r"_(\d+)\.db$", path.name)
        if found and not Path(f"/proc/{found.group(1)}").exists():
            _multiprocess.mark_process_dead(int(found.group(1)))  # type: ignore[no-untyped-call]


def process_exited() -> None:
    """Forget this process's live gauge values (call at a clean exit)."""
    if os.environ.get(MULTIPROCESS_ENV):
        _multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
