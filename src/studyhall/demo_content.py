"""The demo course `studyhall demo` seeds: original content so a new user sees a living platform."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import service as assessments
from studyhall.assessments.models import QuestionKind
from studyhall.assessments.schemas import AssignmentCreate, QuestionIn, QuizCreate
from studyhall.core.clock import utcnow
from studyhall.courses import service as courses
from studyhall.courses.models import Course
from studyhall.courses.schemas import CourseCreate, LessonCreate, ModuleCreate, ProgressUpdate
from studyhall.identity.models import User

DEMO_CODE = "ECO101"

GUIDE = """\
# Teaching guide: Introduction to Ecology

- Audience: secondary-school students meeting ecology for the first time.
- Start from what students can observe around them (a park, a garden, a pond) before naming
  concepts.
- Keep energy (flows one way, lost as heat) and matter (cycles) clearly apart: it is the most
  common confusion.
- When a student is stuck, ask them to trace where one specific atom or one unit of energy goes.
"""

MODULES: list[tuple[str, list[tuple[str, str]]]] = [
    (
        "Living things and their surroundings",
        [
            (
                "What is ecology?",
                """# What is ecology?

Ecology is the study of how living things interact with each other and with the non-living
parts of their surroundings. An ecologist might ask why a meadow holds more butterfly species
than a lawn, or why a pond turns green every summer.

Ecologists work at several **levels of organisation**:

1. an *organism*: one individual, such as a single heron;
2. a *population*: all the herons of one lake;
3. a *community*: every population living in that lake, from algae to fish;
4. an *ecosystem*: the community together with water, light, temperature and soil.

> Try it: pick a place you walk past every day and list three living and three non-living
> things that affect each other there.
""",
            ),
            (
                "Habitats and niches",
                """# Habitats and niches

A **habitat** is the place where an organism lives: a rotting log, a coral reef, the bark of
an oak. A **niche** is the role the organism plays there: what it eats, when it is active,
what eats it and what it gives back to its surroundings.

Two species can share a habitat without sharing a niche. In a hedge, a blackbird hunting worms
on the ground at dawn and a bat catching moths at dusk live side by side but rarely compete.

When two species do need exactly the same limited resource, one usually outcompetes the other
or both shift their habits. This is called *competitive exclusion*.
""",
            ),
        ],
    ),
    (
        "Energy in ecosystems",
        [
            (
                "Producers, consumers and decomposers",
                """# Producers, consumers and decomposers

**Producers** (plants, algae and some bacteria) capture light energy and store it in sugars
through photosynthesis. Almost every food chain starts with them.

**Consumers** get their energy by eating other organisms: herbivores eat producers, carnivores
eat other consumers, omnivores do both.

**Decomposers** such as fungi, bacteria and earthworms break down dead material and waste,
returning nutrients like nitrogen and phosphorus to the soil where producers can use them
again.

Without decomposers, dead leaves would pile up for ever and the soil would slowly run out of
nutrients.
""",
            ),
            (
                "Food chains and food webs",
                """# Food chains and food webs

A **food chain** shows who eats whom in a single line:

`grass → grasshopper → frog → heron`

Real ecosystems are tangled: the frog also eats flies, and the heron also eats fish. Linking
many chains gives a **food web**.

At each step of a chain only about a tenth of the energy is passed on; the rest is used for
living and lost as heat. That is why food chains rarely have more than four or five links, and
why there are far fewer herons than grasshoppers.
""",
            ),
        ],
    ),
    (
        "Cycles and change",
        [
            (
                "The water and carbon cycles",
                """# The water and carbon cycles

Energy flows through an ecosystem and leaves it as heat, but **matter is recycled**.

In the *water cycle*, water evaporates from seas and leaves, condenses into clouds, falls as
rain and runs back through soil and rivers.

In the *carbon cycle*, plants take carbon dioxide from the air during photosynthesis. Animals
eat the plants, and all living things release carbon dioxide again when they respire. Burning
fuels that formed from ancient plants adds extra carbon to the air faster than plants and
oceans can take it back.
""",
            ),
            (
                "Populations and succession",
                """# Populations and succession

A population grows when births and arrivals outnumber deaths and departures. Food, space,
disease and predators set a limit, the **carrying capacity**, around which the population
tends to settle.

