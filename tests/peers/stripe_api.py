"""A real local HTTP server standing in for the Stripe API, plus signed webhook events.

It speaks the small part of Stripe's wire protocol that checkout uses: form-encoded
`POST /v1/payment_intents` (with nested `metadata[...]` keys, Bearer secret key, Idempotency-Key
replay) and `GET /v1/payment_intents/{id}`, answering Stripe-shaped JSON. Point the official
library at it with `StripeClient(key, base_addresses={"api": peer.url})`
(settings.billing.stripe_api_base).

Hosted Checkout: `POST /v1/checkout/sessions` answers a session whose `url` is this server's
`/pay/<session id>`; `complete_session` pays it the way Stripe does (a PaymentIntent made with the
session's `payment_intent_data`) and returns the `payment_intent.succeeded` event.

`succeeded_event` / `refunded_event` build the events Stripe would send for an intent, and
`sign` computes the `Stripe-Signature` header exactly as Stripe does (HMAC-SHA256 of
"<timestamp>.<payload>" with the endpoint secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

SECRET_KEY = "sk_test_studyhall_local"
PUBLISHABLE_KEY = "pk_test_studyhall_local"
WEBHOOK_SECRET = "whsec_studyhall_local_test_secret"


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[user_id]=x` → {"metadata": {"user_id": "x"}} (Stripe's form encoding)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class StripePeer:
    """The fake Stripe API; `fail_next` makes the next request answer that HTTP status."""

    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    idempotent: dict[str, str] = field(default_factory=dict)
    fail_next: int | None = None
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                self.end_headers()
                self.wfile.write(data)

            def _error(
                self, status: int, message: str, kind: str = "invalid_request_error"
            ) -> None:
                self._reply(status, {"error": {"type": kind, "message": message}})

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {SECRET_KEY}":
                    self._error(401, "Invalid API Key provided", "authentication_error")
                    return False
                return True

            def _failure_injected(self) -> bool:
                with peer._lock:
                    status, peer.fail_next = peer.fail_next, None
                if status is None:
                    return False
                self._error(status, "Injected failure", "api_error")
                return True

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                params = _unflatten(parse_qsl(raw, keep_blank_values=True))
                with peer._lock:
                    peer.requests.append(("POST", self.path, params))
                if self._failure_injected() or not self._authorized():
                    return
                if self.path == "/v1/checkout/sessions":
                    self._reply(200, peer._checkout_session(params, self.headers))
                    return
                if self.path != "/v1/payment_intents":
                    self._error(404, f"Unrecognized request URL (POST: {self.path})")
                    return
                key = self.headers.get("Idempotency-Key")
                with peer._lock:
                    if key and key in peer.idempotent:
                        self._reply(200, peer.intents[peer.idempotent[key]])
                        return
                    try:
                        amount = int(params["amount"])
                        currency = str(params["currency"])
                    except (KeyError, ValueError):
                        self._error(400, "Missing required param: amount or currency")
                        return
                    intent = peer._new_intent(
                        amount, currency, params.get("description"), params.get("metadata", {})
                    )
                    intent_id = intent["id"]
                    if key:
                        peer.idempotent[key] = intent_id
                self._reply(200, intent)

            def do_GET(self) -> None:
                with peer._lock:
                    peer.requests.append(("GET", self.path, {}))
                if self._failure_injected() or not self._authorized():
                    return
                prefix = "/v1/payment_intents/"
                intent = (
                    peer.intents.get(self.path[len(prefix) :])
                    if self.path.startswith(prefix)
                    else None
                )
                if intent is None:
                    self._error(404, "No such payment_intent")
                    return
                self._reply(200, intent)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _new_intent(
        self, amount: int, currency: str, description: str | None, metadata: dict[str, Any]
    ) -> dict[str, Any]:
        """A new unpaid PaymentIntent (the caller holds the lock)."""
        intent_id = "pi_" + secrets.token_hex(12)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "description": description,
            "metadata": metadata,
            "status": "requires_payment_method",
            "livemode": False,
            "created": int(time.time()),
        }
        self.intents[intent_id] = intent
        return intent

    def _checkout_session(self, params: dict[str, Any], headers: Any) -> dict[str, Any]:
        key = headers.get("Idempotency-Key")
        with self._lock:
            if key and key in self.idempotent:
                return self.sessions[self.idempotent[key]]
            item = params["line_items"]["0"]
            session_id = "cs_test_" + secrets.token_hex(12)
            session = {
                "id": session_id,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "url": f"{self.url}/pay/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
                "amount_total": int(item["price_data"]["unit_amount"]) * int(item["quantity"]),
                "currency": item["price_data"]["currency"],
                "metadata": params.get("metadata", {}),
                "client_reference_id": params.get("client_reference_id"),
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "payment_intent_data": params.get("payment_intent_data", {}),
                "livemode": False,
            }
            self.sessions[session_id] = session
            if key:
                self.idempotent[key] = session_id
            return session

    def complete_session(self, session_id: str) -> dict[str, Any]:
        """The student pays on the hosted page: the session's PaymentIntent is made and
        succeeds; returns its `payment_intent.succeeded` event."""
        with self._lock:
            session = self.sessions[session_id]
            data = session["payment_intent_data"]
            intent_id = self._new_intent(
                session["amount_total"],
                session["currency"],
                data.get("description"),
                data.get("metadata", {}),
            )["id"]
            session.update(status="complete", payment_status="paid", payment_intent=intent_id)
        return self.succeeded_event(intent_id)

    # Events the provider would send

    def succeeded_event(self, intent_id: str) -> dict[str, Any]:
        """Mark the intent paid and return its `payment_intent.succeeded` event."""
        with self._lock:
            intent = self.intents[intent_id]
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            intent["latest_charge"] = "ch_" + intent_id[3:]
            snapshot = json.loads(json.dumps(intent))
        return _event("payment_intent.succeeded", snapshot)

    def refunded_event(self, intent_id: str, amount_refunded: int) -> dict[str, Any]:
        """A `charge.refunded` event for the intent's charge (amount_refunded is cumulative)."""
        with self._lock:
            intent = self.intents[intent_id]
            charge = {
                "id": "ch_" + intent_id[3:],
                "object": "charge",
                "amount": intent["amount"],
                "amount_refunded": amount_refunded,
                "currency": intent["currency"],
                "payment_intent": intent_id,
                "refunded": amount_refunded >= intent["amount"],
                "metadata": {},
            }
        return _event("charge.refunded", charge)


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "type": kind,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for a payload, as Stripe computes it."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload.decode()}".encode(), hashlib.sha256)
    return f"t={ts},v1={mac.hexdigest()}"
