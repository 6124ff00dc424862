"""A quiz attempt on the embedded default (`lms up` in a clean folder: SQLite, the filesystem
broker), through GraphQL over HTTP as a student's browser takes it: start, save (a first
save, a change, a stale save refused), submit and the grade, as on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.assessments.support import ANSWER, CREATE_QUIZ, READ, START, SUBMIT
from tests.support import Embedded, GraphQLClient

SEED = """
import json
from lms.security import issue_access_token
from tests.assessments.support import classroom
room = classroom()
print(json.dumps({"course": room["course"].id,
                  "educator": issue_access_token(room["educator"]),
                  "student": issue_access_token(room["students"][0])}))
"""
QUESTIONS = [
    {
        "type": "SINGLE_CHOICE",
        "prompt": "2 + 2?",
        "options": [{"id": "four", "text": "4", "correct": True}, {"id": "five", "text": "5"}],
    },
    {"type": "TRUE_FALSE", "prompt": "SQLite is embedded.", "correctBoolean": True},
]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    stack = Embedded(tmp_path_factory.mktemp("clean-folder"))
    client = GraphQLClient(stack.base_url)
    client.room = json.loads(stack.python(SEED))
    yield client
    client.close()
    stack.stop()


def test_a_timed_quiz_attempt_is_saved_refused_when_stale_and_graded_on_sqlite(embedded):
    room = embedded.room
    variables = {"i": {"courseId": room["course"], "title": "Warm-up", "publish": True,
                       "timeLimitSeconds": 600, "questions": QUESTIONS}}  # fmt: skip
    quiz = embedded.data(CREATE_QUIZ, variables, room["educator"])["createQuiz"]
    attempt = embedded.data(START, {"q": quiz["id"]}, room["student"])["startQuizAttempt"]
    assert attempt["status"] == "IN_PROGRESS" and attempt["deadline"]
    choice, truth = (q["id"] for q in attempt["questions"])
    if attempt["questions"][0]["type"] != "SINGLE_CHOICE":
        choice, truth = truth, choice

    def save(question: str, version: int, **answer) -> dict:
        saved = {"questionId": question, "version": version, **answer}
        return embedded.execute(ANSWER, {"s": attempt["id"], "i": saved}, room["student"])

    first = save(choice, 0, selectedOptionIds=["five"])["data"]["submitQuizAnswer"]
    assert first["version"] == 1
    changed = save(choice, 1, selectedOptionIds=["four"])["data"]["submitQuizAnswer"]
    assert changed["version"] == 2 and changed["response"] == {"selected": ["four"]}
    stale = save(choice, 1, selectedOptionIds=["five"])["errors"][0]["extensions"]
    assert (stale["code"], stale["currentVersion"]) == ("STALE_ANSWER_VERSION", 2)
    assert save(truth, 0, booleanValue=True)["data"]["submitQuizAnswer"]["version"] == 1

    # A resumed attempt shows every saved answer.
    read = embedded.data(READ, {"id": attempt["id"]}, room["student"])["quizSubmission"]
    assert {a["questionId"]: a["version"] for a in read["answers"]} == {choice: 2, truth: 1}
    done = embedded.data(SUBMIT, {"s": attempt["id"]}, room["student"])["submitQuiz"]
    assert done["status"] == "GRADED" and done["score"] == done["maxScore"] == 2
