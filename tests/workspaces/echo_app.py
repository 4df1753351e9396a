"""A tiny workspace for the tests: HTTP and WebSocket echo, standard library only.

Run as a workspace command (`python echo_app.py {port}`): it serves on 127.0.0.1:<port> and
answers only requests that carry its token (`Authorization: token <STUDYHALL_WORKSPACE_TOKEN>`),
as JupyterLab does. An HTTP request gets JSON describing what arrived (method, path, headers,
body) and the process (uid, address-space limit, home); `PUT .../files/<name>` and
`GET .../files/<name>` keep a file in the home; a WebSocket echoes every message as `echo:<m>`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import resource
import struct
import sys
from pathlib import Path

TOKEN = os.environ["STUDYHALL_WORKSPACE_TOKEN"]
HOME = Path(os.environ["HOME"])
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]] | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = raw.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


def reply(writer: asyncio.StreamWriter, status: int, body: bytes, kind: str) -> None:
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        "Set-Cookie: app_cookie=1; Path=/\r\nSet-Cookie: app_other=2; Path=/\r\n\r\n".encode()
        + body
    )


async def websocket(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]
) -> None:
    accept = base64.b64encode(
        hashlib.sha1((headers["sec-websocket-key"] + WS_GUID).encode()).digest()
    ).decode()
    protocol = headers.get("sec-websocket-protocol", "").split(",")[0].strip()
    extra = f"Sec-WebSocket-Protocol: {protocol}\r\n" if protocol else ""
    writer.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n".encode()
    )
    while True:
        first, second = await reader.readexactly(2)
        opcode, length = first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if opcode == 8:
            writer.write(b"\x88\x00")
            await writer.drain()
            return
        if opcode in (1, 2):
            payload = (b"echo:" if opcode == 1 else b"") + data
            size = len(payload)
            head = bytes([0x80 | opcode])
            if size < 126:
                head += bytes([size])
            elif size < 65536:
                head += bytes([126]) + struct.pack("!H", size)
            else:
                head += bytes([127]) + struct.pack("!Q", size)
            writer.write(head + payload)
            await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await read_head(reader)
            if head is None:
                return
            method, target, headers = head
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
            if headers.get("authorization") != f"token {TOKEN}":
                reply(writer, 403, b'{"error": "bad token"}', "application/json")
            elif headers.get("upgrade", "").lower() == "websocket":
                await websocket(reader, writer, headers)
                return
            elif "/files/" in target:
                path = HOME / target.rsplit("/files/", 1)[1]
                if method == "PUT":
                    path.write_bytes(body)
                    reply(writer, 201, b"", "text/plain")
                elif path.exists():
                    reply(writer, 200, path.read_bytes(), "text/plain")
                else:
                    reply(writer, 404, b"", "text/plain")
            else:
                info = {
                    "method": method,
                    "target": target,
                    "headers": headers,
                    "body": body.decode("utf-8", "replace"),
                    "uid": os.getuid(),
                    "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
                    "home": str(HOME),
                    "environ": sorted(os.environ),
                }
                reply(writer, 200, json.dumps(info).encode(), "application/json")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        return
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
