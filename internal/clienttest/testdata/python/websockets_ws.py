"""A WebSocket client from the websockets package (Debian's
python3-websockets), with permessage-deflate offered (its default).

Usage: python3 websockets_ws.py URL [WINDOW_BITS]
With WINDOW_BITS, the offer asks for windows of that size both ways.
Writes one JSON line per event to stdout; reads commands from stdin:
{"op":"send","data":"...","binary":false} and {"op":"close","code":4002,"reason":"..."}.
"""
import asyncio
import json
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def report(task):
    """Reports a task that failed, which asyncio would not show."""
    if not task.cancelled() and task.exception() is not None:
        out({"ev": "error", "reason": repr(task.exception())})


async def commands(ws):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)  # commands carry messages over 64 KiB
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async for line in reader:
        cmd = json.loads(line)
        if cmd["op"] == "send":
            await ws.send(cmd["data"].encode() if cmd.get("binary") else cmd["data"])
        elif cmd["op"] == "close":
            await ws.close(code=cmd["code"], reason=cmd["reason"])
    # stdin ended: the test is done with this client.
    await ws.close()


async def main():
    options = {"compression": "deflate"}
    if len(sys.argv) > 2:
        bits = int(sys.argv[2])
        options = {
            "compression": None,
            "extensions": [ClientPerMessageDeflateFactory(server_max_window_bits=bits, client_max_window_bits=bits)],
        }
    async with websockets.connect(sys.argv[1], max_size=1 << 22, **options) as ws:
        out({"ev": "open", "extensions": ws.response_headers.get("Sec-WebSocket-Extensions", "")})
        task = asyncio.create_task(commands(ws))
        task.add_done_callback(report)
        try:
            async for msg in ws:
                binary = isinstance(msg, bytes)
                out({"ev": "message", "binary": binary, "data": msg.decode() if binary else msg})
        except websockets.ConnectionClosed:
            pass
        out({"ev": "close", "code": ws.close_code, "reason": ws.close_reason})
        task.cancel()


asyncio.run(main())
