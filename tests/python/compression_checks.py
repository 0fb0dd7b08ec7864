"""Python's `websockets` client against a ws-routes echo route, with permessage-deflate (its
default) and without: checks what was negotiated and that long, short and fragmented messages
come back whole.

Usage: compression_checks.py URL
Prints "ok" and exits 0 when every check passes; raises otherwise.
"""

import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate


def json_like(records: int) -> str:
    return json.dumps([{"id": n, "name": f"sensor-{n % 7}", "value": n * 3.5} for n in range(records)])


async def echoes(websocket) -> None:
    for message in [json_like(300), "short", json_like(2), json_like(3000).encode()]:
        await websocket.send(message)
        assert await websocket.recv() == message, f"echo of {len(message)} bytes"
    # An iterable is sent as one message in several frames, compressed as one.
    await websocket.send([json_like(50), json_like(50)])
    assert await websocket.recv() == json_like(50) + json_like(50), "fragmented echo"


async def main(url: str) -> None:
    async with websockets.connect(url) as websocket:
        extensions = websocket.protocol.extensions
        assert len(extensions) == 1 and isinstance(extensions[0], PerMessageDeflate), extensions
        deflate = extensions[0]
        assert deflate.remote_no_context_takeover and deflate.local_no_context_takeover, deflate
        assert deflate.remote_max_window_bits == 12, deflate
        await echoes(websocket)

    async with websockets.connect(url, compression=None) as websocket:
        assert websocket.protocol.extensions == [], websocket.protocol.extensions
        await echoes(websocket)
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
