"""What saving an answer costs over HTTP, the path every student takes twenty times a quiz:
one database connection per request and four statements (the viewer, the attempt locked
with its quiz's navigation, the question with this attempt's answer to it, the write)."""

from __future__ import annotations

from lms.security import issue_access_token
from tests.assessments.support import ANSWER, CREATE_QUIZ, READ, START, classroom
from tests.http_api import running_api

QUESTIONS = [
    {
        "type": "SINGLE_CHOICE",
        "prompt": f"Question {n}",
        "options": [{"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B"}],
    }
    for n in range(3)
]


async def test_saving_an_answer_takes_one_connection_and_four_statements(gql):
    room = classroom()
    variables = {
        "i": {
            "courseId": room["course"].id,
            "lessonId": room["course"].lessons[0],
            "title": "Costs",
            "publish": True,
            "questions": QUESTIONS,
        }
    }
    quiz = (await gql.data(CREATE_QUIZ, variables, room["educator"]))["createQuiz"]
    token = issue_access_token(room["students"][0])
    async with running_api() as api:
        attempt = (await api.data(START, {"q": quiz["id"]}, token))["startQuizAttempt"]
        question = attempt["questions"][0]["id"]
        save = {"questionId": question, "version": 0, "selectedOptionIds": ["b"]}

        first = await api.data(ANSWER, {"s": attempt["id"], "i": save}, token)
        assert first["submitQuizAnswer"]["version"] == 1
        assert api.checkouts == 1
        assert len(api.statements) == 4, api.statements
        assert api.statements[-1].startswith("INSERT INTO assessment_quiz_answers")

        changed = {**save, "version": 1, "selectedOptionIds": ["a"]}
        second = await api.data(ANSWER, {"s": attempt["id"], "i": changed}, token)
        assert second["submitQuizAnswer"] == {
            "questionId": question,
            "response": {"selected": ["a"]},
            "version": 2,
            "score": None,
        }
        assert api.checkouts == 1 and len(api.statements) == 4, api.statements

        # A stale save is refused with its code and changes nothing.
        stale = await api.post(ANSWER, {"s": attempt["id"], "i": save}, token)
        assert [e["extensions"]["code"] for e in stale["errors"]] == ["STALE_ANSWER_VERSION"]
        read = (await api.data(READ, {"id": attempt["id"]}, token))["quizSubmission"]
        assert [a["response"] for a in read["answers"]] == [{"selected": ["a"]}]
        assert [a["version"] for a in read["answers"]] == [2]
