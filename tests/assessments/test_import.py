"""Importing multiple-choice questions: the real SciQ file and the generic shape."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from studyhall.assessments.importers import load_records, to_questions
from studyhall.assessments.schemas import GenericRecord, SciQRecord
from tests.courses.helpers import API, Headers, World


async def test_import_sciq_valid_json(
    client: httpx.AsyncClient, world: World, auth: Headers, shared_data: Path
) -> None:
    records: list[dict[str, str]] = json.loads((shared_data / "sciq" / "valid.json").read_text())
    assert len(records) == 1000
    cid = world.course_a["id"]
    r = await client.post(
        f"{API}/courses/{cid}/quizzes/import",
        params={"title": "SciQ validation set"},
        json=records,
        headers=auth(world.teacher),
    )
    assert r.status_code == 201, r.text[:500]
    result = r.json()
    assert result["imported"] == 1000 and result["skipped"] == 0
    assert result["quiz"]["title"] == "SciQ validation set"
    assert result["quiz"]["question_count"] == 1000 and result["quiz"]["max_score"] == 1000

    quiz = (
        await client.get(f"{API}/quizzes/{result['quiz']['id']}", headers=auth(world.teacher))
    ).json()
    questions = quiz["questions"]
    assert len(questions) == 1000
    answer_positions: Counter[int] = Counter()
    for record, question in zip(records, questions, strict=True):
        assert question["prompt"] == record["question"].strip()
        assert question["kind"] == "single"
        assert question["options"][question["answer"]] == record["correct_answer"].strip()
        expected = {
            record[k].strip().casefold()
            for k in ("correct_answer", "distractor1", "distractor2", "distractor3")
        }
        assert {o.casefold() for o in question["options"]} == expected
        assert question["explanation"] == (record["support"].strip() or None)
        answer_positions[question["answer"]] += 1
    # Shuffled: the correct answer is not always first, and every position is used.
    assert set(answer_positions) == {0, 1, 2, 3} and answer_positions[0] < 400

    # The student view of the imported quiz carries no answers nor the support passages.
    student = await client.get(f"{API}/quizzes/{quiz['id']}", headers=auth(world.student))
    visible = " ".join(x[k] for x in records for k in ("question", "correct_answer", "distractor1"))
    support = next(
        x["support"] for x in records if len(x["support"]) > 40 and x["support"][:40] not in visible
    )
    assert '"answer"' not in student.text and support[:40] not in student.text

    # The same seed gives the same stored order; another seed another order.
    again = await client.post(
        f"{API}/courses/{cid}/quizzes/import",
        json={"title": "again", "seed": 0, "items": records[:50]},
        headers=auth(world.teacher),
    )
    again_quiz = (
        await client.get(f"{API}/quizzes/{again.json()['quiz']['id']}", headers=auth(world.teacher))
    ).json()
    assert [q["options"] for q in again_quiz["questions"]] == [q["options"] for q in questions[:50]]
    other = to_questions([SciQRecord(**x) for x in records[:50]], seed=7)[0]
    assert [q.options for q in other] != [q["options"] for q in questions[:50]]

    # Only the course's teacher or an admin imports.
    for user, status in ((world.student, 403), (world.other_teacher, 403), (world.admin, 201)):
        r = await client.post(
            f"{API}/courses/{cid}/quizzes/import", json=records[:3], headers=auth(user)
        )
        assert r.status_code == status
    assert (
        await client.post(f"{API}/courses/{cid}/quizzes/import", json=records[:3])
    ).status_code == 401


async def test_import_generic_shape_and_bad_records(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    items: list[dict[str, Any]] = [
        {"prompt": "Capital of France?", "options": ["Paris", "Lyon", "Nice"], "answer": "Paris"},
        {"question": "2 + 3?", "options": ["4", "5", "6"], "answer": 1, "explanation": "Count."},
        {"prompt": "Broken", "options": ["a", "b"], "answer": "z"},  # answer not an option
        {"question": "Only one", "correct_answer": "x", "distractor1": "x", "support": ""},
    ]
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/quizzes/import",
        json={"title": "Mixed", "items": items, "shuffle": False, "pass_percent": 50},
        headers=auth(world.teacher),
    )
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and r.json()["skipped"] == 2
    quiz = (
        await client.get(f"{API}/quizzes/{r.json()['quiz']['id']}", headers=auth(world.teacher))
    ).json()
    assert [(q["options"], q["answer"]) for q in quiz["questions"]] == [
        (["Paris", "Lyon", "Nice"], 0),
        (["4", "5", "6"], 1),
    ]
    assert quiz["pass_percent"] == 50 and quiz["questions"][1]["explanation"] == "Count."
    # A student answering by text gets it right.
    r = await client.post(
        f"{API}/quizzes/{quiz['id']}/attempts",
        json={"answers": ["paris", "5"]},
        headers=auth(world.student),
    )
    assert r.json()["score"] == 2

    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/quizzes/import",
        json={"items": [items[2]]},
        headers=auth(world.teacher),
    )
    assert r.status_code == 422 and r.json()["code"] == "empty_import"
    r = await client.post(
        f"{API}/courses/{world.course_a['id']}/quizzes/import",
        json={"items": [{"nothing": "useful"}]},
        headers=auth(world.teacher),
    )
    assert r.status_code == 422


def test_load_records_reads_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "q.json"
    path.write_text(
        json.dumps(
            [
                {
                    "question": "q",
                    "correct_answer": "a",
                    "distractor1": "b",
                    "distractor2": "",
                    "distractor3": "c",
                    "support": "s",
                },
                {"prompt": "p", "options": ["x", "y"], "answer": 1},
            ]
        )
    )
    records = load_records(path)
    assert isinstance(records[0], SciQRecord) and isinstance(records[1], GenericRecord)
    questions, skipped = to_questions(records, seed=3)
    assert skipped == 0
    assert sorted(questions[0].options) == ["a", "b", "c"]  # the empty distractor is dropped
    assert questions[0].options[questions[0].answer] == "a" and questions[0].explanation == "s"
    assert questions[1].options[questions[1].answer] == "y"
