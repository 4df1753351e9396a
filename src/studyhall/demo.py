"""Demo data: known accounts (and a demo course) so a new install shows a populated platform."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.config import Settings
from studyhall.core.db import Database
from studyhall.core.errors import NotFound
from studyhall.core.security import hash_password
from studyhall.demo_content import seed_demo_course
from studyhall.identity import service as identity
from studyhall.identity.models import Role, User, new_user


class KnownAccount(NamedTuple):
    """An account an installation makes sure of: the demo's, the admin of `create-admin`."""

    email: str
    username: str | None
    full_name: str
    role: Role


DEMO_PASSWORD = "studyhall-demo-2026"
DEMO_USERS = [
    KnownAccount("admin@demo.studyhall.example", "demo_admin", "Ada Admin", Role.admin),
    KnownAccount("teacher@demo.studyhall.example", "demo_teacher", "Theo Teacher", Role.teacher),
    KnownAccount("student1@demo.studyhall.example", "demo_student1", "Sam Student", Role.student),
    KnownAccount("student2@demo.studyhall.example", "demo_student2", "Sofia Student", Role.student),
    KnownAccount(
        "student3@demo.studyhall.example", "demo_student3", "Santiago Student", Role.student
    ),
]


async def ensure_user(
    session: AsyncSession, account: KnownAccount, *, password: str, reset: bool = False
) -> tuple[User, bool]:
    """Create the account if missing; with reset, also set its role and password."""
    try:
        user: User | None = await identity.admin_get_user_by_login(session, login=account.email)
    except NotFound:
        user = None
    if user is None:
        user = new_user(
            email=account.email.lower(),
            username=account.username,
            full_name=account.full_name,
            password_hash=hash_password(password),
            role=account.role,
            is_verified=True,
        )
        session.add(user)
        await session.flush()
        return user, True
    if reset:
        user.role = account.role
        user.password_hash = hash_password(password)
        user.is_active = True
        user.auth_version += 1
    return user, False


async def seed_demo(settings: Settings) -> list[str]:
    """Create the demo accounts and content; returns lines to show the operator."""
    db = Database(settings.database_url or "")
    try:
        async with db.session() as session:
            users = {}
            for account in DEMO_USERS:
                user, _ = await ensure_user(session, account, password=DEMO_PASSWORD)
                users[account.email] = user
            await seed_demo_course(
                session,
                teacher_id=users["teacher@demo.studyhall.example"].id,
                student_ids=[u.id for u in users.values() if u.role == Role.student],
            )
    finally:
        await db.dispose()
    lines = [f"demo password for every account: {DEMO_PASSWORD}"]
    lines += [f"  {account.role.value:<8} {account.email}" for account in DEMO_USERS]
    return lines
