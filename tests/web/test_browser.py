"""The web interface in a real browser: Debian's chromium driven by Playwright against a live
server, axe-core (from its npm package) on every page, screenshots as test artifacts.

Slow, so they run once, on PostgreSQL only. Without chromium or axe-core they skip, except under
CI=true where .ci/run installs both and a missing one fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from textwrap import fill
from typing import Any

import httpx
import pytest

from studyhall.identity.models import Role
from studyhall.jobs.worker import Worker
from tests.conftest import MakeUser
from tests.courses.helpers import API, Headers, add_lesson, add_module, create_course
from tests.knowledge.pdfgen import text_pdf
from tests.peers.smtp import SMTPPeer
from tests.tutor.conftest import live_server
from tests.web.test_teacher_content_pages import SCIQ
from tests.web.test_tutor_pages import PAGES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = (
    Path(__file__).resolve().parents[1]
    / "peers"
    / "web"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)
ARTIFACTS = Path(os.environ.get("STUDYHALL_TEST_ARTIFACTS", "test-artifacts")) / "web"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
PASSWORD = "Compiler-Nanosecond-1952"
# A few seconds of real WebM video, made by the page itself (canvas + MediaRecorder): its bytes.
RECORD_WEBM = """async (ms) => {
  const canvas = Object.assign(document.createElement("canvas"), {width: 160, height: 90});
  const g = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(25), {mimeType: "video/webm"});
  const parts = [];
  recorder.ondataavailable = (e) => parts.push(e.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  const start = performance.now();
  const draw = () => {
    g.fillStyle = `hsl(${(performance.now() - start) / 10 % 360} 70% 50%)`;
    g.fillRect(0, 0, 160, 90);
    if (recorder.state === "recording") requestAnimationFrame(draw);
  };
  recorder.start();
  draw();
  await new Promise((resolve) => setTimeout(resolve, ms));
  recorder.stop();
  await stopped;
  return Array.from(new Uint8Array(await new Blob(parts).arrayBuffer()));
}"""

# A slow machine (2 shared cores) needs minutes for the screenshots of every page.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _require_tools(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("browser tests run once, on PostgreSQL")
    missing = [str(p) for p in (Path(CHROMIUM), AXE) if not p.exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs these, but they are missing: {missing}")
        pytest.skip(f"missing {missing} (apt-get install chromium; npm ci in tests/peers/web)")


@pytest.fixture
async def browser(database_url: str) -> AsyncIterator[Any]:
    _require_tools(database_url)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    async with live_server(app) as url:
        yield url


async def _axe(page: Any) -> None:
    """No serious or critical accessibility violation on the page as it is now."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"


