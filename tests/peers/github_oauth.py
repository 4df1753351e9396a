"""A real local HTTP server shaped like GitHub's OAuth2 endpoints and REST API.

It speaks what StudyHall's GitHub sign-in uses: `GET /login/oauth/authorize` (approves at once as
the user the test chose, redirecting with `code` and `state`; PKCE S256 when a challenge is sent),
`POST /login/oauth/access_token` answering **form-encoded** as GitHub does by default (errors
too, with status 200: `error=bad_verification_code`), and `GET /user` and `GET /user/emails` with
a Bearer token. Codes are single use and bound to their redirect_uri. `fail_next` makes the next
request answer that HTTP status (a provider that is down).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

CLIENT_ID = "Iv1.studyhall-test"
CLIENT_SECRET = "github-test-client-secret-0123456789"


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None
    emails: list[dict[str, Any]]


@dataclass
class GitHubPeer:
    """The fake GitHub; `approve_as` is the login the next authorization signs in as."""

    users: dict[str, GitHubUser] = field(default_factory=dict)
    approve_as: str | None = None
    fail_next: int | None = None
    # When set, /user and /user/emails answer this status (the API is down, OAuth is not).
    fail_api: int | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(
        self,
        login: str,
        *,
        email: str,
        verified: bool = True,
        extra: list[dict[str, Any]] = (),  # type: ignore[assignment]
    ) -> GitHubUser:
        user = GitHubUser(
            id=1000 + len(self.users),
            login=login,
            name=f"Test {login}",
            emails=[
                {"email": email, "primary": True, "verified": verified, "visibility": "private"},
                *extra,
            ],
        )
        self.users[login] = user
        return user

    def start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, body: Any) -> None:
                self._send(status, json.dumps(body).encode(), "application/json; charset=utf-8")

            def _form(self, fields: dict[str, str]) -> None:
                # GitHub's default token answer: form-encoded, status 200 even for errors.
                self._send(200, urlencode(fields).encode(), "application/x-www-form-urlencoded")

            def _failing(self) -> bool:
                with peer._lock:
                    status, peer.fail_next = peer.fail_next, None
                if status is None:
                    return False
                self._json(status, {"message": "Service unavailable"})
                return True

            def do_GET(self) -> None:
                if self._failing():
                    return
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                if parts.path == "/login/oauth/authorize":
                    self._authorize(query)
                elif parts.path in ("/user", "/user/emails"):
                    self._api(parts.path)
                else:
                    self._json(404, {"message": "Not Found"})

            def _authorize(self, query: dict[str, str]) -> None:
                login = peer.approve_as
                if query.get("client_id") != CLIENT_ID or login not in peer.users:
                    self._json(400, {"message": "unknown client or user"})
                    return
                code = secrets.token_hex(10)
                with peer._lock:
                    peer.codes[code] = {
                        "login": login,
                        "redirect_uri": query.get("redirect_uri", ""),
                        "challenge": query.get("code_challenge"),
                        "method": query.get("code_challenge_method"),
                    }
                target = (
                    query["redirect_uri"]
                    + "?"
                    + urlencode({"code": code, "state": query.get("state", "")})
                )
                self._send(302, b"", "text/plain", Location=target)

            def _api(self, path: str) -> None:
                if peer.fail_api is not None:
                    self._json(peer.fail_api, {"message": "Server Error"})
                    return
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").removeprefix("token ").strip()
                login = peer.tokens.get(token)
                if login is None:
                    self._json(401, {"message": "Bad credentials"})
                    return
                user = peer.users[login]
                if path == "/user":
                    self._json(
                        200,
                        {"id": user.id, "login": user.login, "name": user.name, "email": None},
                    )
                else:
                    self._json(200, user.emails)

            def do_POST(self) -> None:
                if self._failing():
                    return
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                if urlsplit(self.path).path != "/login/oauth/access_token":
                    self._json(404, {"message": "Not Found"})
                    return
                peer.token_requests.append(form)
                if form.get("client_id") != CLIENT_ID or form.get("client_secret") != (
                    CLIENT_SECRET
                ):
                    self._form({"error": "incorrect_client_credentials"})
                    return
                with peer._lock:
                    grant = peer.codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri", ""):
                    self._form(
                        {
                            "error": "bad_verification_code",
                            "error_description": "The code passed is incorrect or expired.",
                        }
                    )
                    return
                if grant["challenge"]:
                    verifier = form.get("code_verifier", "")
                    digest = hashlib.sha256(verifier.encode()).digest()
                    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
                    if grant["method"] != "S256" or expected != grant["challenge"]:
                        self._form({"error": "bad_verification_code"})
                        return
                token = "gho_" + secrets.token_hex(16)
                peer.tokens[token] = grant["login"]
                self._form(
                    {"access_token": token, "scope": "read:user,user:email", "token_type": "bearer"}
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
