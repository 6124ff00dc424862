"""Quizzes through GraphQL: every question type graded with partial credit, autosaved answers
with versions, no answer key before review, attempts, bad input with its code."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from lms.analytics.models import LearningEvent
from lms.db import session_scope

from tests.assessments.support import (
    ANSWER,
    CREATE_QUIZ,
    MINE,
    QUIZ,
    READ,
    START,
    SUBMIT,
    classroom,
)

QUESTIONS = [
    {
        "type": "SINGLE_CHOICE",
        "prompt": "Capital of France?",
        "points": 2,
        "options": [
            {"id": "paris", "text": "Paris", "correct": True},
            {"id": "rome", "text": "Rome"},
            {"id": "oslo", "text": "Oslo"},
        ],
    },
    {
        "type": "MULTIPLE_RESPONSE",
        "prompt": "Prime numbers?",
        "points": 4,
        "partialCredit": "RIGHT_MINUS_WRONG",
        "options": [
            {"id": "2", "text": "2", "correct": True},
            {"id": "3", "text": "3", "correct": True},
            {"id": "4", "text": "4"},
            {"id": "5", "text": "5", "correct": True},
        ],
    },
    {"type": "TRUE_FALSE", "prompt": "The sky is green.", "correctBoolean": False},
    {
        "type": "SHORT_ANSWER",
        "prompt": "Who wrote Hamlet?",
        "acceptedAnswers": ["William Shakespeare"],
        "answerPatterns": ["(w\\.? )?shakespeare"],
    },
    {
        "type": "NUMERICAL",
        "prompt": "Length of the rod?",
        "numericValue": 1.5,
        "tolerance": 0.01,
        "units": [{"name": "m", "multiplier": 1}, {"name": "cm", "multiplier": 0.01}],
    },
    {
        "type": "MATCHING",
        "prompt": "Match the capitals",
        "points": 3,
        "options": [
            {"id": "fr", "text": "France", "side": "LEFT", "matchId": "p"},
            {"id": "it", "text": "Italy", "side": "LEFT", "matchId": "r"},
            {"id": "no", "text": "Norway", "side": "LEFT", "matchId": "o"},
            {"id": "p", "text": "Paris", "side": "RIGHT"},
            {"id": "r", "text": "Rome", "side": "RIGHT"},
            {"id": "o", "text": "Oslo", "side": "RIGHT"},
        ],
    },
    {
        "type": "ORDERING",
        "prompt": "Smallest first",
        "points": 4,
        "options": [{"text": "one"}, {"text": "two"}, {"text": "three"}, {"text": "four"}],
    },
    {
        "type": "FILL_IN_BLANKS",
        "prompt": "Water is [[1]] and [[2]].",
        "points": 2,
        "blanks": [{"acceptedAnswers": ["H2O"]}, {"acceptedAnswers": ["wet"]}],
    },
    {"type": "ESSAY", "prompt": "Why?", "points": 5},
]


@pytest.fixture(scope="module")
def room():
    return classroom()


async def make_quiz(gql, room, **settings) -> dict:
    variables = {
        "i": {
            "courseId": room["course"].id,
            "lessonId": room["course"].lessons[0],
            "title": "Everything",
            "publish": True,
            "questions": QUESTIONS,
            **settings,
        }
    }
    return (await gql.data(CREATE_QUIZ, variables, room["educator"]))["createQuiz"]


def by_type(attempt: dict) -> dict[str, dict]:
    return {q["type"]: q for q in attempt["questions"]}


async def test_an_attempt_is_graded_per_type_with_partial_credit_and_no_key_leaks(gql, room):
    quiz = await make_quiz(gql, room, showAnswers="AFTER_ATTEMPT", passingPercent=50)
    assert quiz["status"] == "PUBLISHED" and quiz["questionCount"] == len(QUESTIONS)
    student = room["students"][0]

    # A student sees no question (nor key) on the quiz itself.
    seen = (await gql.data(QUIZ, {"id": quiz["id"]}, student))["quiz"]
    assert seen["questions"] == [] and seen["viewerCanEdit"] is False

    attempt = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    assert attempt["status"] == "IN_PROGRESS" and attempt["maxScore"] == 23
    assert all(q["answerKey"] is None for q in attempt["questions"])
    assert "correct" not in json.dumps(attempt) and "matchId" not in json.dumps(attempt)
    q = by_type(attempt)
    ordering = [o["id"] for o in q["ORDERING"]["options"]]
    teacher_view = (await gql.data(QUIZ, {"id": quiz["id"]}, room["educator"]))["quiz"]
    right_order = next(x for x in teacher_view["questions"] if x["type"] == "ORDERING")
    right_order = right_order["answerKey"]["order"]
    assert ordering != right_order and sorted(ordering) == sorted(right_order)

    s = attempt["id"]
    answers = {
        "SINGLE_CHOICE": {"selectedOptionIds": ["paris"]},  # 2 of 2
        "MULTIPLE_RESPONSE": {"selectedOptionIds": ["2", "3", "4"]},  # (2-1)/3 of 4 = 1.33
        "TRUE_FALSE": {"booleanValue": False},  # 1
        "SHORT_ANSWER": {"text": "  W.   SHAKESPEARE "},  # 1 (pattern, case, spaces)
        "NUMERICAL": {"text": "150 cm"},  # 1
        "MATCHING": {  # 2 of 3 pairs: 2
            "pairs": [
                {"leftId": "fr", "rightId": "p"},
                {"leftId": "it", "rightId": "o"},
                {"leftId": "no", "rightId": "o"},
            ]
        },
        # two of four in place: 2
        "ORDERING": {
            "orderedOptionIds": [right_order[0], right_order[2], right_order[1], right_order[3]]
        },
        "FILL_IN_BLANKS": {"blanks": ["h2o", "dry"]},  # 1 of 2 blanks: 1
        "ESSAY": {"text": "Because."},
    }
    for kind, response in answers.items():
        saved = (
            await gql.data(
                ANSWER,
                {"s": s, "i": {"questionId": q[kind]["id"], "version": 0, **response}},
                student,
            )
        )["submitQuizAnswer"]
        assert saved["version"] == 1 and saved["score"] is None

    # A reconnect resumes the same attempt with every saved answer.
    resumed = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    assert resumed["id"] == s and len(resumed["answers"]) == len(answers)
    assert [x["id"] for x in resumed["questions"]] == [x["id"] for x in attempt["questions"]]

    done = (await gql.data(SUBMIT, {"s": s}, student))["submitQuiz"]
    assert done["status"] == "NEEDS_GRADING" and done["closedBy"] == "STUDENT"
    scores = {a["questionId"]: a["score"] for a in done["answers"]}
    assert {kind: scores[q[kind]["id"]] for kind in answers} == {
        "SINGLE_CHOICE": 2,
        "MULTIPLE_RESPONSE": 1.33,
        "TRUE_FALSE": 1,
        "SHORT_ANSWER": 1,
        "NUMERICAL": 1,
        "MATCHING": 2,
        "ORDERING": 2,
        "FILL_IN_BLANKS": 1,
        "ESSAY": None,
    }
    # Review after the attempt: the key is shown now.
    assert by_type(done)["SINGLE_CHOICE"]["answerKey"]["correct"] == ["paris"]
    assert done["score"] is None  # the essay waits for a grader

    grade = """mutation($s: ID!, $i: GradeQuizAnswerInput!) {
      gradeQuizAnswer(submissionId: $s, input: $i) { status score percent passed } }"""
    essay = {"questionId": q["ESSAY"]["id"], "points": 4, "feedback": "Good"}
    assert await gql.codes(grade, {"s": s, "i": essay}, student) == ["FORBIDDEN"]
    too_many = {**essay, "points": 6}
    assert await gql.codes(grade, {"s": s, "i": too_many}, room["educator"]) == [
        "SCORE_OUT_OF_RANGE"
    ]
    graded = (await gql.data(grade, {"s": s, "i": essay}, room["educator"]))["gradeQuizAnswer"]
    assert graded == {"status": "GRADED", "score": 15.33, "percent": 66.65, "passed": True}
    # The graded attempt and each of its answers are learning events for analytics.
    with session_scope() as session:
        events = session.scalars(
            select(LearningEvent).where(
                LearningEvent.verb.in_(("scored", "answered")),
                LearningEvent.result.is_not(None),
                LearningEvent.context["submissionId"].as_string() == s,
            )
        ).all()
    scored = [e for e in events if e.verb == "scored"]
    assert [(e.object_id, round(e.score, 4)) for e in scored] == [(quiz["id"], 0.6665)]
    answered = {e.object_id: e.score for e in events if e.verb == "answered"}
    assert answered[q["SINGLE_CHOICE"]["id"]] == 1.0 and len(answered) == len(answers)
    mine = (await gql.data(MINE, {"q": quiz["id"]}, student))["quizSubmissionsByStudent"]
    assert [m["score"] for m in mine] == [15.33]
    # Passing completed the quiz's lesson in Enrollments.
    progress = """query { myEnrollments { nodes { courseId completedLessons status } } }"""
    enrolled = (await gql.data(progress, {}, student))["myEnrollments"]["nodes"]
    assert [(e["completedLessons"], e["status"]) for e in enrolled] == [(1, "COMPLETED")]


async def test_answers_are_versioned_and_bad_answers_refused(gql, room):
    quiz = await make_quiz(gql, room, attemptsAllowed=1)
    student, other = room["students"]
    attempt = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    s, q = attempt["id"], by_type(attempt)
    choice = {"questionId": q["SINGLE_CHOICE"]["id"], "version": 0, "selectedOptionIds": ["rome"]}
    first = (await gql.data(ANSWER, {"s": s, "i": choice}, student))["submitQuizAnswer"]
    # The same save again (a retry after a lost reply) is the same answer, not an error.
    again = (await gql.data(ANSWER, {"s": s, "i": choice}, student))["submitQuizAnswer"]
    assert first == again and again["version"] == 1
    # A second tab still at version 0 with another answer is refused.
    stale = {**choice, "selectedOptionIds": ["oslo"]}
    assert await gql.codes(ANSWER, {"s": s, "i": stale}, student) == ["STALE_ANSWER_VERSION"]
    newer = {**stale, "version": 1}
    assert (await gql.data(ANSWER, {"s": s, "i": newer}, student))["submitQuizAnswer"][
        "response"
    ] == {"selected": ["oslo"]}

    tampered = {**choice, "version": 2, "selectedOptionIds": ["paris-x"]}
    assert await gql.codes(ANSWER, {"s": s, "i": tampered}, student) == ["INVALID_OPTION"]
    foreign = (await make_quiz(gql, room))["questions"][0]["id"]
    elsewhere = {**choice, "questionId": foreign}
    assert await gql.codes(ANSWER, {"s": s, "i": elsewhere}, student) == ["QUESTION_NOT_IN_ATTEMPT"]
    # Another student cannot read, answer or submit this attempt.
    assert await gql.codes(READ, {"id": s}, other) == ["QUIZ_SUBMISSION_NOT_FOUND"]
    assert await gql.codes(ANSWER, {"s": s, "i": newer}, other) == ["QUIZ_SUBMISSION_NOT_FOUND"]
    assert await gql.codes(SUBMIT, {"s": s}, room["outsider"]) == ["QUIZ_SUBMISSION_NOT_FOUND"]
    assert await gql.codes(START, {"q": quiz["id"]}, room["outsider"]) == ["QUIZ_NOT_FOUND"]

    closed = (await gql.data(SUBMIT, {"s": s}, student))["submitQuiz"]
    assert (await gql.data(SUBMIT, {"s": s}, student))["submitQuiz"] == closed  # idempotent
    # Only a wrong choice was answered; the unanswered essay counts 0, so nothing waits.
    assert closed["status"] == "GRADED" and closed["score"] == 0
    assert await gql.codes(ANSWER, {"s": s, "i": {**newer, "version": 2}}, student) == [
        "ATTEMPT_CLOSED"
    ]
    assert await gql.codes(START, {"q": quiz["id"]}, student) == ["ATTEMPT_LIMIT_REACHED"]


async def test_a_quiz_without_questions_is_not_published(gql, room):
    variables = {"i": {"courseId": room["course"].id, "title": "Empty", "publish": True}}
    assert await gql.codes(CREATE_QUIZ, variables, room["educator"]) == ["QUIZ_HAS_NO_QUESTIONS"]
    draft = {"i": {"courseId": room["course"].id, "title": "Empty"}}
    quiz = (await gql.data(CREATE_QUIZ, draft, room["educator"]))["createQuiz"]
    publish = "mutation($id: ID!) { publishQuiz(id: $id) { status } }"
    assert await gql.codes(publish, {"id": quiz["id"]}, room["educator"]) == [
        "QUIZ_HAS_NO_QUESTIONS"
    ]
    # A draft is invisible to students; students cannot author.
    student = room["students"][0]
    assert await gql.codes(QUIZ, {"id": quiz["id"]}, student) == ["QUIZ_NOT_FOUND"]
    assert await gql.codes(CREATE_QUIZ, draft, student) == ["FORBIDDEN"]


ADD_QUESTION = (
    """mutation($i: AddQuizQuestionInput!) { addQuizQuestion(input: $i) { id quizId } }"""
)


async def test_bank_draws_are_stable_per_attempt_and_sequential_navigation_holds(gql, room):
    educator, student = room["educator"], room["students"][1]
    course = room["course"].id
    for n in range(3):
        question = {"type": "TRUE_FALSE", "prompt": f"Bank {n}", "correctBoolean": True}
        added = await gql.data(
            ADD_QUESTION, {"i": {"courseId": course, "question": question}}, educator
        )
        assert added["addQuizQuestion"]["quizId"] is None
    bank = "query($c: ID!) { questionBank(courseId: $c) { id prompt answerKey } }"
    assert await gql.codes(bank, {"c": course}, student) == ["FORBIDDEN"]
    assert len((await gql.data(bank, {"c": course}, educator))["questionBank"]) >= 3
    quiz = (
        await gql.data(
            CREATE_QUIZ,
            {
                "i": {
                    "courseId": course,
                    "title": "Drawn",
                    "publish": True,
                    "bankDrawCount": 2,
                    "shuffleQuestions": True,
                    "shuffleOptions": True,
                    "navigation": "SEQUENTIAL",
                    "questions": [QUESTIONS[0]],
                }
            },
            educator,
        )
    )["createQuiz"]
    assert quiz["questionCount"] == 3
    attempt = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    assert len(attempt["questions"]) == 3
    again = (await gql.data(READ, {"id": attempt["id"]}, student))["quizSubmission"]
    assert again["questions"] == attempt["questions"]  # same draw, order and option order

    first, second = attempt["questions"][0], attempt["questions"][1]

    def answer_to(question):
        if question["type"] == "TRUE_FALSE":
            return {"booleanValue": True}
        return {"selectedOptionIds": [question["options"][0]["id"]]}

    later = {"questionId": second["id"], "version": 0, **answer_to(second)}
    await gql.data(ANSWER, {"s": attempt["id"], "i": later}, student)
    back = {"questionId": first["id"], "version": 0, **answer_to(first)}
    assert await gql.codes(ANSWER, {"s": attempt["id"], "i": back}, student) == ["QUESTION_LOCKED"]


async def test_an_expired_attempt_is_closed_by_reading_it_and_refuses_answers(gql, room):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from lms.assessments.models import QuizAttempt
    from lms.db import session_scope

    quiz = await make_quiz(gql, room, timeLimitSeconds=60, graceSeconds=5)
    student = room["students"][1]
    attempt = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    started = datetime.fromisoformat(attempt["startedAt"])
    assert datetime.fromisoformat(attempt["deadline"]) == started + timedelta(seconds=60)
    assert datetime.fromisoformat(attempt["graceEndsAt"]) == started + timedelta(seconds=65)
    q = by_type(attempt)
    answer = {"questionId": q["TRUE_FALSE"]["id"], "version": 0, "booleanValue": False}
    await gql.data(ANSWER, {"s": attempt["id"], "i": answer}, student)
    # The minute (and the grace) pass: moved back in the database rather than waited for.
    past = datetime.now(UTC) - timedelta(seconds=1)
    with session_scope() as session:
        session.execute(
            update(QuizAttempt)
            .where(QuizAttempt.id == attempt["id"])
            .values(deadline=past - timedelta(seconds=5), closes_at=past)
        )
    again = {**answer, "version": 1, "booleanValue": True}
    assert await gql.codes(ANSWER, {"s": attempt["id"], "i": again}, student) == [
        "QUIZ_DEADLINE_PASSED"
    ]
    read = (await gql.data(READ, {"id": attempt["id"]}, student))["quizSubmission"]
    assert read["status"] == "GRADED" and read["closedBy"] == "DEADLINE" and read["score"] == 1
    saved = {a["questionId"]: a for a in read["answers"]}
    assert saved[q["TRUE_FALSE"]["id"]]["score"] == 1  # the saved answer was graded


async def test_educators_update_and_delete_quizzes(gql, room):
    educator, student = room["educator"], room["students"][0]
    quiz = await make_quiz(gql, room)
    update = """mutation($id: ID!, $i: UpdateQuizInput!) { updateQuiz(id: $id, input: $i) {
      title attemptsAllowed gradingMethod } }"""
    changes = {"title": "Renamed", "attemptsAllowed": 3, "gradingMethod": "AVERAGE"}
    assert (await gql.data(update, {"id": quiz["id"], "i": changes}, educator))["updateQuiz"] == {
        "title": "Renamed",
        "attemptsAllowed": 3,
        "gradingMethod": "AVERAGE",
    }
    assert await gql.codes(update, {"id": quiz["id"], "i": {"attemptsAllowed": 0}}, educator) == [
        "BAD_USER_INPUT"
    ]
    assert await gql.codes(update, {"id": quiz["id"], "i": changes}, student) == ["FORBIDDEN"]
    remove = "mutation($id: ID!) { deleteQuiz(id: $id) }"
    assert await gql.codes(remove, {"id": quiz["id"]}, student) == ["FORBIDDEN"]
    assert (await gql.data(remove, {"id": quiz["id"]}, educator))["deleteQuiz"] is True
    assert await gql.codes(QUIZ, {"id": quiz["id"]}, educator) == ["QUIZ_NOT_FOUND"]


async def test_a_regrade_request_is_answered_with_an_audit_trail(gql, room):
    educator, student, other = room["educator"], *room["students"]
    short = {**QUESTIONS[3], "points": 2}  # short answer: "Shakespeare"
    variables = {"i": {"courseId": room["course"].id, "title": "Appeal", "publish": True,
                       "questions": [short]}}  # fmt: skip
    quiz = (await gql.data(CREATE_QUIZ, variables, educator))["createQuiz"]
    attempt = (await gql.data(START, {"q": quiz["id"]}, student))["startQuizAttempt"]
    question = attempt["questions"][0]["id"]
    typo = {"questionId": question, "version": 0, "text": "Shakspeare"}
    await gql.data(ANSWER, {"s": attempt["id"], "i": typo}, student)
    ask = """mutation($s: ID!, $i: RequestQuizRegradeInput!) {
      requestQuizRegrade(submissionId: $s, input: $i) { id status reason } }"""
    reason = {"questionId": question, "reason": "Only a typo"}
    assert await gql.codes(ask, {"s": attempt["id"], "i": reason}, student) == [
        "ATTEMPT_IN_PROGRESS"
    ]
    assert (await gql.data(SUBMIT, {"s": attempt["id"]}, student))["submitQuiz"]["score"] == 0
    assert await gql.codes(ask, {"s": attempt["id"], "i": reason}, other) == [
        "QUIZ_SUBMISSION_NOT_FOUND"
    ]
    asked = (await gql.data(ask, {"s": attempt["id"], "i": reason}, student))["requestQuizRegrade"]
    assert asked["status"] == "OPEN"
    assert await gql.codes(ask, {"s": attempt["id"], "i": reason}, student) == [
        "REGRADE_ALREADY_OPEN"
    ]
    answer = """mutation($r: ID!, $i: AnswerQuizRegradeInput!) {
      answerQuizRegrade(requestId: $r, input: $i) {
        status response pointsBefore pointsAfter answeredById answeredAt } }"""
    verdict = {"accept": True, "points": 1.5, "response": "Half credit for the spelling"}
    assert await gql.codes(answer, {"r": asked["id"], "i": verdict}, student) == [
        "REGRADE_REQUEST_NOT_FOUND"
    ]
    done = (await gql.data(answer, {"r": asked["id"], "i": verdict}, educator))["answerQuizRegrade"]
    assert done["status"] == "ACCEPTED" and done["answeredById"] == str(educator.id)
    assert (done["pointsBefore"], done["pointsAfter"]) == (0.0, 1.5) and done["answeredAt"]
    assert await gql.codes(answer, {"r": asked["id"], "i": verdict}, educator) == [
        "REGRADE_ALREADY_ANSWERED"
    ]
    mine = (await gql.data(MINE, {"q": quiz["id"]}, student))["quizSubmissionsByStudent"]
    assert mine[0]["score"] == 1.5
    listing = "query($q: ID!) { quizRegradeRequests(quizId: $q) { status reason response } }"
    assert (await gql.data(listing, {"q": quiz["id"]}, other))["quizRegradeRequests"] == []
    assert (await gql.data(listing, {"q": quiz["id"]}, student))["quizRegradeRequests"] == [
        {"status": "ACCEPTED", "reason": "Only a typo", "response": "Half credit for the spelling"}
    ]
