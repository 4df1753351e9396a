"""Answer checking and scoring: the rules that grade a quiz (and the tutor's in-chat tests), and
what a result reveals."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studyhall.assessments.errors import (
    AnswersMismatch,
)
from studyhall.assessments.models import (
    Question,
    QuestionKind,
    Quiz,
)
from studyhall.assessments.schemas import (
    ExpectedValue,
    QuestionResult,
)
from studyhall.core.ids import new_id


def normalize_text(value: str) -> str:
    """Case-, space- and accent-insensitive form of a short answer."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def _given_index(options: list[str], value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(options) else None
    if isinstance(value, str):
        text = value.strip()
        if text in options:
            return options.index(text)
        wanted = normalize_text(text)
        for i, option in enumerate(options):
            if normalize_text(option) == wanted:
                return i
    return None


def question_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A question's stored fields (its id aside) from its JSON form (`question_row`)."""
    return {
        "prompt": row["prompt"],
        "kind": QuestionKind(row["kind"]),
        "options": row.get("options"),
        "answer": row["answer"],
        "explanation": row.get("explanation"),
        "points": float(row.get("points", 1.0)),
    }


def question_from_row(row: Mapping[str, Any]) -> Question:
    """A transient question (never saved) from its stored JSON form, so another domain that
    keeps questions of its own (the tutor's in-chat tests) grades them by these rules."""
    return Question(id=uuid.UUID(row["id"]) if row.get("id") else new_id(), **question_fields(row))


def question_row(question: Question) -> dict[str, Any]:
    """A question's JSON form, answer included: what `question_from_row` reads back."""
    return {
        "id": str(question.id),
        "prompt": question.prompt,
        "kind": question.kind.value,
        "options": question.options,
        "answer": question.answer,
        "explanation": question.explanation,
        "points": question.points,
    }


def is_correct(question: Question, given: Any) -> bool:
    """Whether an answer matches a question's key."""
    if given is None:
        return False
    options = question.options or []
    if question.kind == QuestionKind.single:
        return _given_index(options, given) == question.answer
    if question.kind == QuestionKind.multiple:
        values = given if isinstance(given, list) else [given]
        indexes = [_given_index(options, v) for v in values]
        if any(i is None for i in indexes):
            return False
        return sorted(set(indexes)) == sorted(question.answer)  # type: ignore[type-var]
    if question.kind == QuestionKind.true_false:
        if isinstance(given, str) and given.strip().lower() in ("true", "false"):
            given = given.strip().lower() == "true"
        return isinstance(given, bool) and given is bool(question.answer)
    if isinstance(given, bool) or not isinstance(given, str | int | float):
        return False
    accepted = {normalize_text(a) for a in question.answer}
    return normalize_text(str(given)) in accepted


def _fits(question: Question, given: Any) -> bool:
    """Whether an answer has the form its question takes (right or wrong does not matter here)."""
    if given is None:
        return True  # unanswered: scored as wrong
    options = question.options or []
    if question.kind == QuestionKind.single:
        return _given_index(options, given) is not None
    if question.kind == QuestionKind.multiple:
        values = given if isinstance(given, list) else [given]
        return bool(values) and all(_given_index(options, v) is not None for v in values)
    if question.kind == QuestionKind.true_false:
        return isinstance(given, bool) or (
            isinstance(given, str) and given.strip().lower() in ("true", "false")
        )
    return isinstance(given, str | int | float) and not isinstance(given, bool)


def check_answers(questions: Sequence[Question], answers: Sequence[Any]) -> None:
    """Refuse an answer list that does not match the quiz's questions, one answer per question."""
    if len(answers) != len(questions):
        raise AnswersMismatch(
            f"The quiz has {len(questions)} questions and {len(answers)} answers were sent: "
            "send one answer per question, in order (null for an unanswered one)"
        )
    for number, (question, given) in enumerate(zip(questions, answers, strict=True), start=1):
        if not _fits(question, given):
            raise AnswersMismatch(
                f"Answer {number} does not fit its {question.kind.value} question: "
                + _ANSWER_FORMS[question.kind]
            )


_ANSWER_FORMS = {
    QuestionKind.single: "give one option, by its index or its text",
    QuestionKind.multiple: "give a list of options, by index or text",
    QuestionKind.true_false: "give true or false",
    QuestionKind.short: "give a text or a number",
}


def expected_value(question: Question) -> ExpectedValue:
    """The correct answer in the form a student reads it."""
    options = question.options or []
    if question.kind == QuestionKind.single:
        return options[question.answer]
    if question.kind == QuestionKind.multiple:
        return [options[i] for i in question.answer]
    if question.kind == QuestionKind.true_false:
        return bool(question.answer)
    return str(question.answer[0])


def answer_texts(question: Question) -> list[str]:
    """Every accepted answer as text (for leak checks)."""
    value = expected_value(question)
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if question.kind == QuestionKind.short:
        return [str(a) for a in question.answer]
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Graded:
    score: float
    max_score: float
    percent: float
    passed: bool
    results: list[dict[str, Any]]


def grade(quiz: Quiz, questions: Sequence[Question], answers: Sequence[Any]) -> Graded:
    """Score answers given in question order (missing answers count as wrong)."""
    padded = list(answers) + [None] * (len(questions) - len(answers))
    results: list[dict[str, Any]] = []
    score = max_score = 0.0
    for question, given in zip(questions, padded, strict=True):
        correct = is_correct(question, given)
        awarded = question.points if correct else 0.0
        score += awarded
        max_score += question.points
        results.append(
            {
                "question_id": str(question.id),
                "correct": correct,
                "points": question.points,
                "points_awarded": awarded,
            }
        )
    percent = round(100.0 * score / max_score, 2) if max_score else 0.0
    return Graded(score, max_score, percent, percent >= quiz.pass_percent, results)


def reveal(
    results: list[dict[str, Any]], questions: Sequence[Question], *, everything: bool
) -> list[QuestionResult]:
    """Explain each question: answers shown for correct ones, or all once `everything`."""
    by_id = {str(q.id): q for q in questions}
    out: list[QuestionResult] = []
    for item in results:
        question = by_id.get(item["question_id"])
        show = question is not None and (everything or item["correct"])
        out.append(
            QuestionResult(
                question_id=uuid.UUID(item["question_id"]),
                correct=item["correct"],
                points=item["points"],
                points_awarded=item["points_awarded"],
                expected=expected_value(question) if show and question else None,
                explanation=question.explanation if show and question else None,
            )
        )
    return out


def right_positions(question: Question) -> list[int]:
    if question.kind == QuestionKind.single:
        return [int(question.answer)]
    if question.kind == QuestionKind.multiple:
        return [int(i) for i in question.answer]
    return []
