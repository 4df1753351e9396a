"""`studyhall.wiring`: every job kind and deletion reaction is registered explicitly, by the
entries (create_app, the worker command), never as a side effect of importing a router."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import studyhall
from studyhall.billing import payments
from studyhall.config import Settings
from studyhall.courses import service as courses
from studyhall.identity import service as identity
from studyhall.jobs.registry import KINDS, PERIODIC, JobContext, register_kind
from studyhall.main import create_app

SRC = Path(studyhall.__file__).parent
STUDYHALL = str(Path(sys.executable).parent / "studyhall")

# What a domain must do when a user, course or lesson goes: the contract of each domain with
# identity and courses (a reaction missing here is personal data or files left behind).
USER_DELETION = {
    "studyhall.courses.reactions.delete_user_data",
    "studyhall.assessments.reactions.delete_user_data",
    "studyhall.billing.reactions.forget_user",
    "studyhall.tutor.service.forget_user",
    "studyhall.video.service.forget_viewer",
}
COURSE_DELETION = {
    "studyhall.assessments.reactions.delete_course_content",
    "studyhall.knowledge.service.delete_course_data",
    "studyhall.tutor.service.forget_course",
    "studyhall.video.service.delete_course_videos",
}
LESSON_DELETION = {
    "studyhall.assessments.reactions.detach_lesson",
    "studyhall.video.service.detach_lesson_videos",
}
PERIODIC_KINDS = {
    "billing.expire_reservations",
    "knowledge.reindex",
    "video.expire_uploads",
    "workspaces.cull_idle",
}

# Run the real `studyhall worker` command in a fresh interpreter, then report what it knew.
_WORKER_SCRIPT = """
import json, sys
from studyhall.cli import app
try:
    app(["worker", "--concurrency", "1", "--shutdown-timeout", "5"], standalone_mode=False)
finally:
    edges = sorted(
        m for m in sys.modules
        if m.endswith(".router") or m.endswith("_router")
        or m in ("studyhall.api", "studyhall.main")
        or m.startswith(("studyhall.web", "studyhall.compat"))
    )
    from studyhall.billing import bulk, payments
    from studyhall.courses import service as courses
    from studyhall.identity import service as identity
    from studyhall.jobs.registry import KINDS, PERIODIC

    def names(hooks):
        return [f"{h.__module__}.{h.__qualname__}" for h in hooks]

    print("REPORT " + json.dumps({
        "edges": edges,
        "kinds": {k: f"{v.handler.__module__}.{v.handler.__qualname__}" for k, v in KINDS.items()},
        "periodic": sorted(PERIODIC),
        "user": names(identity.user_deletion_hooks()),
        "course": names(courses.course_deletion_hooks()),
        "lesson": names(courses.lesson_deletion_hooks()),
        "scores": names(courses.lesson_scores_providers()),
        "seats": [names(h) for h in payments.course_seat_hooks()],
        "bulk": names(bulk.course_students_providers()),
    }), flush=True)
"""


def _name(fn: Any) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


# The functions that put a job of the given `kind=` in the queue.
_ENQUEUERS = {"enqueue", "delete_files_later", "enqueue_once"}


def _pass_through_calls(tree: ast.Module) -> set[int]:
    """The enqueuing calls inside an enqueuer that hand on its own `kind` parameter: their
    kinds are those of the enqueuer's callers, which the scan reads there."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _ENQUEUERS:
            own = {a.arg for a in (*node.args.args, *node.args.kwonlyargs)}
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and any(
                    kw.arg == "kind" and isinstance(kw.value, ast.Name) and kw.value.id in own
                    for kw in call.keywords
                ):
                    skipped.add(id(call))
    return skipped


