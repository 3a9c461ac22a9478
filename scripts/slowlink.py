"""A phone's slow link between a browser and a server on loopback, for `make bench`.

    python3 scripts/slowlink.py LISTEN_PORT TARGET_PORT RTT_MS DOWN_KBIT UP_KBIT

Relays TCP from 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT. Every chunk waits half the round
trip in its direction, and each direction is one link all connections share at its bandwidth, so
a new connection pays its handshakes in round trips and six connections do not get six links.
A new connection waits one round trip before anything flows (TCP's handshake).
"""

import asyncio
import sys
import time


class Link:
    """One direction of the link: when it is next free to put bytes on the wire."""

    def __init__(self, kbit_per_sec):
        self.bytes_per_sec = kbit_per_sec * 1000 / 8
        self.free_at = 0.0

    def send_time(self, size, ready):
        start = max(ready, self.free_at)
        self.free_at = start + size / self.bytes_per_sec
        return self.free_at


async def pipe(reader, writer, link, one_way):
    queue = asyncio.Queue()

    async def take():
        while True:
            data = await reader.read(16384)
            await queue.put((time.monotonic(), data))
            if not data:
                return

    async def give():
        while True:
            read_at, data = await queue.get()
            if not data:
                writer.close()
                return
            arrive = link.send_time(len(data), read_at) + one_way
            await asyncio.sleep(max(0.0, arrive - time.monotonic()))
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(take(), give())
    except (ConnectionError, OSError):
        writer.close()


def main():
    listen, target, rtt_ms, down_kbit, up_kbit = map(int, sys.argv[1:6])
    one_way = rtt_ms / 2000
    down, up = Link(down_kbit), Link(up_kbit)

    async def client(reader, writer):
        await asyncio.sleep(2 * one_way)
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(
            pipe(reader, upstream_writer, up, one_way),
            pipe(upstream_reader, writer, down, one_way),
        )

    async def serve():
        server = await asyncio.start_server(client, "127.0.0.1", listen)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
