"""The seed's stack under test: websockets-routes 0.2 on websockets 10.4.

`/echo/{id}` echoes every message. Prints `listening on ws://HOST:PORT` once bound.

Usage: seed_echo.py [--addr HOST:PORT]
"""

import argparse
import asyncio
import resource

import websockets
import websockets_routes

router = websockets_routes.Router()


@router.route("/echo/{id}")
async def echo(ws, path):
    room = path.params["id"]
    assert room, "the router never matches an empty segment"
    async for message in ws:
        await ws.send(message)


async def main(host: str, port: int) -> None:
    # The router is the connection handler, as websockets-routes' README shows. (Its own
    # `Router.serve` fails on websockets 10.4, which wraps the handler it passes on.)
    server = await websockets.serve(router, host, port)
    bound_host, bound_port = server.sockets[0].getsockname()[:2]
    print(f"listening on ws://{bound_host}:{bound_port}", flush=True)
    await asyncio.Future()


def raise_open_files() -> None:
    """Room for thousands of idle connections: the soft limit up to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:0", help="address to listen on")
    host, port = parser.parse_args().addr.rsplit(":", 1)
    raise_open_files()
    asyncio.run(main(host, int(port)))
