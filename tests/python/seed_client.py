"""The light switch client of the write-up, on a current `websockets` release.

Usage: seed_client.py URL [MESSAGE]
Prints the reply, or "connection closed error CODE REASON" when the server closes.
"""

import asyncio
import sys

import websockets


async def main(url: str, message: str) -> None:
    try:
        async with websockets.connect(url) as websocket:
            await websocket.send(message)
            print(await websocket.recv())
    except websockets.ConnectionClosed as closed:
        frame = closed.rcvd
        print("connection closed error", frame.code if frame else None, frame.reason if frame else "")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "00-12-4b-01"))
