"""A Vimeo-shaped REST peer (the parts StudyHall uses), whose upload links point at a real tus
server (the reference `@tus/server` peer).

`POST /me/videos` with `upload.approach=tus` creates the upload on the tus server (a real tus
creation request with the size) and answers Vimeo's shape (`uri`, `link`, `upload.upload_link`);
`GET /videos/{id}` reports `upload.status` `complete` once the tus server holds every byte;
`PATCH` and `DELETE /videos/{id}` edit and remove. Every request must carry the bearer token and
the versioned `Accept` header, as Vimeo requires; the peer records the calls it received.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "vimeo-test-token-" + uuid.uuid4().hex
ACCEPT = "application/vnd.vimeo.*+json;version=3.4"


@dataclass
class VimeoPeer:
    tus_endpoint: str
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _tus_create(self, size: int) -> str:
        request = urllib.request.Request(
            self.tus_endpoint,
            method="POST",
            headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(size)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            location = response.headers["Location"]
        return str(urllib.parse.urljoin(self.tus_endpoint, location))

    def _tus_offset(self, link: str) -> int:
        request = urllib.request.Request(link, method="HEAD", headers={"Tus-Resumable": "1.0.0"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.headers["Upload-Offset"])

    def _render(self, video_id: str) -> dict[str, Any]:
        video = self.videos[video_id]
        done = self._tus_offset(video["upload_link"]) == video["size"]
        return {
            "uri": f"/videos/{video_id}",
            "link": f"https://vimeo.com/{video_id}",
            "name": video["name"],
            "description": video["description"],
            "privacy": video["privacy"],
            "duration": 42 if done else 0,
            "upload": {
                "approach": "tus",
                "size": video["size"],
                "upload_link": video["upload_link"],
                "status": "complete" if done else "in_progress",
            },
            "transcode": {"status": "complete" if done else "in_progress"},
        }

    def start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/vnd.vimeo.video+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                path = self.path.split("?", 1)[0]
                peer.calls.append((self.command, path, body))
                if self.headers.get("Authorization") != f"bearer {TOKEN}":
                    return self._answer(401, {"error": "You must provide a valid token."})
                if self.headers.get("Accept") != ACCEPT:
                    return self._answer(400, {"error": "Unsupported API version."})
                if self.command == "POST" and path == "/me/videos":
                    upload = (body or {}).get("upload") or {}
                    if upload.get("approach") != "tus" or not str(upload.get("size", "")).isdigit():
                        return self._answer(400, {"error": "upload.approach tus with size"})
                    video_id = str(100000 + len(peer.videos))
                    size = int(upload["size"])
                    peer.videos[video_id] = {
                        "name": body.get("name", "Untitled") if body else "Untitled",
                        "description": (body or {}).get("description", ""),
                        "privacy": (body or {}).get("privacy", {"view": "anybody"}),
                        "size": size,
                        "upload_link": peer._tus_create(size),
                    }
                    return self._answer(200, peer._render(video_id))
                if not path.startswith("/videos/"):
                    return self._answer(404, {"error": "Not found"})
                video_id = path.removeprefix("/videos/")
                if video_id not in peer.videos:
                    return self._answer(404, {"error": "The requested video couldn't be found."})
                if self.command == "GET":
                    return self._answer(200, peer._render(video_id))
                if self.command == "PATCH":
                    peer.videos[video_id].update(
                        {
                            k: v
                            for k, v in (body or {}).items()
                            if k in ("name", "description", "privacy")
                        }
                    )
                    return self._answer(200, peer._render(video_id))
                if self.command == "DELETE":
                    del peer.videos[video_id]
                    return self._answer(204)
                return self._answer(405, {"error": "Method not allowed"})

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
