"""Turn imported multiple-choice records (SciQ and a generic shape) into quiz questions."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from pydantic import TypeAdapter

from studyhall.assessments.schemas import GenericRecord, ImportRecord, SciQRecord


@dataclass(frozen=True)
class ImportedQuestion:
    prompt: str
    options: list[str]
    answer: int
    explanation: str | None
    points: float


def _distinct(options: list[str]) -> list[str]:
    """Strip, drop empty and repeated options (keeping the first, so the correct one stays)."""
    seen: set[str] = set()
    out: list[str] = []
    for option in options:
        text = option.strip()
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(text)
    return out


def _from_sciq(record: SciQRecord) -> tuple[str, list[str], int, str | None, float]:
    options = _distinct(
        [record.correct_answer, record.distractor1, record.distractor2, record.distractor3]
    )
    # SciQ's `support` is the textbook passage the question was written from: the explanation.
    return record.question.strip(), options, 0, record.support.strip() or None, 1.0


def _from_generic(record: GenericRecord) -> tuple[str, list[str], int, str | None, float]:
    options = _distinct(record.options)
    correct: str | None
    if isinstance(record.answer, int) and not isinstance(record.answer, bool):
        in_range = 0 <= record.answer < len(record.options)
        correct = record.options[record.answer].strip() if in_range else None
    else:
        correct = str(record.answer).strip()
    folded = [o.casefold() for o in options]
    if correct is None or correct.casefold() not in folded:
        return record.prompt.strip(), [], 0, None, record.points  # unusable: skipped
    return (
        record.prompt.strip(),
        options,
        folded.index(correct.casefold()),
        record.explanation,
        record.points,
    )


def to_questions(
    records: list[ImportRecord], *, seed: int = 0, shuffle: bool = True
) -> tuple[list[ImportedQuestion], int]:
    """Questions with options in a seeded, reproducible shuffled order; and how many were skipped.

    The order is decided once here and stored, so every student sees the same order and the
    stored answer index stays valid.
    """
    questions: list[ImportedQuestion] = []
    skipped = 0
    for record in records:
        if isinstance(record, SciQRecord):
            prompt, options, answer, explanation, points = _from_sciq(record)
        else:
            prompt, options, answer, explanation, points = _from_generic(record)
        if len(options) < 2 or not prompt:
            skipped += 1
            continue
        if shuffle:
            order = list(range(len(options)))
            # A string seed is hashed with SHA-512 by random.Random: stable across processes.
            random.Random(f"{seed}:{len(questions)}:{prompt}").shuffle(order)
            answer = order.index(answer)
            options = [options[i] for i in order]
        questions.append(ImportedQuestion(prompt, options, answer, explanation, points))
    return questions, skipped


_RECORDS = TypeAdapter(list[ImportRecord])


def load_records(path: Path) -> list[ImportRecord]:
    """Read a JSON file holding a list of SciQ or generic records."""
    return _RECORDS.validate_python(json.loads(path.read_text(encoding="utf-8")))