Ecosystems change over time too. Bare rock is first colonised by lichens and mosses; as they
build up a thin soil, grasses move in, then shrubs, then trees. This gradual replacement of
communities is called **ecological succession**.
""",
            ),
        ],
    ),
]

QUIZ = QuizCreate(
    title="Ecology check-in",
    pass_percent=60,
    max_attempts=3,
    questions=[
        QuestionIn(
            prompt="Which of these organisms is a producer?",
            kind=QuestionKind.single,
            options=["Heron", "Pond algae", "Earthworm", "Grasshopper"],
            answer="Pond algae",
            explanation="Algae capture light energy by photosynthesis, like plants.",
            points=1,
        ),
        QuestionIn(
            prompt="Which of these are decomposers?",
            kind=QuestionKind.multiple,
            options=["Fungi", "Bacteria", "Frogs", "Earthworms"],
            answer=["Fungi", "Bacteria", "Earthworms"],
            explanation="Decomposers break down dead material and return nutrients to the soil.",
            points=2,
        ),
        QuestionIn(
            prompt="Energy is recycled in an ecosystem in the same way as carbon.",
            kind=QuestionKind.true_false,
            answer=False,
            explanation="Energy flows one way and leaves as heat; matter such as carbon cycles.",
            points=1,
        ),
        QuestionIn(
            prompt="What is the gradual replacement of one community by another called?",
            kind=QuestionKind.short,
            answer=["succession", "ecological succession"],
            explanation="Bare rock → mosses → grasses → shrubs → trees is a typical succession.",
            points=2,
        ),
    ],
)

QUIZ_ANSWERS: list[list[object]] = [
    ["Pond algae", ["Fungi", "Bacteria", "Earthworms"], False, "Succession"],  # 6/6
    ["Heron", ["Fungi", "Earthworms"], False, "succession"],  # 3/6
]


async def seed_demo_course(
    session: AsyncSession, *, teacher_id: uuid.UUID, student_ids: list[uuid.UUID]
) -> None:
    """Create the demo course with modules, lessons, a quiz and an assignment, enroll the demo
    students and give them some progress. Does nothing when the course already exists."""
    if await session.scalar(select(Course.id).where(Course.code == DEMO_CODE)) is not None:
        return
    teacher = await session.get(User, teacher_id)
    if teacher is None:
        raise ValueError("the demo teacher does not exist")
    detail = await courses.create_course(
        session,
        actor=teacher,
        data=CourseCreate(
            code=DEMO_CODE,
            title="Introduction to Ecology",
            description="How living things depend on each other and on their surroundings: "
            "habitats, food webs, energy flow, nutrient cycles and change over time.",
            guide=GUIDE,
            language="en",
            level="secondary",
            is_published=True,
        ),
    )
    course = await courses.get_course(session, detail.id)
    lessons = []
    for title, module_lessons in MODULES:
        module = await courses.create_module(session, course=course, data=ModuleCreate(title=title))
        for lesson_title, content in module_lessons:
            lessons.append(
                await courses.create_lesson(
                    session,
                    course=course,
                    data=LessonCreate(module_id=module.id, title=lesson_title, content=content),
                )
            )
    quiz = await assessments.create_quiz(session, course_id=course.id, data=QUIZ)
    await assessments.create_assignment(
        session,
        course_id=course.id,
        data=AssignmentCreate(
            title="Map a local food web",
            description="Observe a garden, park or pond for twenty minutes. Draw a food web with "
            "at least eight organisms, mark producers, consumers and decomposers, and explain "
            "in a paragraph what would happen if one of them disappeared.",
            due_at=utcnow() + timedelta(days=14),
            max_score=20,
        ),
    )

    students = [s for s in [await session.get(User, i) for i in student_ids] if s is not None]
    for index, student in enumerate(students):
        await courses.enroll(session, student=student, course=course)
        # The first demo student is well ahead, the second has started, the others just joined.
        done = {0: 4, 1: 1}.get(index, 0)
        for lesson in lessons[:done]:
            await courses.update_progress(
                session, student=student, lesson=lesson, data=ProgressUpdate(completed=True)
            )
        if index < len(QUIZ_ANSWERS):
            await assessments.record_external_attempt(
                session,
                quiz_id=quiz.id,
                student_id=student.id,
                answers=QUIZ_ANSWERS[index],
                source="demo",
            )
