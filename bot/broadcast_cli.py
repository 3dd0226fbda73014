"""`distriktsbot broadcast FILE`: the newsletter from the command line, through the same outbox.

The file is checked like `/kringkast` (the same Norwegian list of what to fix), the preview and
the number of recipients are shown, and after a yes (or `--yes`) the broadcast starts. This
process then sends it, or, when a running bot already is the sender, waits for the bot to send it;
either way the progress shows as a bar on a terminal, and the report comes at the end.
`--resume` finishes a broadcast whose sender died (the bot does that by itself when it starts).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Never, TextIO

from tqdm import tqdm

from bot import messages
from bot.cli import CliError
from bot.config import Config
from bot.console import render_text
from bot.knowledge import KnowledgeBase
from bot.newsletter import Progress, compose, plain_text, report_reply
from bot.reply import Reply
from bot.services import StorageMode, open_services
from bot.storage.outbox import Started


class ProgressBar:
    """A progress bar on stderr when it is a terminal (nothing otherwise)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar: tqdm[Never] | None = None

    def __call__(self, progress: Progress) -> None:
        counts = progress.counts
        bar = self.bar
        if bar is None and not self.stream.isatty():
            return
        if bar is None:
            bar = tqdm(total=counts.total, unit=" brev", file=self.stream, disable=None)
            self.bar = bar
        bar.total = counts.total
        bar.update(counts.total - counts.left - bar.n)
        bar.set_postfix(blokkert=counts.blocked, refresh=False)
        bar.set_description("venter på Telegram" if progress.paused else "", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def broadcast(cfg: Config, kb: KnowledgeBase, file: str | None, yes: bool) -> int:
    from handlers.broadcast import sending  # the Telegram sender (bot/ stays Telegram-free)

    async with open_services(cfg, kb, storage=StorageMode.EXISTING) as services:
        assert services.storage is not None
        outbox = services.storage.outbox
        if file is None:  # --resume
            active = await outbox.active()
            if active is None:
                print(messages.CLI_NOTHING_TO_RESUME)
                return 0
            target = active.id
        else:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CliError(
                    messages.CLI_CANNOT_READ.format(file=file, reason=_reason(exc))
                ) from None
            composed = compose(text)
            if not composed.ok:
                problems = "\n".join(f"  • {p}" for p in composed.problems)
                raise CliError(f"{file}: {messages.NEWSLETTER_INVALID}\n{problems}")
            recipients = await outbox.recipients()
            print(plain_text(composed.html))
            print("-" * 40)
            if recipients == 0:
                print(messages.NEWSLETTER_NO_RECIPIENTS)
                return 1
            noun = "abonnent" if recipients == 1 else "abonnenter"
            print(messages.NEWSLETTER_RECIPIENTS.format(count=recipients, noun=noun))
            if not yes:
                if not sys.stdin.isatty():
                    raise CliError(messages.CLI_NOT_SENT_ASK)
                answer = input(f"Send til {recipients} {noun}? [j/N] ").strip().lower()
                if answer not in ("j", "ja", "y", "yes"):
                    print(messages.NEWSLETTER_DISCARDED)
                    return 1
            draft = await outbox.draft(composed.html)
            started = await outbox.start(draft.id)
            if started is Started.BUSY:
                raise CliError(messages.CLI_BROADCAST_BUSY)
            if started is not Started.STARTED:
                raise CliError(messages.CLI_NOT_SENT.format(state=started.value))
            target = draft.id
        bar = ProgressBar()
        try:
            async with sending(cfg, services.storage, watch=bar, progress_seconds=0.5) as worker:
                await worker.run(until=target)
        finally:
            bar.close()
        ended = await outbox.get(target)
        assert ended is not None
        report, _ = render_text(Reply(report_reply(ended, await outbox.counts(target)).blocks))
        print(report)
    return 0


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return messages.CLI_NOT_UTF8.format(encoding="UTF-8")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


__all__ = ["ProgressBar", "broadcast"]
