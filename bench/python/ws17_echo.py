"""websockets 17 under test, with its own router (websockets.asyncio.router.route, werkzeug).

`/echo/<id>` echoes every message. Prints `listening on ws://HOST:PORT` once bound.

Usage: ws17_echo.py [--addr HOST:PORT]
"""

import argparse
import asyncio
import resource

from websockets.asyncio.router import route
from werkzeug.routing import Map, Rule


async def echo(ws, id):
    assert id, "the router never matches an empty segment"
    async for message in ws:
        await ws.send(message)


URL_MAP = Map([Rule("/echo/<id>", endpoint=echo)])


async def main(host: str, port: int) -> None:
    async with route(URL_MAP, host, port) as server:
        bound_host, bound_port = next(iter(server.sockets)).getsockname()[:2]
        print(f"listening on ws://{bound_host}:{bound_port}", flush=True)
        await server.serve_forever()


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
