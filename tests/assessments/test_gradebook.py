"""The gradebook: best or last attempt, graded assignments, weights, CSV, who sees which rows."""

from __future__ import annotations

import csv
import io

import httpx

from tests.assessments.test_quizzes import ALL_CORRECT, make_quiz, submit
from tests.courses.helpers import API, Headers, World


async def test_gradebook_rows_columns_weights_and_csv(
    client: httpx.AsyncClient, world: World, auth: Headers
) -> None:
    t, s = auth(world.teacher), auth(world.student)
    cid = world.course_a["id"]
    first = await make_quiz(client, t, cid, title="Quiz one")
    second = await make_quiz(client, t, cid, title="Quiz two", weight=2)
    r = await client.post(
        f"{API}/courses/{cid}/assignments",
        json={"title": "=HYPERLINK(essay)", "max_score": 20},
        headers=t,
    )
    assignment = r.json()
    assert assignment["weight"] == 1.0

    # First quiz: 100 % then 0 %; second: 50 %; the essay graded 15/20.
    assert (await submit(client, s, first["id"], ALL_CORRECT)).status_code == 200
    assert (await submit(client, s, first["id"], [None] * 4)).status_code == 200
    half = ["Oak tree", [0, 1, 3], None, None]  # 5 of 8 points... in percent: 62.5
    assert (await submit(client, s, second["id"], half)).status_code == 200
    sub = await client.post(
        f"{API}/assignments/{assignment['id']}/submissions", json={"content": "Essay"}, headers=s
    )
    assert sub.status_code == 201, sub.text
    graded = await client.put(
        f"{API}/submissions/{sub.json()['id']}/grade", json={"score": 15}, headers=t
    )
    assert graded.status_code == 200, graded.text

    book = (await client.get(f"{API}/courses/{cid}/gradebook", headers=t)).json()
    assert book["quiz_grading"] == "best"
    assert [(c["kind"], c["weight"]) for c in book["columns"]] == [
        ("quiz", 1.0),
        ("quiz", 2.0),
        ("assignment", 1.0),
    ]
    rows = {r["student_id"]: r for r in book["rows"]}
    mine = rows[str(world.student.id)]
    assert [c["percent"] for c in mine["cells"]] == [100.0, 62.5, 75.0]
    assert mine["total_percent"] == round((100 + 2 * 62.5 + 75) / 4, 2)

    # The course's choice: the last attempt counts.
    await client.patch(f"{API}/courses/{cid}", json={"quiz_grading": "last"}, headers=t)
    book = (await client.get(f"{API}/courses/{cid}/gradebook", headers=t)).json()
    mine = next(r for r in book["rows"] if r["student_id"] == str(world.student.id))
    assert [c["percent"] for c in mine["cells"]] == [0.0, 62.5, 75.0]

    # CSV for spreadsheets, formulas neutralised.
    response = await client.get(
        f"{API}/courses/{cid}/gradebook", headers={**t, "Accept": "text/csv"}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0][0] == "student_id" and table[0][-1] == "total_percent"
    assert table[0][5].startswith("'=HYPERLINK")
    line = next(row for row in table if row[0] == str(world.student.id))
    assert line[3:] == ["0", "62.5", "75", f"{mine['total_percent']:g}"]

    # A student reads their own row only; outsiders are refused.
    own = (await client.get(f"{API}/courses/{cid}/gradebook", headers=s)).json()
    assert [r["student_id"] for r in own["rows"]] == [str(world.student.id)]
    for user in (world.other_teacher, world.other_student):
        r = await client.get(f"{API}/courses/{cid}/gradebook", headers=auth(user))
        assert r.status_code in (403, 404)
