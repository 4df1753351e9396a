"""The OpenAPI schema describes every identity route, its auth and its error answers."""

from __future__ import annotations

from typing import Any

PUBLIC = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/password/forgot"),
    ("post", "/api/v1/auth/password/reset"),
    ("post", "/api/v1/auth/check-email"),
    ("get", "/api/v1/auth/oauth/providers"),
}
PREFIXES = (
    "/api/v1/auth",
    "/api/v1/users",
    "/api/v1/admin/users",
    "/api/v1/admin/audit-logs",
    "/api/v1/admin/api-keys",
)


def test_identity_routes_are_documented(app: Any) -> None:
    schema = app.openapi()
    operations = [
        (method, path, op)
        for path, item in schema["paths"].items()
        if path.startswith(PREFIXES)
        for method, op in item.items()
    ]
    # auth 11 + external sign-in 4, users 9 + identities 2 + own audit logs 3, admin users 6 +
    # identities 1, audit logs 2, api keys 3
    assert len(operations) == 41
    schemes = set(schema["components"]["securitySchemes"])
    assert {"OAuth2PasswordBearer", "ApiKey", "AdminKey"} <= schemes
    assert (
        schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"][
            "tokenUrl"
        ]
        == "/api/v1/auth/token"
    )
    for method, path, op in operations:
        assert op.get("summary") and op.get("description"), (method, path)
        if (method, path) in PUBLIC:
            assert "security" not in op, (method, path)
        else:
            assert op.get("security"), (method, path)
            assert "401" in op["responses"], (method, path)
    login = schema["paths"]["/api/v1/auth/login"]["post"]
    assert set(login["responses"]) >= {"200", "401", "403", "422", "429"}
    pair = schema["components"]["schemas"]["TokenPair"]["properties"]
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
