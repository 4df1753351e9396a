"""Paying for a seat in a course with a price, on the payment provider's hosted Checkout page.

The API's checkout answers a PaymentIntent's client secret for Stripe.js, which Stripe requires
to be loaded from its own servers; StudyHall's pages load no third-party script, so the web
interface starts a Checkout Session instead and sends the student to the provider's own page.
The same rules as the API's checkout decide (courses' `seat_price`), and the same signed webhook
enrolls the student once the provider reports the payment.

The start page is a link, not a redirect: the pages' Content-Security-Policy keeps form posts
(and the redirects after them) on this site, and the student sees where the payment happens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.responses import Response

from studyhall.billing import payments
from studyhall.core.errors import AppError
from studyhall.courses import checkout
from studyhall.courses.dependencies import course_by_id, course_for_student
from studyhall.courses.errors import AlreadyEnrolled
from studyhall.web.pages.answers import refused
from studyhall.web.pages.common import Ctx, Posted, Student, as_uuid
from studyhall.web.render import page, redirect

router = APIRouter(include_in_schema=False)


@router.post("/courses/{course_id}/checkout")
async def start_checkout(ctx: Ctx, course_id: uuid.UUID, user: Student, data: Posted) -> Response:
    """The provider's payment page for this student's seat (one per rendered form)."""
    form_key = as_uuid(data.get("idempotency_key", ""))
    try:
        async with ctx.db.session(write=False) as session:
            course = await course_by_id(course_id, user, session)
            await course_for_student(user, course)
            amount = await checkout.seat_price(
                session,
                student=user,
                course=course,
                join_code=data.get("join_code", "").strip()[:40] or None,
            )
        back = f"{ctx.settings.public_url.rstrip('/')}/courses/{course.id}"
        hosted = await payments.start_hosted_course_checkout(
            user_id=user.id,
            course_id=course.id,
            course_code=course.code,
            course_title=course.title,
            amount=amount,
            settings=ctx.settings.billing,
            success_url=f"{back}?paid=1",
            cancel_url=back,
            # A form without its key (hand-made) still gets one session per post.
            idempotency_key=str(form_key or uuid.uuid4()),
        )
    except AlreadyEnrolled:
        return redirect(ctx, f"/courses/{course_id}")
    except AppError as exc:
        return refused(ctx, exc)
    return page(ctx, "student/checkout.html", course=course, hosted=hosted)
