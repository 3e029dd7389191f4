"""An aiohttp application served on 127.0.0.1 from its own event-loop thread, for tests.

Stand-in servers (a kubelet's HTTP side, say) subclass it and build their routes in app();
start() returns the port the kernel chose, stop() shuts the app and its loop down.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class ThreadedAiohttpApp:
    def __init__(self, thread_name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=thread_name, daemon=True)
        self.runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        raise NotImplementedError

    def start(self) -> int:
        self.thread.start()

        async def up() -> int:
            self.runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        return asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)

    def stop(self) -> None:
        if self.runner:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
