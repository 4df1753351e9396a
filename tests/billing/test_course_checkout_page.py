"""The web interface's checkout: a student pays for a seat on the provider's hosted page (the
real local Stripe peer), comes back, and the same signed webhook enrolls them once."""

from __future__ import annotations

import re
from typing import Any

import httpx

from studyhall.identity.models import Role
from tests.billing.conftest import Headers
from tests.billing.test_course_payments import _deliver, _enrolled_ids
from tests.conftest import MakeUser
from tests.courses.helpers import API, create_course
from tests.peers.stripe_api import StripePeer
from tests.web.conftest import csrf_of, signed_in

KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


async def test_a_student_pays_on_the_hosted_page_and_the_webhook_enrolls(
    client: httpx.AsyncClient, stripe_peer: StripePeer, make_user: MakeUser, auth: Headers
) -> None:
    teacher, student = await make_user(Role.teacher), await make_user(Role.student)
    course = await create_course(client, auth(teacher), title="Paid optics", price="49.90")
    await signed_in(client, student)
    listed = await client.get("/catalogue", params={"q": "Paid optics"})
    assert f'href="/courses/{course["id"]}" role="button">Price: 49.90 USD' in listed.text
    outline = await client.get(f"/courses/{course['id']}")
    assert outline.status_code == 200 and "49.90 USD" in outline.text
    assert f'action="/courses/{course["id"]}/checkout"' in outline.text
    assert f'action="/courses/{course["id"]}/enroll"' not in outline.text
    token, key = csrf_of(outline.text), KEY.search(outline.text)
    assert key

    start = await client.post(
        f"/courses/{course['id']}/checkout",
        data={"csrf_token": token, "idempotency_key": key.group(1)},
    )
    assert start.status_code == 200, start.text
    (hosted,) = stripe_peer.sessions.values()
    assert f'href="{hosted["url"]}"' in start.text and "49.90 USD" in start.text
    assert hosted["amount_total"] == 4990 and hosted["mode"] == "payment"
    assert hosted["payment_intent_data"]["metadata"] == {
        "user_id": str(student.id),
        "course_id": course["id"],
    }
    assert hosted["success_url"].endswith(f"/courses/{course['id']}?paid=1")
    # The same form sent again (double click, reload) is the same payment page.
    again = await client.post(
        f"/courses/{course['id']}/checkout",
        data={"csrf_token": token, "idempotency_key": key.group(1)},
    )
    assert again.status_code == 200 and len(stripe_peer.sessions) == 1
    without_token = await client.post(f"/courses/{course['id']}/checkout")
    assert without_token.status_code == 403 and len(stripe_peer.sessions) == 1

    back = await client.get(f"/courses/{course['id']}?paid=1")
    assert 'role="status"' in back.text and course["id"] not in await _enrolled_ids(
        client, auth(student)
    )
    paid = await _deliver(client, stripe_peer.complete_session(hosted["id"]))
    assert paid.status_code == 200 and paid.json()["outcome"] == "enrolled"
    assert course["id"] in await _enrolled_ids(client, auth(student))
    enrolled = await client.get(f"/courses/{course['id']}")
    assert "/checkout" not in enrolled.text and 'id="course-progress"' in enrolled.text
    # Enrolled: another checkout lands on the course, nothing is charged.
    done = await client.post(f"/courses/{course['id']}/checkout", data={"csrf_token": token})
    assert done.status_code == 303 and len(stripe_peer.sessions) == 1


async def test_the_checkout_page_keeps_the_apis_rules(
    client: httpx.AsyncClient, stripe_peer: StripePeer, make_user: MakeUser, auth: Headers
) -> None:
    teacher, student = await make_user(Role.teacher), await make_user(Role.student)
    free = await create_course(client, auth(teacher))
    invite = await create_course(client, auth(teacher), price=10, visibility="invite")
    private = await create_course(client, auth(teacher), price=10, visibility="private")
    await signed_in(client, student)
    page = await client.get(f"/courses/{invite['id']}")
    assert 'name="join_code"' in page.text
    token = csrf_of(page.text)

    async def checkout(course: dict[str, Any], **data: str) -> httpx.Response:
        return await client.post(
            f"/courses/{course['id']}/checkout", data={"csrf_token": token, **data}
        )

    assert (await checkout(free)).status_code == 422  # nothing to pay
    assert (await checkout(private)).status_code == 403
    assert (await checkout(invite)).status_code == 403  # no join code
    assert (await checkout(invite, join_code="WRONG")).status_code == 403
    assert not stripe_peer.sessions
    code = (await client.get(f"{API}/courses/{invite['id']}", headers=auth(teacher))).json()[
        "join_code"
    ]
    assert (await checkout(invite, join_code=code)).status_code == 200
    assert len(stripe_peer.sessions) == 1
    stripe_peer.fail_next = 400  # not retried by the library
    failed = await checkout(invite, join_code=code)
    assert failed.status_code == 502 and "try again" in failed.text

    client.cookies.clear()
    await signed_in(client, teacher)
    token = csrf_of((await client.get("/teach/courses")).text)
    assert (await checkout(invite, join_code=code)).status_code == 403  # teachers buy no seats
