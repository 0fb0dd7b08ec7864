"""Python's `msgpack` and `websockets` against the MessagePack chat route of tests/codecs.rs:
events written by another MessagePack implementation decode, the server's events read as
dicts, and a text message to the route is closed with 1003.

Usage: msgpack_chat.py URL
Prints "ok" and exits 0 when every check passes; raises otherwise.
"""

import asyncio
import sys

import msgpack
import websockets


async def event(websocket) -> dict:
    message = await websocket.recv()
    assert isinstance(message, bytes), f"a binary message, got {message!r}"
    return msgpack.unpackb(message)


async def main(url: str) -> None:
    async with websockets.connect(url) as websocket:
        await websocket.send(msgpack.packb({"type": "join", "name": "py"}))
        assert await event(websocket) == {"type": "joined", "name": "py"}

        await websocket.send(msgpack.packb({"type": "say", "text": "héllo"}))
        said = await event(websocket)
        assert said == {"type": "said", "name": "py", "text": "héllo"}, said

        await websocket.send('{"type":"say","text":"as text"}')
        try:
            await websocket.recv()
            raise AssertionError("the text message was answered")
        except websockets.ConnectionClosedError as closed:
            assert closed.rcvd.code == 1003, closed.rcvd
            assert closed.rcvd.reason == "expected MessagePack binary, got a text message"
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
