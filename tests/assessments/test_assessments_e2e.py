"""End to end over HTTP with an API, a worker and `lms beat` as processes: what a student's
browser receives carries no answer key; the server closes a timed attempt at its deadline by
the scheduled job; a corrected question is regraded by a job with a before/after report;
"assignment due soon" reaches the inbox through the notifications worker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from lms.assessments.models import AttemptStatus, QuizAttempt
from lms.db import session_scope
from lms.jobs.broker import publisher
from tests.faults.support import wait_until
from tests.assessments.support import (
    ANSWER,
    CREATE_ASSIGNMENT,
    CREATE_QUIZ,
    MINE,
    START,
    SUBMIT,
    classroom,
)
from lms.security import issue_access_token as issue_token
from tests.support import GraphQLClient, start_api, start_beat, start_worker


@pytest.fixture(scope="module")
def stack():
    api_process, base_url = start_api()
    worker = start_worker("default,notifications")
    beat = start_beat({"LMS_ASSESSMENTS_CLOSE_INTERVAL_SECONDS": "1"})
    client = GraphQLClient(base_url)
    yield client
    client.close()
    for process in (beat, worker, api_process):
        process.stop()


def test_the_server_closes_a_timed_attempt_and_the_wire_carries_no_key(stack):
    room = classroom()
    teacher = issue_token(room["educator"])
    student_user = room["students"][0]
    student = issue_token(student_user)
    closes = datetime.now(UTC) + timedelta(seconds=3)
    quiz = stack.data(
        CREATE_QUIZ,
        {
            "i": {
                "courseId": room["course"].id,
                "title": "Timed",
                "publish": True,
                "closesAt": closes.isoformat(),
                "timeLimitSeconds": 600,
                "questions": [
                    {
                        "type": "SINGLE_CHOICE",
                        "prompt": "2 + 2?",
                        "options": [
                            {"id": "four", "text": "4", "correct": True},
                            {"id": "five", "text": "5"},
                        ],
                    }
                ],
            }
        },
        teacher,
    )["createQuiz"]
    body = stack.post(START, {"q": quiz["id"]}, student).text
    attempt = json.loads(body)["data"]["startQuizAttempt"]
    # The deadline is min(start + 10 minutes, close): the quiz's close, shown from the start.
    assert datetime.fromisoformat(attempt["deadline"]) == closes
    assert '"answerKey":null' in body.replace(" ", "") and "correct" not in body
    question = attempt["questions"][0]["id"]
    saved = stack.data(
        ANSWER,
        {
            "s": attempt["id"],
            "i": {"questionId": question, "version": 0, "selectedOptionIds": ["four"]},
        },
        student,
    )["submitQuizAnswer"]
    assert saved["version"] == 1

    def closed():
        with session_scope() as session:
            row = session.get(QuizAttempt, uuid.UUID(attempt["id"]))
            return row if row.status != AttemptStatus.IN_PROGRESS else None

    row = wait_until(closed, 30, "the server closes the attempt")
    assert row.closed_by == "DEADLINE" and row.score == 1.0 and row.status == "GRADED"
    late = {"questionId": question, "version": 1, "selectedOptionIds": ["five"]}
    assert stack.error_codes(ANSWER, {"s": attempt["id"], "i": late}, student) == ["ATTEMPT_CLOSED"]


def test_assignment_due_soon_reaches_the_inbox(stack):
    room = classroom()
    teacher = issue_token(room["educator"])
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assignment = stack.data(
        CREATE_ASSIGNMENT,
        {"i": {"courseId": room["course"].id, "title": "Lab report", "dueAt": due}},
        teacher,
    )["createAssignment"]
    publisher().send_task("assessments.notify_due_soon")  # what beat sends every 10 minutes
    inbox = "query { getUserNotifications { nodes { type title data } } }"
    for student in room["students"]:
        token = issue_token(student)
        nodes = wait_until(
            lambda t=token: stack.data(inbox, {}, t)["getUserNotifications"]["nodes"],
            30,
            "the due-soon notice reaches the inbox",
        )
        assert nodes == [
            {
                "type": "ASSIGNMENT_DUE",
                "title": "Due soon: Lab report",
                "data": {"assignmentId": assignment["id"]},
            }
        ]


CAPITAL = {
    "type": "SINGLE_CHOICE",
    "prompt": "Capital of France?",
    "points": 2,
    "options": [
        {"id": "paris", "text": "Paris", "correct": True},
        {"id": "rome", "text": "Rome"},
    ],
}
CORRECT = """mutation($id: ID!, $i: QuestionInput!) { updateQuizQuestion(id: $id, input: $i) {
  question { revision } regrade { id status revision attempts } } }"""
REGRADES = """query($q: ID!) { questionRegrades(questionId: $q) { id status revision attempts
  changes { submissionId studentId answerBefore answerAfter scoreBefore scoreAfter } } }"""


def test_a_corrected_question_is_regraded_by_a_job_with_a_report(stack):
    room = classroom()
    teacher = issue_token(room["educator"])
    students = room["students"]
    quiz = stack.data(
        CREATE_QUIZ,
        {"i": {"courseId": room["course"].id, "title": "Fix me", "publish": True,
               "questions": [CAPITAL]}},
        teacher,
    )["createQuiz"]  # fmt: skip
    attempts = {}
    for student, choice in zip(students, ("rome", "paris"), strict=True):
        token = issue_token(student)
        attempt = stack.data(START, {"q": quiz["id"]}, token)["startQuizAttempt"]
        question = attempt["questions"][0]["id"]
        answer = {"questionId": question, "version": 0, "selectedOptionIds": [choice]}
        stack.data(ANSWER, {"s": attempt["id"], "i": answer}, token)
        stack.data(SUBMIT, {"s": attempt["id"]}, token)
        attempts[choice] = attempt["id"]

    # The key was wrong: Rome is right. The answer is a job; the report comes with it.
    options = [{**o, "correct": o["id"] == "rome"} for o in CAPITAL["options"]]
    fixed = {**CAPITAL, "options": options}
    asked = stack.data(CORRECT, {"id": question, "i": fixed}, teacher)["updateQuizQuestion"]
    assert asked["question"]["revision"] == 2 and asked["regrade"]["revision"] == 2
    assert stack.error_codes(REGRADES, {"q": question}, issue_token(students[0])) == [
        "QUESTION_NOT_FOUND"
    ]

    def finished():
        [regrade] = stack.data(REGRADES, {"q": question}, teacher)["questionRegrades"]
        return regrade if regrade["status"] == "SUCCEEDED" else None

    regrade = wait_until(finished, 30, "the regrade job finishes")
    assert regrade["id"] == asked["regrade"]["id"] and regrade["attempts"] == 2
    before_after = {
        c["submissionId"]: (c["studentId"], c["answerBefore"], c["answerAfter"], c["scoreAfter"])
        for c in regrade["changes"]
    }
    assert before_after == {
        attempts["rome"]: (str(students[0].id), 0.0, 2.0, 2.0),
        attempts["paris"]: (str(students[1].id), 2.0, 0.0, 0.0),
    }
    mine = stack.data(MINE, {"q": quiz["id"]}, issue_token(students[0]))
    assert mine["quizSubmissionsByStudent"][0]["score"] == 2.0
    # A correction nobody's closed attempt used needs no job.
    other = stack.data(
        CREATE_QUIZ,
        {"i": {"courseId": room["course"].id, "title": "Unused", "questions": [CAPITAL]}},
        teacher,
    )["createQuiz"]
    unused = other["questions"][0]["id"]
    assert (
        stack.data(CORRECT, {"id": unused, "i": fixed}, teacher)["updateQuizQuestion"]["regrade"]
        is None
    )
