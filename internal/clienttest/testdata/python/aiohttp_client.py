"""An SSE stream and a WebSocket from aiohttp's client (Debian's
python3-aiohttp), as a Python program uses them.

Usage: python3 aiohttp_client.py sse URL [LAST_EVENT_ID]
       python3 aiohttp_client.py ws URL
Writes one JSON line per event to stdout. For ws, reads commands from stdin:
{"op":"send","data":"...","binary":false} and {"op":"close","code":4002,"reason":"..."}.
Ends when stdin ends.
"""
import asyncio
import json
import sys

import aiohttp


def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def report(task):
    """Reports a task that failed, which asyncio would not show."""
    if not task.cancelled() and task.exception() is not None:
        out({"ev": "error", "reason": repr(task.exception())})


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)  # commands carry messages over 64 KiB
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def sse(session, url, last_event_id):
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        out({"ev": "open", "status": resp.status})
        event_id, data = "", []
        # A line at a time, as it arrives: the minimal parser of the
        # text/event-stream format that such programs carry.
        async for raw in resp.content:
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if data:
                    out({"ev": "event", "id": event_id, "data": "\n".join(data)})
                data = []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data.append(value)


async def ws_client(session, url):
    async with session.ws_connect(url, compress=15, max_msg_size=1 << 22) as ws:
        out({"ev": "open", "extensions": "permessage-deflate" if ws.compress else ""})
        reader = await stdin_lines()
        closing = []  # our own close, in progress

        async def commands():
            async for line in reader:
                cmd = json.loads(line)
                if cmd["op"] == "send":
                    if cmd.get("binary"):
                        await ws.send_bytes(cmd["data"].encode())
                    else:
                        await ws.send_str(cmd["data"])
                elif cmd["op"] == "close":
                    closing.append(asyncio.ensure_future(ws.close(code=cmd["code"], message=cmd["reason"].encode())))
            await ws.close()

        task = asyncio.create_task(commands())
        task.add_done_callback(report)
        reason = ""
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                out({"ev": "message", "binary": False, "data": msg.data})
            elif msg.type == aiohttp.WSMsgType.BINARY:
                out({"ev": "message", "binary": True, "data": msg.data.decode()})
            else:
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    reason = msg.extra or ""
                elif msg.type == aiohttp.WSMsgType.CLOSING and closing:
                    # Our close() is under way: leaving the "async with"
                    # before it ends would close again with 1000.
                    await closing[0]
                break
        out({"ev": "close", "code": ws.close_code, "reason": reason})
        task.cancel()


async def main():
    mode, url = sys.argv[1], sys.argv[2]
    async with aiohttp.ClientSession() as session:
        if mode == "sse":
            task = asyncio.create_task(sse(session, url, sys.argv[3] if len(sys.argv) > 3 else ""))
            reader = await stdin_lines()
            await reader.read()  # until stdin ends
            task.cancel()
        else:
            await ws_client(session, url)


asyncio.run(main())
