"""Tests inside the chat: one question at a time, feedback after each answer.

Two sources:
- an existing quiz of the session's course: its questions and keys are read through the
  assessments service; the result is recorded as a quiz attempt (`source="tutor"`) by
  `assessments.record_external_attempt`, so analytics counts it. As in assessments, the expected
  answer is shown after a question only when it was answered correctly, and all of them once the
  quiz is passed (it stays secret for a quiz the student has not passed);
- a test generated from the course material, deterministically and without a model (any
  provider): cloze questions — a sentence of a retrieved passage with one key term blanked —
  whose three distractors are terms of other passages; every question cites its passage.
  Their answers are shown after each question. A student's finished practice test in a course
  is stored as a practice quiz with its one attempt (`assessments.record_practice_attempt`), so
  analytics counts it too; it never appears among the course's quizzes. A test in a library
  chat (no course) stays with the chat, as there is no course to count it in.
  For a student, the generated test goes through the one quiz-answer guard (leakcheck): a
  passage that gives away the answer of a course quiz they have not passed is not drawn on, and
  a question whose text (prompt, options, explanation, cited sentence) gives one away is
  dropped, since its feedback would then show that answer.

The keys never leave the server before the question is answered. The exchange is also written to
the chat as messages (finish_reason "quiz"), so the transcript shows the test.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from studyhall.assessments import service as assessments
from studyhall.assessments.errors import QuizNotFound
from studyhall.assessments.models import QuestionKind
from studyhall.config import Settings
from studyhall.core.clock import utcnow
from studyhall.core.db import Database
from studyhall.core.errors import AppError, Conflict, Unprocessable
from studyhall.core.ids import new_id
from studyhall.identity.models import Role, User
from studyhall.tutor import orchestration, repository, service
from studyhall.tutor.leakcheck import Guard, guard_for
from studyhall.tutor.models import ChatQuiz, ChatQuizStatus, ChatSession, Message, MessageRole
from studyhall.tutor.providers.base import SourcePassage
from studyhall.tutor.schemas import (
    ChatAnswerIn,
    ChatAnswerOut,
    ChatQuestionOut,
    ChatQuizFromQuiz,
    ChatQuizOut,
    ChatQuizResult,
    ChatQuizStart,
    QuestionSourceOut,
)
from studyhall.tutor.text import STOPWORDS, collapse_spaces, sentences, words

GENERATED_PASS_PERCENT = 60.0
BLANK = "_____"


class NoActiveTest(Conflict):
    code = "no_active_test"

    def __init__(self) -> None:
        super().__init__("There is no test in progress in this chat; start one first")


class WrongQuestion(Conflict):
    code = "wrong_question"

    def __init__(self, expected: int) -> None:
        super().__init__(f"The test is at question_index {expected}")


class NotEnoughMaterial(Unprocessable):
    code = "not_enough_material"

    def __init__(self) -> None:
        super().__init__(
            "The course material is too thin to generate a test (documents ready for search "
            "are needed)"
        )


# ---------------------------------------------------------------- generation


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def _candidates(text: str) -> list[str]:
    """Key-term candidates of a text: content words of 5+ letters, in order, distinct."""
    seen: list[str] = []
    for w in words(text):
        if len(w) >= 5 and w.isalpha() and w not in STOPWORDS and w not in seen:
            seen.append(w)
    return seen


def generate_questions(passages: list[SourcePassage], n: int) -> list[dict[str, Any]]:
    """Up to n cloze questions from the passages, the same ones for the same passages."""
    frequency: dict[str, int] = {}
    for p in passages:
        for w in set(_candidates(p.passage.text)):
            frequency[w] = frequency.get(w, 0) + 1
    questions: list[dict[str, Any]] = []
    used_terms: set[str] = set()
    for p in passages:
        if len(questions) == n:
            break
        best: tuple[int, int, str, str] | None = None
        for s in sentences(p.passage.text):
            count = len(s.text.split())
            if not 6 <= count <= 45:
                continue
            for term in _candidates(s.text):
                if term in used_terms:
                    continue
                # Rarer across the material and longer: a term that carries the sentence.
                rank = (frequency.get(term, 0), -len(term), s.text, term)
                candidate = (rank[0], rank[1], rank[2], rank[3])
                if best is None or candidate < best:
                    best = candidate
        if best is None:
            continue
        _, _, sentence, term = best
        distractors = _distractors(term, passages, p)
        if len(distractors) < 3:
            continue
        surface = _surface(sentence, term)
        # Distractors written like the answer, so capitals give nothing away.
        options = [d.capitalize() if surface[:1].isupper() else d for d in distractors[:3]]
        correct_at = _stable(sentence) % 4
        options.insert(correct_at, surface)
        used_terms.add(term)
        questions.append(
            {
                "prompt": "Fill in the blank: “" + _blank(sentence, surface) + "”",
                "kind": QuestionKind.single.value,
                "options": options,
                "answer": correct_at,
                "explanation": f"The material says: “{sentence}”",
                "points": 1.0,
                "source": {
                    "document_id": str(p.passage.document_id),
                    "document_title": p.passage.document_title,
                    "page": p.passage.page,
                    "chunk_id": str(p.passage.chunk_id),
                    "excerpt": sentence,
                },
            }
        )
    return questions


def _shown_text(row: dict[str, Any]) -> str:
    """Everything a generated question shows, before and after it is answered."""
    source = row.get("source") or {}
    options = row.get("options") or []
    excerpt = str(source.get("excerpt") or "")
    return "\n".join([row["prompt"], *options, row.get("explanation") or "", excerpt])


def guarded_questions(
    passages: list[SourcePassage], n: int, *, guard: Guard, topic: str
) -> list[dict[str, Any]]:
    """Up to n generated questions a guarded student may see (see the module's docstring).

    Generation is deterministic and takes passages in order, so generating from every allowed
    passage and keeping the first n that pass gives the unguarded test whenever nothing leaks.
    """
    if not guard.active:
        return generate_questions(passages, n)
    allowed = [p for p in passages if not guard.reveals(p.passage.text, question=topic)]
    rows = generate_questions(allowed, len(allowed))
    return [r for r in rows if not guard.reveals(_shown_text(r), question=topic)][:n]


def _surface(sentence: str, term: str) -> str:
    """The term as written in the sentence (its case)."""
    lowered = sentence.casefold()
    at = lowered.find(term)
    return sentence[at : at + len(term)] if at >= 0 else term


def _blank(sentence: str, surface: str) -> str:
    return sentence.replace(surface, BLANK, 1)


def _distractors(term: str, passages: list[SourcePassage], own: SourcePassage) -> list[str]:
    """Three terms from other passages (else from elsewhere in its own), close in length."""
    pool: list[str] = []
    for p in passages:
        if p is own:
            continue
        pool.extend(w for w in _candidates(p.passage.text) if w != term and w not in pool)
    if len(pool) < 3:
        pool.extend(w for w in _candidates(own.passage.text) if w != term and w not in pool)
    pool.sort(key=lambda w: (abs(len(w) - len(term)), _stable(term + w)))
    chosen: list[str] = []
    for w in pool:
        if w[:5] != term[:5] and all(w[:5] != c[:5] for c in chosen):
            chosen.append(w)
        if len(chosen) == 3:
            break
    return chosen


# ---------------------------------------------------------------- questions and grading


def _question_out(quiz: ChatQuiz, index: int) -> ChatQuestionOut:
    row = quiz.questions[index]
    return ChatQuestionOut(
        question_index=index,
        total=len(quiz.questions),
        prompt=row["prompt"],
        kind=row["kind"],
        options=row.get("options"),
        points=float(row.get("points", 1.0)),
    )


def _question_text(q: ChatQuestionOut) -> str:
    lines = [f"Question {q.question_index + 1} of {q.total}: {q.prompt}"]
    for i, option in enumerate(q.options or []):
        lines.append(f"{chr(65 + i)}. {option}")
    if q.kind == QuestionKind.true_false.value:
        lines.append("(true or false)")
    return "\n".join(lines)


def _answer_text(answer: Any) -> str:
    if isinstance(answer, list):
        return ", ".join(str(a) for a in answer)
    return str(answer)


async def _say(
    session: AsyncSession, chat: ChatSession, user: User, texts: list[tuple[MessageRole, str]]
) -> None:
    """Write the test's exchange into the chat."""
    now = utcnow()
    rows = [
        Message(
            id=new_id(),
            session_id=chat.id,
            user_id=user.id,
            course_id=chat.course_id,
            role=role,
            content=text,
            sources=[],
            finish_reason=repository.QUIZ_EXCHANGE,
            created_at=now + timedelta(microseconds=i),
        )
        for i, (role, text) in enumerate(texts)
    ]
    await repository.add_messages(session, rows)


# ---------------------------------------------------------------- use cases


async def start(
    session: AsyncSession,
    db: Database,
    settings: Settings,
    *,
    user: User,
    chat: ChatSession,
    data: ChatQuizStart,
) -> ChatQuizOut:
    """Begin a test in the chat (abandoning one in progress) and return its first question."""
    if chat.course_id is not None:
        course = await service.course_for_tutor(session, user=user, course_id=chat.course_id)
    else:
        course = None
    if isinstance(data, ChatQuizFromQuiz):
        quiz = await assessments.get_quiz(session, data.quiz_id)
        if quiz is None or chat.course_id is None or quiz.course_id != chat.course_id:
            raise QuizNotFound()
        rows = [
            {**row, "source": None} for row in await assessments.question_rows(session, quiz=quiz)
        ]
        title, pass_percent, quiz_id = quiz.title, quiz.pass_percent, quiz.id
    else:
        query = data.generate.topic or (course.title if course is not None else "")
        if not query.strip():
            raise Unprocessable(
                "Give a topic to generate a test from the library", code="topic_required"
            )
        passages = await orchestration.retrieve(
            db,
            settings,
            course_id=chat.course_id,
            query=query,
            k=min(40, data.generate.questions * 3 + 3),
        )
        guard = await guard_for(session, user=user, course_id=chat.course_id)
        rows = guarded_questions(passages, data.generate.questions, guard=guard, topic=query)
        if not rows:
            raise NotEnoughMaterial()
        title = f"Practice test: {collapse_spaces(query)[:150]}"
        pass_percent, quiz_id = GENERATED_PASS_PERCENT, None
    if not rows:
        raise NotEnoughMaterial()
    now = utcnow()
    await repository.abandon_active_quizzes(session, chat.id, now)
    test = ChatQuiz(
        id=new_id(),
        session_id=chat.id,
        user_id=user.id,
        course_id=chat.course_id,
        quiz_id=quiz_id,
        title=title[:200],
        questions=rows,
        answers=[],
        results=[],
        current_index=0,
        status=ChatQuizStatus.active,
        pass_percent=pass_percent,
        started_at=now,
    )
    session.add(test)
    await session.flush()
    first = _question_out(test, 0)
    await _say(
        session,
        chat,
        user,
        [(MessageRole.assistant, f"Test: {test.title}\n\n{_question_text(first)}")],
    )
    return ChatQuizOut(
        chat_quiz_id=test.id,
        quiz_id=quiz_id,
        title=test.title,
        generated=quiz_id is None,
        question_count=len(rows),
        question=first,
    )


async def answer(
    session: AsyncSession, *, user: User, chat: ChatSession, data: ChatAnswerIn
) -> ChatAnswerOut:
    """Grade one answer; then the next question, or the result (recorded as a quiz attempt)."""
    test = await repository.active_quiz(session, chat.id)
    if test is None:
        raise NoActiveTest()
    if data.question_index != test.current_index:
        raise WrongQuestion(test.current_index)
    row = test.questions[test.current_index]
    question = assessments.question_from_row(row)
    correct = assessments.is_correct(question, data.answer)
    test.answers = [*test.answers, data.answer]
    test.results = [*test.results, correct]
    index = test.current_index
    test.current_index = index + 1
    practice = test.quiz_id is None
    show_answer = practice or correct
    expected = assessments.expected_value(question) if show_answer else None
    source = QuestionSourceOut.model_validate(row["source"]) if row.get("source") else None
    feedback = "Correct!" if correct else "Not quite."
    if expected is not None and not correct:
        feedback += f" The answer is: {_answer_text(expected)}."
    if source is not None and not correct:
        where = f"page {source.page} of " if source.page is not None else ""
        feedback += f" See {where}{source.document_title}."
    next_question = None
    result = None
    if test.current_index < len(test.questions):
        next_question = _question_out(test, test.current_index)
    else:
        result = await _finish(session, user=user, test=test)
    await session.flush()
    closing = feedback
    if next_question is not None:
        closing += "\n\n" + _question_text(next_question)
    elif result is not None:
        verdict = "passed" if result.passed else "not passed yet"
        closing += (
            f"\n\nTest finished: {result.score:g} of {result.max_score:g} points "
            f"({result.percent:g}%), {verdict}."
        )
    await _say(
        session,
        chat,
        user,
        [(MessageRole.user, _answer_text(data.answer)), (MessageRole.assistant, closing)],
    )
    return ChatAnswerOut(
        question_index=index,
        correct=correct,
        feedback=feedback,
        expected=expected,
        explanation=question.explanation if show_answer else None,
        source=source,
        next_question=next_question,
        result=result,
    )


async def _finish(session: AsyncSession, *, user: User, test: ChatQuiz) -> ChatQuizResult:
    now = utcnow()
    questions = [assessments.question_from_row(r) for r in test.questions]
    max_score = sum(q.points for q in questions)
    score = sum(q.points for q, ok in zip(questions, test.results, strict=True) if ok)
    percent = round(100.0 * score / max_score, 2) if max_score else 0.0
    passed = percent >= test.pass_percent
    attempt_id = None
    time_spent_s = round((now - test.started_at).total_seconds(), 3)
    recorded = None
    if user.role == Role.student and test.course_id is not None:
        try:
            if test.quiz_id is not None:
                recorded = await assessments.record_external_attempt(
                    session,
                    quiz_id=test.quiz_id,
                    student_id=user.id,
                    answers=list(test.answers),
                    time_spent_s=time_spent_s,
                    source="tutor",
                )
            else:
                recorded = await assessments.record_practice_attempt(
                    session,
                    course_id=test.course_id,
                    student_id=user.id,
                    title=test.title,
                    questions=test.questions,
                    pass_percent=test.pass_percent,
                    answers=list(test.answers),
                    time_spent_s=time_spent_s,
                )
        except AppError:
            # No attempt left or no longer enrolled: the chat keeps its own result.
            recorded = None
        if recorded is not None:
            attempt_id = recorded.id
            score, max_score = recorded.score, recorded.max_score
            percent, passed = recorded.percent, recorded.passed
    test.status = ChatQuizStatus.finished
    test.finished_at = now
    test.score, test.max_score, test.percent, test.passed = score, max_score, percent, passed
    test.attempt_id = attempt_id
    return ChatQuizResult(
        score=score, max_score=max_score, percent=percent, passed=passed, attempt_id=attempt_id
    )
