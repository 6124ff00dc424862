"""What saving an answer costs over HTTP, the path every student takes twenty times a quiz:
one database connection per request and three statements (the viewer; the attempt locked,
with its quiz's navigation, the question and this attempt's answer to it; the
version-guarded write). Two tabs saving the same answer at once: one wins, one is told."""

from __future__ import annotations

import asyncio

from lms.security import issue_access_token
from tests.assessments.support import (
    ANSWER,
    CREATE_QUIZ,
    QUIZ,
    READ,
    START,
    SUBMISSION_FIELDS,
    SUBMIT,
    classroom,
)
from tests.http_api import running_api

QUESTIONS = [
    {
        "type": "SINGLE_CHOICE",
        "prompt": f"Question {n}",
        "options": [{"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B"}],
    }
    for n in range(3)
]


async def published_quiz(gql, room: dict, title: str) -> dict:
    variables = {
        "i": {
            "courseId": room["course"].id,
            "lessonId": room["course"].lessons[0],
            "title": title,
            "publish": True,
            "questions": QUESTIONS,
        }
    }
    return (await gql.data(CREATE_QUIZ, variables, room["educator"]))["createQuiz"]


async def test_a_students_quiz_page_and_start_ask_their_standing_once(gql):
    """The exam opens with every student reading the quiz and starting an attempt at once:
    whether the viewer teaches or is enrolled is one statement in each, not two."""
    room = classroom()
    quiz = await published_quiz(gql, room, "Standing")
    token = issue_access_token(room["students"][0])
    async with running_api() as api:
        page = (await api.data(QUIZ, {"id": quiz["id"]}, token))["quiz"]
        assert page["id"] == quiz["id"]
        standing = [s for s in api.statements if "course_instructors" in s]
        assert len(standing) == 1 and "enrollments" in standing[0], api.statements
        assert len(api.statements) == 5, api.statements
        await api.data(START, {"q": quiz["id"]}, token)
        standing = [s for s in api.statements if "course_instructors" in s]
        assert len(standing) == 1 and "enrollments" in standing[0], api.statements


async def test_saving_an_answer_takes_one_connection_and_three_statements(gql):
    room = classroom()
    quiz = await published_quiz(gql, room, "Costs")
    token = issue_access_token(room["students"][0])
    async with running_api() as api:
        attempt = (await api.data(START, {"q": quiz["id"]}, token))["startQuizAttempt"]
        question = attempt["questions"][0]["id"]
        save = {"questionId": question, "version": 0, "selectedOptionIds": ["b"]}

        first = await api.data(ANSWER, {"s": attempt["id"], "i": save}, token)
        assert first["submitQuizAnswer"]["version"] == 1
        assert api.checkouts == 1
        assert len(api.statements) == 3, api.statements
        assert api.statements[-1].startswith("INSERT INTO assessment_quiz_answers")

        changed = {**save, "version": 1, "selectedOptionIds": ["a"]}
        second = await api.data(ANSWER, {"s": attempt["id"], "i": changed}, token)
        assert second["submitQuizAnswer"] == {
            "questionId": question,
            "response": {"selected": ["a"]},
            "version": 2,
            "score": None,
        }
        assert api.checkouts == 1 and len(api.statements) == 3, api.statements

        # A stale save is refused with its code and changes nothing.
        stale = await api.post(ANSWER, {"s": attempt["id"], "i": save}, token)
        assert [e["extensions"]["code"] for e in stale["errors"]] == ["STALE_ANSWER_VERSION"]
        read = (await api.data(READ, {"id": attempt["id"]}, token))["quizSubmission"]
        assert [a["response"] for a in read["answers"]] == [{"selected": ["a"]}]
        assert [a["version"] for a in read["answers"]] == [2]

        # Two tabs save another question from the same version at once: exactly one is stored,
        # the other is refused with the version it must start from.
        other = attempt["questions"][1]["id"]
        tabs = [
            {"questionId": other, "version": 0, "selectedOptionIds": [choice]}
            for choice in ("a", "b")
        ]
        results = await asyncio.gather(
            *(api.post(ANSWER, {"s": attempt["id"], "i": tab}, token) for tab in tabs)
        )
        saved = [r["data"]["submitQuizAnswer"] for r in results if not r.get("errors")]
        refused = [r["errors"][0]["extensions"] for r in results if r.get("errors")]
        assert [s["version"] for s in saved] == [1]
        assert [(e["code"], e["currentVersion"]) for e in refused] == [("STALE_ANSWER_VERSION", 1)]
        read = (await api.data(READ, {"id": attempt["id"]}, token))["quizSubmission"]
        stored = {a["questionId"]: a["response"] for a in read["answers"]}
        assert stored[other] == saved[0]["response"]


LIST = f"""query($q: ID!) {{ quizSubmissions(quizId: $q) {{ {SUBMISSION_FIELDS} }} }}"""


async def test_the_educator_s_list_of_attempts_costs_the_same_for_two_as_for_one(gql):
    room = classroom()
    quiz = await published_quiz(gql, room, "To grade")
    teacher = issue_access_token(room["educator"])
    async with running_api() as api:
        counts, chosen = [], {}
        for student, choice in zip(room["students"], ("a", "b"), strict=True):
            token = issue_access_token(student)
            attempt = (await api.data(START, {"q": quiz["id"]}, token))["startQuizAttempt"]
            for question in attempt["questions"]:
                save = {"questionId": question["id"], "version": 0, "selectedOptionIds": [choice]}
                await api.data(ANSWER, {"s": attempt["id"], "i": save}, token)
            await api.data(SUBMIT, {"s": attempt["id"]}, token)
            chosen[attempt["id"]] = choice
            listed = (await api.data(LIST, {"q": quiz["id"]}, teacher))["quizSubmissions"]
            counts.append(len(api.statements))
            # Each attempt shows its own answers and score, never another student's.
            for row in listed:
                mine = chosen[row["id"]]
                assert [a["response"] for a in row["answers"]] == [{"selected": [mine]}] * 3
                assert row["score"] == (3.0 if mine == "a" else 0.0)
        assert len(listed) == 2
        assert counts[0] == counts[1], counts
