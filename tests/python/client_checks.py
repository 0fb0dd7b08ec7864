"""Python's `websockets` client against a ws-routes echo route: binary messages, a fragmented
message, a ping and its pong, and a close handshake with a code and reason.

Usage: client_checks.py URL
Prints "ok" and exits 0 when every check passes; raises otherwise.
"""

import asyncio
import sys

import websockets


async def main(url: str) -> None:
    async with websockets.connect(url) as websocket:
        binary = bytes(range(256)) * 4
        await websocket.send(binary)
        assert await websocket.recv() == binary, "binary echo"

        # An iterable is sent as one message in several frames.
        await websocket.send(["frag", "ment", "ed"])
        assert await websocket.recv() == "fragmented", "fragmented text echo"
        await websocket.send([b"\x00\x01", b"\x02"])
        assert await websocket.recv() == b"\x00\x01\x02", "fragmented binary echo"

        pong = await websocket.ping(b"are you there?")
        # The pong arrives, or this times out.
        await asyncio.wait_for(pong, timeout=10)

        await websocket.close(code=4001, reason="python says bye")
        assert websocket.protocol.close_rcvd is not None, "the server answered the close"
        assert websocket.protocol.close_rcvd.code == 4001, websocket.protocol.close_rcvd
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
