"""A Python `websockets` echo server, for the ws-routes client to talk to.

Usage: echo_server.py
Prints "listening on ws://127.0.0.1:PORT" once it listens on a free port, echoes every message,
and prints "closed CODE REASON" for each close handshake a client starts.
"""

import asyncio

import websockets


async def echo(websocket) -> None:
    try:
        async for message in websocket:
            await websocket.send(message)
    except websockets.ConnectionClosed:
        pass
    frame = websocket.protocol.close_rcvd
    print("closed", frame.code if frame else None, frame.reason if frame else "", flush=True)


async def main() -> None:
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**24) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening on ws://127.0.0.1:{port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
