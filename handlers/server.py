"""The bot's own web server for webhook mode (aiohttp.web), one per process, behind a proxy.

PTB's custom-webhook pattern: the Application is built with `.updater(None)` and this server
receives Telegram's POSTs. Routes:

* ``POST /<telegram.webhook.path>``: checks the ``X-Telegram-Bot-Api-Secret-Token`` header
  (403 otherwise), hands the update to the update pipeline (`handlers.pipeline`) and answers
  200 only once it has been handled, so Telegram redelivers whatever a dying process had not
  finished.
  At most ``limits.in_flight`` updates are handled at once; more wait for a slot (and then
  at the proxy, then at Telegram: a burst does not pile up in this process's memory).
* ``GET /healthz``: JSON; 200 when the process is up and its database answers, 503 otherwise
  (database down, or stopping).
* ``GET /metrics``: Prometheus text (`handlers.metrics`; summed over the processes with
  PROMETHEUS_MULTIPROC_DIR).

SIGTERM (or SIGINT): the listening socket is closed at once (the proxy sends new updates to the
other processes), a POST that still arrives on an open connection gets 503, and the updates in
hand get ``server.stop_timeout_seconds`` (5 s) to finish and be confirmed with their 200. What is
not finished by then is cancelled without an answer: not confirmed, so Telegram delivers it again.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import signal
import time
from contextlib import suppress
from typing import Any

from aiohttp import web
from sqlalchemy import text
from telegram.ext import Application

from bot.config import Config
from bot.services import Services
from bot.storage.engine import DB_ERRORS
from handlers import metrics
from handlers.common import SERVICES
from handlers.pipeline import UpdatePipeline

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger("distriktsbot.server")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_DB_TIMEOUT = 2.0  # seconds /healthz waits for the database's answer
MAX_UPDATE_BYTES = 1 << 20  # Telegram's updates are a few kB


class WebhookServer:
    def __init__(
        self,
        cfg: Config,
        services: Services,
        pipeline: UpdatePipeline,
    ) -> None:
        self.cfg = cfg
        self.services = services
        self.pipeline = pipeline
        hook = cfg.telegram.webhook
        self.path = "/" + hook.path.strip("/")
        self._secret = hook.secret_token.encode()
        self._slots = asyncio.Semaphore(cfg.limits.in_flight)
        self.in_flight = 0  # received and not yet answered (handled or waiting for a slot)
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = False
        self.handled = 0  # updates this process has answered (and confirmed)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # ---------------------------------------------------------------- the web application

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_post(self.path, self.on_update)
        app.router.add_get("/healthz", self.on_health)
        app.router.add_get("/metrics", self.on_metrics)
        return app

    async def on_update(self, request: web.Request) -> web.Response:
        if self._secret:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, self._secret):
                metrics.ERRORS.labels("forged").inc()
                return web.Response(status=403, text="forbidden")
        if self.stopping:  # the proxy passes it on to another process
            return web.Response(status=503, text="stopping", headers={"Connection": "close"})
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            metrics.ERRORS.labels("bad_request").inc()
            return web.Response(status=400, text="expected a JSON object")
        self._enter()
        try:
            started = time.perf_counter()
            async with self._slots:
                try:
                    await self.pipeline.handle(data)
                except Exception as exc:  # the pipeline never raises; if it did: not confirmed
                    log.error("update not handled: %s", type(exc).__name__)
                    metrics.ERRORS.labels("webhook").inc()
                    return web.Response(status=500)
            metrics.UPDATE_SECONDS.observe(time.perf_counter() - started)
            metrics.UPDATES.labels(metrics.update_kind(data)).inc()
            self.handled += 1
        finally:
            self._leave()
        return web.Response(status=200)

    async def on_health(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "status": "ok",
            "in_flight": self.in_flight,
            "handled": self.handled,
        }
        storage = self.services.storage
        database = "ok"
        if storage is None:
            database = "not configured"
        else:
            try:
                async with asyncio.timeout(HEALTH_DB_TIMEOUT):
                    async with storage.db.engine.connect() as conn:
                        await conn.execute(text("SELECT 1"))
            except TimeoutError:
                database = "timed out"
            except DB_ERRORS as exc:
                database = f"unavailable ({type(exc).__name__})"
        body["database"] = database
        sync = self.services.knowledge_sync
        if sync is not None:
            body["knowledge_version"] = sync.version
        if self.stopping:
            body["status"] = "stopping"
        elif database != "ok":
            body["status"] = "database unavailable"
        status = 200 if body["status"] == "ok" else 503
        return web.json_response(body, status=status)

    async def on_metrics(self, request: web.Request) -> web.Response:
        payload, content_type = metrics.render()
        response = web.Response(body=payload)
        response.headers["Content-Type"] = content_type
        return response

    def _enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()
        metrics.IN_FLIGHT.inc()

    def _leave(self) -> None:
        self.in_flight -= 1
        metrics.IN_FLIGHT.dec()
        if self.in_flight == 0:
            self._idle.set()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        metrics.forget_dead_processes()
        hook = self.cfg.telegram.webhook
        # shutdown_timeout: at cleanup, how long aiohttp waits for handlers before cancelling
        # them; the graceful wait is done before, in stop()
        self._runner = web.AppRunner(
            self.web_app(), access_log=None, handle_signals=False, shutdown_timeout=0.1
        )
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, hook.listen, hook.port, backlog=1024)
        await self._site.start()
        log.info("webhook server listening on %s:%d%s", hook.listen, hook.port, self.path)

    async def stop(self) -> None:
        """Stop taking updates, finish those in hand (bounded), close."""
        self.stopping = True
        timeout = float(self.cfg.server.stop_timeout_seconds)
        deadline = time.monotonic() + timeout
        if self._site is not None:
            # close the listening socket: the proxy's new connections go to the other processes
            site, self._site = self._site, None
            await site.stop()
        pending = self.in_flight
        if pending:
            log.info("stopping: finishing %d update(s) in hand (at most %.0f s)", pending, timeout)
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        await self.pipeline.drain(max(0.0, deadline - time.monotonic()))
        if self.in_flight:
            log.warning(
                "stopping: %d update(s) not finished in %.0f s; not confirmed, Telegram "
                "delivers them again",
                self.in_flight,
                timeout,
            )
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("webhook server stopped")


async def serve_webhook(cfg: Config, app: AnyApplication) -> int:
    """Run the Application behind this server until SIGTERM/SIGINT (PTB's custom-webhook
    pattern: initialize, post_init, start; the reverse at the end). Telegram out of reach at
    start: retried with backoff (a rejected token raises InvalidToken at once)."""
    from handlers.app import close_requests, initialize_with_retries

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        if not await initialize_with_retries(app, stop):
            return 0
        try:
            if app.post_init is not None:
                await app.post_init(app)
            services: Services = app.bot_data[SERVICES]
            pipeline = UpdatePipeline(app, services)
            server = WebhookServer(cfg, services, pipeline)
            await app.start()
            try:
                await server.start()
                try:
                    await stop.wait()
                finally:
                    await server.stop()
            finally:
                await app.stop()
        finally:
            try:
                if app.post_shutdown is not None:
                    await app.post_shutdown(app)
            finally:
                await app.shutdown()
                metrics.process_exited()
    finally:
        await close_requests(app)
    return 0