def _enqueued_kinds() -> set[str]:
    """Every job kind some code in src enqueues, read from the source: the `kind=` argument of
    each call that enqueues, resolved through the module-level string constants."""
    constants: dict[str, set[str]] = {}
    calls: list[tuple[Path, ast.expr]] = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants.setdefault(target.id, set()).add(node.value.value)
        pass_through = _pass_through_calls(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in pass_through:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in _ENQUEUERS:
                    calls += [(path, kw.value) for kw in node.keywords if kw.arg == "kind"]
    kinds: set[str] = set()
    for path, value in calls:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            kinds.add(value.value)
        elif isinstance(value, ast.Name | ast.Attribute):
            key = value.id if isinstance(value, ast.Name) else value.attr
            if key in constants:
                kinds |= constants[key]
            else:
                # Only the queue itself passes kinds through (a periodic kind by its name).
                assert path.parent.name == "jobs", f"{path}: unresolvable job kind {key}"
    assert len(kinds) >= 9  # the scan found the calls (a broken scan would prove nothing)
    return kinds


def _handlers_in_src() -> set[str]:
    """Every public `async def f(ctx: JobContext)` anywhere in src: a job handler."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        module = ".".join(("studyhall", *path.relative_to(SRC).with_suffix("").parts))
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.AsyncFunctionDef)
                and not node.name.startswith("_")
                and [ast.unparse(a.annotation) for a in node.args.args if a.annotation]
                == ["JobContext"]
            ):
                found.add(f"{module}.{node.name}")
    assert len(found) >= 8  # the scan found them (a broken scan would prove nothing)
    return found


def test_a_worker_that_imports_no_router_knows_every_kind_and_reaction(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDYHALL_")}
    env.update(STUDYHALL_DATA_DIR=str(tmp_path), STUDYHALL_LOG_LEVEL="WARNING")
    migrated = subprocess.run(
        [STUDYHALL, "migrate"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER_SCRIPT],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        started = process.stdout.readline()
        assert "running" in started, process.stderr.read() if process.stderr else started
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reports = [line for line in out.splitlines() if line.startswith("REPORT ")]
    assert reports, err
    report = json.loads(reports[0].removeprefix("REPORT "))

    assert report["edges"] == []  # no router, web page or dialect was imported
    kinds: dict[str, str] = report["kinds"]
    assert _enqueued_kinds() <= set(kinds)
    assert set(kinds.values()) == _handlers_in_src()
    assert set(report["periodic"]) == PERIODIC_KINDS
    assert set(report["user"]) == USER_DELETION
    assert set(report["course"]) == COURSE_DELETION
    assert set(report["lesson"]) == LESSON_DELETION
    assert report["scores"] == ["studyhall.assessments.reactions.best_lesson_scores"]
    assert report["seats"] == [
        ["studyhall.courses.checkout.enroll_payer"],
        ["studyhall.courses.checkout.end_paid_seat"],
    ]
    assert report["bulk"] == ["studyhall.courses.lookups.enrolled_student_ids"]


def test_create_app_wires_the_same_and_again_changes_nothing(settings: Settings) -> None:
    create_app(settings, run_worker=False)
    before = (
        dict(KINDS),
        dict(PERIODIC),
        identity.user_deletion_hooks(),
        courses.course_deletion_hooks(),
        courses.lesson_deletion_hooks(),
        courses.lesson_scores_providers(),
        payments.course_seat_hooks(),
    )
    create_app(settings, run_worker=False)
    create_app(settings, run_worker=False)
    after = (
        dict(KINDS),
        dict(PERIODIC),
        identity.user_deletion_hooks(),
        courses.course_deletion_hooks(),
        courses.lesson_deletion_hooks(),
        courses.lesson_scores_providers(),
        payments.course_seat_hooks(),
    )
    assert after == before
    assert [len(h) for h in payments.course_seat_hooks()] == [1, 1]
    assert {_name(h) for h in identity.user_deletion_hooks()} == USER_DELETION
    assert len(identity.user_deletion_hooks()) == len(USER_DELETION)
    assert {_name(h) for h in courses.course_deletion_hooks()} == COURSE_DELETION
    assert len(courses.course_deletion_hooks()) == len(COURSE_DELETION)
    assert {_name(h) for h in courses.lesson_deletion_hooks()} == LESSON_DELETION
    assert _enqueued_kinds() <= set(KINDS)


def test_a_kind_name_cannot_be_taken_by_a_second_handler() -> None:
    async def first(ctx: JobContext) -> None:
        return None

    async def second(ctx: JobContext) -> None:
        return None

    register_kind("test.taken", first, max_attempts=2)
    try:
        register_kind("test.taken", first, max_attempts=2)  # the same again: accepted
        with pytest.raises(ValueError, match=r"test\.taken"):
            register_kind("test.taken", second)
        assert KINDS["test.taken"].handler is first
    finally:
        KINDS.pop("test.taken", None)
