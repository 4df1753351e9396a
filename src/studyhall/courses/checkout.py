"""Paid courses: a seat is bought through billing's payment provider, and its webhook enrolls.

Courses does not depend on billing (billing stands alone, and courses is built on identity
only): `seat_price` says whether and for how much a student may start a checkout, the route (an
edge) then asks billing for the payment, and `enroll_payer` / `end_paid_seat` are what billing's
webhook runs for a paid or refunded seat (`studyhall.wiring` registers them).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.core.clock import utcnow
from studyhall.core.errors import Unprocessable
from studyhall.courses import repository
from studyhall.courses.errors import AlreadyEnrolled, CourseIsFree
from studyhall.courses.models import Course
from studyhall.courses.service import check_self_enrollment, is_paid
from studyhall.identity import service as identity_service
from studyhall.identity.models import User


def minor_units(price: Decimal) -> int:
    """A price in the currency's major unit (49.90) → its minor unit (4990)."""
    return int((price * 100).to_integral_value())


async def seat_price(
    session: AsyncSession, *, student: User, course: Course, join_code: str | None
) -> int:
    """The price (minor units) a student pays to join: the same visibility rules as enrolling,
    422 for a free course, 409 when already enrolled."""
    if not is_paid(course):
        raise CourseIsFree()
    check_self_enrollment(course, join_code, paying=True)
    if await repository.is_enrolled(session, course_id=course.id, student_id=student.id):
        raise AlreadyEnrolled()
    assert course.price is not None
    return minor_units(course.price)


async def enroll_payer(session: AsyncSession, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """The provider says the seat is paid: enroll (False when already enrolled)."""
    if await repository.get_course(session, course_id) is None:
        raise Unprocessable(f"course {course_id} no longer exists", code="course_not_found")
    if not await identity_service.usernames_by_id(session, user_ids=[user_id]):
        raise Unprocessable(f"no user {user_id}", code="unknown_user")
    return await repository.insert_enrollment(
        session, course_id=course_id, student_id=user_id, now=utcnow()
    )


async def end_paid_seat(session: AsyncSession, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
    """The seat's payment was refunded in full: the enrollment ends (progress is kept)."""
    return await repository.delete_enrollment(session, course_id=course_id, student_id=user_id)