async def _signed_in(browser: Any, server: str, email: str, **options: Any) -> tuple[Any, Any]:
    """A new desktop browser context signed in through the form (password TEST_PASSWORD)."""
    from tests.conftest import TEST_PASSWORD

    context = await browser.new_context(bypass_csp=True, **DESKTOP, **options)
    page = await context.new_page()
    await page.goto(server + "/sign-in")
    await page.get_by_label("Email or username").fill(email)
    await page.get_by_label("Password").fill(TEST_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(server + "/home")
    return context, page


async def _screenshots(
    browser: Any, base: str, cookies: list[Any], pages: dict[str, str], tag: str
) -> None:
    """Every page in light and dark, on a desktop and a phone."""
    for scheme in ("light", "dark"):
        for device, options in (("desktop", DESKTOP), ("phone", PHONE)):
            context = await browser.new_context(color_scheme=scheme, bypass_csp=True, **options)
            await context.add_cookies(cookies)
            page = await context.new_page()
            for name, path in pages.items():
                response = await page.goto(base + path)
                assert response is not None and response.ok, (path, response and response.status)
                await page.screenshot(
                    path=str(ARTIFACTS / f"{tag}-{name}-{scheme}-{device}.png"), full_page=True
                )
            await context.close()


async def _arabic_screenshots(page: Any, base: str, pages: dict[str, str], tag: str) -> None:
    """The signed-in user switches to Arabic in the profile: every page right to left, checked
    by axe, and its screenshot."""
    await page.goto(base + "/profile")
    await page.get_by_label("Language").select_option("ar")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_selector("html[dir=rtl][lang=ar]")
    for name, path in pages.items():
        await page.goto(base + path)
        assert await page.get_attribute("html", "dir") == "rtl"
        await _axe(page)
        await page.screenshot(path=str(ARTIFACTS / f"{tag}-{name}-ar.png"), full_page=True)


async def test_a_student_registers_verifies_enrolls_and_follows_a_lesson(
    browser: Any,
    server: str,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Headers,
    worker: Worker,
    smtp: SMTPPeer,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher = await make_user(Role.teacher)
    course = await create_course(
        client, auth(teacher), title="Optics for beginners", description="Light **bends**."
    )
    module = await add_module(client, auth(teacher), course["id"], title="Refraction")
    first = await add_lesson(
        client,
        auth(teacher),
        course["id"],
        module_id=module["id"],
        title="Snell's law",
        content="# Snell's law\n\nLight changes direction when it changes medium.",
    )
    await add_lesson(
        client, auth(teacher), course["id"], module_id=module["id"], title="Total reflection"
    )
    question = {"prompt": "Light bends in water.", "kind": "true_false", "answer": True}
    quiz = await client.post(
        f"{API}/courses/{course['id']}/quizzes",
        json={"title": "Refraction check", "questions": [question]},
        headers=auth(teacher),
    )
    assert quiz.status_code == 201, quiz.text
    uploaded = await client.post(
        f"{API}/courses/{course['id']}/documents",
        files={"file": ("biology.pdf", text_pdf([fill(p, 70) for p in PAGES]), "application/pdf")},
        data={"title": "Biology for Schools"},
        headers=auth(teacher),
    )
    assert uploaded.status_code == 202, uploaded.text
    await worker.run_until_idle()

    context = await browser.new_context(bypass_csp=True, **DESKTOP)
    page = await context.new_page()
    await page.goto(server + "/sign-in")
    await _axe(page)
    await page.get_by_role("link", name="Create an account").click()
    await _axe(page)
    await page.get_by_label("Full name").fill("Grace Hopper")
    await page.get_by_label("Email").fill("grace@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create an account").click()
    await page.wait_for_url(server + "/home")
    assert await page.get_by_role("button", name="Send the link again").is_visible()
    await _axe(page)

    # The mailed link, opened in the browser, verifies the address.
    assert await worker.run_until_idle() >= 1
    link = re.search(
        r"http://testserver(/verify-email\?token=\S+)", smtp.last_to("grace@example.org").text
    )
    assert link
    await page.goto(server + link.group(1))
    await _axe(page)
    await page.get_by_role("button", name="Confirm my email address").click()
    await page.get_by_text("grace@example.org is confirmed").wait_for()

    # Join by the course's code, open the lesson, mark it done.
    await page.goto(server + "/catalogue")
    await _axe(page)
    await page.get_by_label("Course code").fill(course["code"])
    await page.get_by_role("button", name="Join").click()
    await page.wait_for_url(f"{server}/courses/{course['id']}")
    await _axe(page)
    await page.get_by_role("link", name="Snell's law").click()
    await page.wait_for_url(f"{server}/lessons/{first['id']}")
    await _axe(page)
    await page.get_by_role("button", name="Mark as done").click()
    await page.get_by_role("button", name="Mark as not done").wait_for()
    await page.goto(server + "/my/courses")
    await page.get_by_text("1 of 2 lessons").wait_for()
    await _axe(page)

    # A quiz, answered and scored.
    await page.goto(f"{server}/courses/{course['id']}")
    await page.get_by_role("link", name="Refraction check").click()
    await _axe(page)
    await page.get_by_label("True").check()
    await page.get_by_role("button", name="Submit answers").click()
    await page.wait_for_url(re.compile(r"/attempts/"))
    await page.get_by_text("100.0%").wait_for()
    await _axe(page)

    # The tutor: the answer streams in, cites the PDF, and the citation opens its page.
    await page.goto(f"{server}/courses/{course['id']}")
    await page.get_by_role("button", name="Ask the tutor about this course").click()
    await page.wait_for_url(re.compile(r"/tutor/[0-9a-f-]+$"))
    chat_path = page.url.removeprefix(server)
    await _axe(page)
    await page.get_by_label("Your question").fill("What is chlorophyll?")
    await page.get_by_role("button", name="Ask").click()
    citation = page.locator(".msg.assistant a.cite").first
    await citation.wait_for()
    assert "chlorophyll" in (await page.locator(".msg.assistant").first.inner_text()).lower()
    href = await citation.get_attribute("href")
    assert href and href.startswith("/documents/") and href.endswith("#page=2")
    opened = await page.evaluate(
        "(href) => fetch(href).then(r => [r.status, r.headers.get('content-type')])", href
    )
    assert opened == [200, "application/pdf"]
    await _axe(page)
    await page.goto(server + "/wallet")
    await _axe(page)

    # A request without the form's token is refused, in the browser too.
    status = await page.evaluate(
        "fetch('/profile', {method: 'POST', body: new URLSearchParams({full_name: 'X'})})"
        ".then(r => r.status)"
    )
    assert status == 403

    pages = {
        "my-courses": "/my/courses",
        "catalogue": "/catalogue",
        "course": f"/courses/{course['id']}",
        "lesson": f"/lessons/{first['id']}",
        "quiz": f"/quizzes/{quiz.json()['id']}",
        "tutor": chat_path,
        "wallet": "/wallet",
        "profile": "/profile",
    }
    cookies = await context.cookies()
    await _screenshots(browser, server, cookies, pages, "student")
    await _screenshots(
        browser, server, [], {"sign-in": "/sign-in", "register": "/register"}, "public"
    )

    await _arabic_screenshots(page, server, pages, "student")
    await context.close()


async def test_a_teacher_uploads_a_pdf_imports_a_quiz_and_exports_the_gradebook(
    browser: Any,
    server: str,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    auth: Headers,
    worker: Worker,
) -> None:

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher = await make_user(Role.teacher)
    student = await make_user(Role.student, full_name="Grace Hopper")
    course = await create_course(client, auth(teacher), title="Biology")
    enrolled = await client.post(f"{API}/courses/{course['id']}/enroll", headers=auth(student))
    assert enrolled.status_code == 201, enrolled.text
    base = f"{server}/teach/courses/{course['id']}"

    context, page = await _signed_in(browser, server, teacher.email, accept_downloads=True)

    # The upload is queued; the open page follows it until it is ready.
    await page.goto(base + "/documents")
    await _axe(page)
    await page.get_by_label("File (PDF, Word, Markdown, HTML or text)").set_input_files(
        files=[
            {
                "name": "biology.pdf",
                "mimeType": "application/pdf",
                "buffer": text_pdf([fill(p, 70) for p in PAGES]),
            }
        ]
    )
    await page.get_by_role("button", name="Upload").click()
    await page.locator("[data-status=queued]").wait_for()
    await worker.run_until_idle()
    await page.locator("[data-status=ready]").wait_for(timeout=20_000)
    await _axe(page)

    await page.goto(base + "/quizzes")
    await page.get_by_label("Quiz title").fill("SciQ sample")
    await page.get_by_label("Or paste the JSON").fill(json.dumps(SCIQ))
    await page.get_by_role("button", name="Import").click()
    await page.get_by_text("Imported 2 questions").wait_for()
    await _axe(page)

    await page.goto(base + "/gradebook")
    await _axe(page)
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    exported = Path(await download.path()).read_text(encoding="utf-8")
    assert exported.startswith("student_id,full_name,email,") and "Grace Hopper" in exported

    pages = {
        "courses": "/teach/courses",
        "students": f"/teach/courses/{course['id']}/students",
        "documents": f"/teach/courses/{course['id']}/documents",
        "quizzes": f"/teach/courses/{course['id']}/quizzes",
        "gradebook": f"/teach/courses/{course['id']}/gradebook",
    }
    await _screenshots(browser, server, await context.cookies(), pages, "teacher")
    await _arabic_screenshots(page, server, pages, "teacher")
    await context.close()


async def test_an_admin_blocks_a_user_whose_open_page_signs_out(
    browser: Any, server: str, make_user: MakeUser
) -> None:

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    admin = await make_user(Role.admin)
    student = await make_user(Role.student, full_name="Ada Lovelace")

    student_context, student_page = await _signed_in(browser, server, student.email)
    await student_page.goto(server + "/my/courses")
    admin_context, admin_page = await _signed_in(browser, server, admin.email)
    await admin_page.goto(server + "/admin/users")
    await _axe(admin_page)
    await admin_page.get_by_label("Search by name or email").fill("lovelace")
    row = admin_page.locator("tr", has_text="Ada Lovelace")
    await row.wait_for()
    await admin_page.screenshot(
        path=str(ARTIFACTS / "admin-users-light-desktop.png"), full_page=True
    )
    admin_page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name=re.compile("Block")).click()
    await admin_page.locator("tr", has_text="Ada Lovelace").get_by_text("blocked").wait_for()
    # The student's open page polls its session and leaves for the sign-in page by itself.
    await student_page.wait_for_url(re.compile(r"/sign-in"), timeout=20_000)
    await student_context.close()
    pages = {
        "users": "/admin/users",
        "stats": "/admin/stats",
        "jobs": "/admin/jobs",
        "audit": "/admin/audit",
    }
    extra = ["/admin/courses", "/admin/api-keys", "/admin/system-prompts", "/admin/sources"]
    extra.append(f"/admin/users/{student.id}/wallet")
    for path in [*pages.values(), *extra]:
        await admin_page.goto(server + path)
        await _axe(admin_page)
    await _screenshots(browser, server, await admin_context.cookies(), pages, "admin")
    await _arabic_screenshots(
        admin_page, server, {**pages, **{p.rsplit("/", 1)[-1]: p for p in extra}}, "admin"
    )
    await admin_context.close()


async def test_a_teacher_builds_a_course_in_the_editor(
    browser: Any, server: str, make_user: MakeUser, client: httpx.AsyncClient, auth: Headers
) -> None:

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    teacher = await make_user(Role.teacher)
    context, page = await _signed_in(browser, server, teacher.email)

    await page.goto(server + "/teach/courses")
    await page.get_by_role("button", name="New course").click()
    await _axe(page)
    await page.get_by_label("Title", exact=True).fill("Optics")
    await page.get_by_role("button", name="Create the course").click()
    await page.wait_for_url(re.compile(r"/teach/courses/[0-9a-f-]+/edit$"))
    editor_url = page.url

    # Modules come in and move without leaving the page (htmx swaps the outline).
    for title in ("Waves", "Lenses"):
        await page.get_by_label("Title of the new module").fill(title)
        await page.get_by_role("button", name="Add a module").click()
        await page.get_by_role("heading", name=re.compile(title)).wait_for()
    await page.get_by_role("button", name="Move “Waves” down").click()
    await page.get_by_role("heading", name="1. Lenses").wait_for()
    assert page.url == editor_url
    await _axe(page)

    lenses = page.locator("article", has=page.get_by_role("heading", name="1. Lenses"))
    await lenses.get_by_label("Title of the new lesson").fill("Focal length")
    await lenses.get_by_role("button", name="Add a lesson").click()
    await page.wait_for_url(re.compile(r"/teach/lessons/[0-9a-f-]+/edit$"))
    await page.get_by_label("Text (Markdown)").fill("# Focus\n\nParallel rays **meet**.")
    await page.get_by_role("button", name="Save the lesson").click()
    await page.locator(".lesson-content strong", has_text="meet").wait_for()
    await _axe(page)
    # The packaged tus client sends the lesson's video (a real one, recorded by the browser
    # itself: no video tool on the machine); once in, it plays in the lesson.
    recorded = await page.evaluate(RECORD_WEBM, 5000)
    await page.get_by_label("Video file").set_input_files(
        files=[{"name": "focus.webm", "mimeType": "video/webm", "buffer": bytes(recorded)}]
    )
    await page.get_by_role("button", name="Upload the video").click()
    await page.get_by_text("plays in this lesson").wait_for()
    lesson_path = page.url.removeprefix(server)

    # The quiz editor: two questions written in its forms, the second moved above the first.
    course_id = editor_url.split("/")[-2]
    await page.goto(f"{server}/teach/courses/{course_id}/quizzes/new")
    await page.get_by_label("Quiz title").fill("Focus check")
    for prompt, right, wrong in (
        ("Where do rays meet?", "At the focus", "Nowhere"),
        ("A lens?", "Glass", "Paper"),
    ):
        await page.get_by_label("Question", exact=True).fill(prompt)
        await page.get_by_label("Option 1", exact=True).fill(right)
        await page.get_by_label("Option 2", exact=True).fill(wrong)
        await page.get_by_label("Option 1 is right").check()
        if prompt.startswith("Where"):
            await page.get_by_role("button", name="Create the quiz").click()
            await page.wait_for_url(re.compile(r"/teach/quizzes/[0-9a-f-]+/edit$"))
            quiz_path = page.url.removeprefix(server)
            await page.get_by_role("button", name="Add a question").click()
        else:
            await page.get_by_role("button", name="Save the question").click()
    await page.get_by_role("button", name="Move question 2 up").click()
    await page.wait_for_url(re.compile(r"/edit#questions$"))
    prompts = await page.locator(".question-list > li > p.pre").all_inner_texts()
    assert prompts == ["A lens?", "Where do rays meet?"]
    await _axe(page)
    editor_pages = {
        "course": editor_url.removeprefix(server),
        "lesson": lesson_path,
        "quiz": quiz_path,
    }
    await _screenshots(browser, server, await context.cookies(), editor_pages, "teacher-editor")
    await _arabic_screenshots(page, server, editor_pages, "teacher-editor")
    course = (await client.get(f"{API}/courses/{course_id}", headers=auth(teacher))).json()
    assert [m["title"] for m in course["modules"]] == ["Lenses", "Waves"]
    assert [x["title"] for x in course["modules"][0]["lessons"]] == ["Focal length"]
    lesson = course["modules"][0]["lessons"][0]
    r = await client.patch(
        f"{API}/courses/{course_id}", json={"is_published": True}, headers=auth(teacher)
    )
    assert r.status_code == 200, r.text
    await context.close()

    # A student watches it: the stream plays, a pause reports the position, a reload resumes.
    student = await make_user(Role.student)
    r = await client.post(f"{API}/courses/{course_id}/enroll", headers=auth(student))
    assert r.status_code == 201, r.text
    context, page = await _signed_in(browser, server, student.email)
    await page.goto(f"{server}/lessons/{lesson['id']}")
    video = page.get_by_label("Lesson video")
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function("document.querySelector('video.lesson-video').currentTime > 1.5")
    async with page.expect_response(re.compile(r"/videos/[0-9a-f-]+/heartbeats$")) as beat:
        await video.evaluate("v => v.pause()")
    assert (await beat.value).status == 204
    await _axe(page)
    await page.reload()
    assert float(await video.get_attribute("data-resume") or 0) > 1
    await page.wait_for_function("document.querySelector('video.lesson-video').currentTime > 1")
    # A course with a price offers its seat for payment instead of enrolling.
    priced = await create_course(client, auth(teacher), title="Advanced optics", price="19.90")
    await page.goto(f"{server}/courses/{priced['id']}")
    await page.get_by_role("button", name="Pay and join").wait_for()
    await _axe(page)
    await context.close()
