"""A TCP proxy on loopback in front of one target (a database, a broker, an HTTP server) whose
behaviour the fault scenarios switch at run time:

- up: bytes pass through;
- down: every open connection is cut and new ones are closed at once (the target is "down");
- flaky: each forwarded chunk may cut its connection (`cut_rate`) or stall for `stall_s`
  first (`stall_rate`), which the client sees as resets and timeouts.

It runs its own asyncio loop in a daemon thread, so a test or the bench drives it from plain
code. Only 127.0.0.1 is ever listened on or connected to.
"""
from __future__ import annotations

import asyncio
import logging
import random
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)
CHUNK = 65536


@dataclass
class Mode:
    name: str = "up"
    cut_rate: float = 0.0
    stall_rate: float = 0.0
    stall_s: float = 0.0


class FaultProxy:
    def __init__(self, upstream_port: int, name: str = "") -> None:
        self.upstream_port = upstream_port
        self.name = name or f"proxy:{upstream_port}"
        self.mode = Mode()
        self.port = 0
        self.cuts = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._rng = random.Random(7)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"fault-proxy-{upstream_port}")

    # -- control (from any thread) -----------------------------------------------------------
    def start(self) -> int:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def set(self, name: str, cut_rate: float = 0.0, stall_rate: float = 0.0,
            stall_s: float = 0.0) -> None:
        self.mode = Mode(name, cut_rate, stall_rate, stall_s)
        logger.info("%s → %s", self.name, self.mode)
        if name == "down":
            self._loop.call_soon_threadsafe(self._cut_all)

    def open_connections(self) -> int:
        """Client connections being forwarded now."""
        return len(self._writers) // 2

    def stop(self) -> None:
        async def close() -> None:
            self._cut_all()
            if self._server is not None:
                self._server.close()
            pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # -- the loop ----------------------------------------------------------------------------
    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        if self.mode.name == "down":
            client_writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, up_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, up_writer, client_writer),
                                 self._pipe(up_reader, client_writer, up_writer))
        except asyncio.CancelledError:
            # The proxy is closing. Python 3.11's stream server asks a cancelled handler task
            # for its exception and logs the CancelledError as an error: end normally instead.
            pass
        finally:
            for writer in (client_writer, up_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    other: asyncio.StreamWriter) -> None:
        """Forward reader → writer. Reading runs ahead of forwarding, so a chunk held back by a
        stall is dropped if its sender closes the connection meanwhile (as a reset would)."""
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        sender_gone = asyncio.Event()

        async def read() -> None:
            try:
                while data := await reader.read(CHUNK):
                    chunks.put_nowait(data)
            except OSError:
                pass
            sender_gone.set()
            chunks.put_nowait(None)

        reading = asyncio.ensure_future(read())
        try:
            while (data := await chunks.get()) is not None:
                mode = self.mode
                if mode.name == "flaky":
                    if self._rng.random() < mode.stall_rate:
                        await asyncio.sleep(mode.stall_s)
                        if sender_gone.is_set():
                            break
                    if self._rng.random() < mode.cut_rate:
                        self.cuts += 1
                        break
                if mode.name == "down":
                    break
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            reading.cancel()
            writer.transport.abort()
            other.transport.abort()
