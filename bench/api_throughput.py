"""GET /api/v1/users/me (token check + one indexed read) against a bare GET /health.

Starts the real server (uvicorn, 1 and 2 workers) on SQLite and on PostgreSQL, loads both URLs
from a separate process at 64 connections and prints requests/s, p50/p99 and the ratio
users/me ÷ health of the same run (the machine is shared: ratios are what compare across runs).

    .venv/bin/python bench/api_throughput.py [--seconds 8] [--connections 64]
"""

from __future__ import annotations

import argparse
import subprocess

import httpx
from _harness import database, load, postgres_available, server, table

PASSWORD = "bench-password-123"


def _token(base_url: str, env: dict[str, str]) -> str:
    subprocess.run(
        [
            env.get("STUDYHALL_BIN", "studyhall"),
            "create-admin",
            "--email",
            "bench@example.org",
            "--password",
            PASSWORD,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"email": "bench@example.org", "password": PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgres"] if postgres_available() else [])
    rows = [["db", "workers", "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "ratio me/health"]]
    from _harness import BIN

    for kind in kinds:
        for workers in (1, 2):
            with database(kind) as url, server(url, workers=workers) as srv:
                env = {**srv.env, "STUDYHALL_BIN": str(BIN / "studyhall")}
                token = _token(srv.base_url, env)
                health = load(
                    srv.base_url + "/health", connections=args.connections, seconds=args.seconds
                )
                me = load(
                    srv.base_url + "/api/v1/users/me",
                    headers={"Authorization": f"Bearer {token}"},
                    connections=args.connections,
                    seconds=args.seconds,
                )
                ratio = me.rps / health.rps if health.rps else 0.0
                for name, result in (("/health", health), ("/users/me", me)):
                    rows.append(
                        [
                            kind,
                            str(workers),
                            name,
                            f"{result.rps:,.0f}",
                            f"{result.p50_ms:.1f}",
                            f"{result.p99_ms:.1f}",
                            str(result.errors),
                            f"{ratio:.2f}" if name == "/users/me" else "",
                        ]
                    )
    print(f"load tool: {health.tool}, {args.connections} connections, {args.seconds:.0f} s per run")
    print(table(rows))


if __name__ == "__main__":
    main()
