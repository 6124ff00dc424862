"""Assignments through GraphQL: rubric sums and overrides, late penalties per attempt (worked
examples), revisions with history, post policy and anonymous grading, the hard cut-off,
and every bad input with its code (files: `test_assessments_uploads.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.assessments.support import (
    ASSIGNMENT,
    ASUB,
    CREATE_ASSIGNMENT,
    GRADE,
    REVISE,
    SUBMIT_ASSIGNMENT,
    classroom,
)
from tests.support import create_user
from lms.users.models import Role

RUBRIC = [
    {
        "id": "content",
        "title": "Content",
        "levels": [
            {"id": "full", "title": "Complete", "points": 6},
            {"id": "part", "title": "Partial", "points": 3},
        ],
    },
    {"id": "style", "title": "Style", "points": 4},
]
INBOX = """query { getUserNotifications { nodes { type title data } } }"""


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture(scope="module")
def room():
    return classroom()


async def make(gql, room, **fields) -> dict:
    variables = {"i": {"courseId": room["course"].id, "title": "Essay", **fields}}
    return (await gql.data(CREATE_ASSIGNMENT, variables, room["educator"]))["createAssignment"]


async def submit(gql, student, assignment_id, **fields) -> dict:
    variables = {"i": {"assignmentId": assignment_id, "text": "My essay", **fields}}
    return (await gql.data(SUBMIT_ASSIGNMENT, variables, student))["submitAssignment"]


async def test_rubric_sum_late_penalty_and_override_with_a_reason(gql, room):
    # Due 25 hours ago: two started days late. 10 % of 10 points per day, floor 50 %.
    assignment = await make(
        gql,
        room,
        rubric=RUBRIC,
        dueAt=iso(timedelta(hours=-25)),
        latePolicy={"deductionPercent": 10, "unit": "DAY", "floorPercent": 50},
        instructions="<p>Write <script>alert(1)</script><b>well</b></p>",
    )
    assert assignment["maxPoints"] == 10 and "<script>" not in assignment["instructions"]
    student = room["students"][0]
    sub = await submit(gql, student, assignment["id"])
    assert sub["lateSeconds"] >= 25 * 3600 and sub["status"] == "SUBMITTED"

    scores = [
        {"criterionId": "content", "levelId": "full", "comment": "thorough"},
        {"criterionId": "style", "points": 3.5},
    ]
    too_high = [{"criterionId": "style", "points": 4.5}]
    educator = room["educator"]
    assert await gql.codes(GRADE, {"s": sub["id"], "i": {"rubricScores": too_high}}, educator) == [
        "RUBRIC_SCORE_OUT_OF_RANGE"
    ]
    no_reason = {"rubricScores": scores, "score": 10}
    assert await gql.codes(GRADE, {"s": sub["id"], "i": no_reason}, educator) == [
        "OVERRIDE_REASON_REQUIRED"
    ]
    graded = (await gql.data(GRADE, {"s": sub["id"], "i": {"rubricScores": scores}}, educator))[
        "gradeAssignment"
    ]
    # 6 + 3.5 = 9.5; two days late = 2 points off → 7.5 (above the floor of 5).
    assert (graded["rawScore"], graded["latePenalty"], graded["score"]) == (9.5, 2.0, 7.5)
    assert graded["rubricScores"][0] == {
        "criterionId": "content",
        "levelId": "full",
        "points": 6.0,
        "comment": "thorough",
    }
    override = {"rubricScores": scores, "score": 4, "overrideReason": "copied the intro"}
    graded = (await gql.data(GRADE, {"s": sub["id"], "i": override}, educator))["gradeAssignment"]
    # 4 − 2 would be 2, under the floor of 5 points; the floor limits the penalty to nothing
    # for a score already below it: 4 stays 4.
    assert (graded["rawScore"], graded["latePenalty"], graded["score"]) == (4.0, 0.0, 4.0)
    assert graded["overrideReason"] == "copied the intro"
    assert [h["kind"] for h in graded["history"]] == ["SUBMITTED", "GRADED", "GRADED"]

    # The student sees the grade (automatic post policy) and was notified.
    mine = (await gql.data(ASUB, {"id": sub["id"]}, student))["assignmentSubmission"]
    assert mine["score"] == 4.0
    inbox = (await gql.data(INBOX, {}, student))["getUserNotifications"]["nodes"]
    assert any(
        n["type"] == "GRADE_POSTED" and n["data"]["submissionId"] == sub["id"] for n in inbox
    )


async def test_the_penalty_applies_per_attempt_before_attempts_combine(gql, room):
    student = room["students"][1]
    assignment = await make(
        gql,
        room,
        maxPoints=100,
        dueAt=iso(timedelta(days=2)),
        latePolicy={"deductionPercent": 10, "unit": "DAY"},
    )
    first = await submit(gql, student, assignment["id"])  # on time
    await gql.data(GRADE, {"s": first["id"], "i": {"score": 100}}, room["educator"])
    # The educator moves the due date into the past: the retake is 3 days late.
    move = """mutation($id: ID!, $i: UpdateAssignmentInput!) {
      updateAssignment(id: $id, input: $i) { dueAt } }"""
    await gql.data(
        move, {"id": assignment["id"], "i": {"dueAt": iso(timedelta(hours=-49))}}, room["educator"]
    )
    second = await submit(gql, student, assignment["id"])
    graded = (await gql.data(GRADE, {"s": second["id"], "i": {"score": 95}}, room["educator"]))[
        "gradeAssignment"
    ]
    assert (graded["attempt"], graded["latePenalty"], graded["score"]) == (2, 30.0, 65.0)
    # Canvas would take 30 % off the combined grade; here the on-time 100 stands.
    grade = (await gql.data(ASSIGNMENT, {"id": assignment["id"]}, student))["assignment"]
    assert grade["viewerGrade"] == 100.0


async def test_revision_keeps_every_version_and_nobody_grades_their_own(gql, room):
    student, other = room["students"]
    assignment = await make(gql, room, maxPoints=10)
    sub = await submit(gql, student, assignment["id"], text="draft")
    # Students cannot read others' submissions, grade, or ask for revisions.
    assert await gql.codes(ASUB, {"id": sub["id"]}, other) == ["ASSIGNMENT_SUBMISSION_NOT_FOUND"]
    assert await gql.codes(GRADE, {"s": sub["id"], "i": {"score": 10}}, student) == [
        "CANNOT_GRADE_OWN_SUBMISSION"
    ]
    assert await gql.codes(REVISE, {"s": sub["id"], "f": "more"}, other) == [
        "ASSIGNMENT_SUBMISSION_NOT_FOUND"
    ]
    reopened = (await gql.data(REVISE, {"s": sub["id"], "f": "Cite sources"}, room["educator"]))[
        "requestRevision"
    ]
    assert reopened["status"] == "REVISION_REQUESTED" and reopened["feedback"] == "Cite sources"
    assert await gql.codes(GRADE, {"s": sub["id"], "i": {"score": 1}}, room["educator"]) == [
        "SUBMISSION_NOT_GRADABLE"
    ]
    revised = await submit(gql, student, assignment["id"], text="final, with sources")
    assert (revised["id"], revised["version"], revised["attempt"]) == (sub["id"], 2, 1)
    assert [(h["version"], h["kind"]) for h in revised["history"]] == [
        (1, "SUBMITTED"),
        (1, "REVISION_REQUESTED"),
        (2, "SUBMITTED"),
    ]
    assert revised["history"][0]["data"]["text"] == "draft"

    # An instructor who is also enrolled cannot grade their own work.
    ta, _ = create_user(Role.EDUCATOR)
    from lms.db import session_scope
    from lms.courses.models import CourseInstructor, InstructorRole
    from tests.assessments.support import enroll_directly
    import uuid

    with session_scope() as session:
        session.add(
            CourseInstructor(
                course_id=uuid.UUID(room["course"].id),
                user_id=ta.id,
                role=InstructorRole.CO_INSTRUCTOR,
            )
        )
    enroll_directly(ta.id, room["course"].id)
    own = await submit(gql, ta, assignment["id"])
    assert await gql.codes(GRADE, {"s": own["id"], "i": {"score": 1}}, ta) == [
        "CANNOT_GRADE_OWN_SUBMISSION"
    ]
    # Identical submissions are found by their content hash.
    twin = await submit(gql, other, assignment["id"], text="final, with sources")
    assert twin["contentHash"] == revised["contentHash"]
    seen = (await gql.data(ASUB, {"id": twin["id"]}, room["educator"]))["assignmentSubmission"]
    assert sub["id"] in seen["identicalSubmissionIds"]


async def test_the_cutoff_is_hard_and_outsiders_see_nothing(gql, room):
    """(Files: `test_assessments_uploads.py`, through real uploads and the content check.)"""
    student = room["students"][0]
    assignment = await make(gql, room)
    closed = await make(
        gql, room, dueAt=iso(timedelta(hours=-3)), cutoffAt=iso(timedelta(hours=-1))
    )
    assert await gql.codes(
        SUBMIT_ASSIGNMENT, {"i": {"assignmentId": closed["id"], "text": "late"}}, student
    ) == ["ASSIGNMENT_CLOSED"]
    outsider = {"i": {"assignmentId": assignment["id"], "text": "mine"}}
    assert await gql.codes(SUBMIT_ASSIGNMENT, outsider, room["outsider"]) == [
        "ASSIGNMENT_NOT_FOUND"
    ]


async def test_manual_posting_and_anonymous_grading(gql, room):
    student = room["students"][1]
    assignment = await make(gql, room, maxPoints=10, postPolicy="MANUAL", anonymousGrading=True)
    sub = await submit(gql, student, assignment["id"])
    to_grade = """query($a: ID!) { assignmentSubmissions(assignmentId: $a, status: SUBMITTED) {
      id studentId } }"""
    listed = await gql.data(to_grade, {"a": assignment["id"]}, room["educator"])
    assert listed["assignmentSubmissions"] == [{"id": sub["id"], "studentId": None}]
    await gql.data(GRADE, {"s": sub["id"], "i": {"score": 8}}, room["educator"])
    hidden = (await gql.data(ASUB, {"id": sub["id"]}, student))["assignmentSubmission"]
    assert hidden["score"] is None and hidden["status"] == "GRADED"
    post = "mutation($a: ID!) { postAssignmentGrades(assignmentId: $a) { gradesPostedAt } }"
    await gql.data(post, {"a": assignment["id"]}, room["educator"])
    shown = (await gql.data(ASUB, {"id": sub["id"]}, student))["assignmentSubmission"]
    assert shown["score"] == 8.0
    named = (await gql.data(ASUB, {"id": sub["id"]}, room["educator"]))["assignmentSubmission"]
    assert named["studentId"] == str(student.id)
    inbox = (await gql.data(INBOX, {}, student))["getUserNotifications"]["nodes"]
    assert any(n["data"].get("assignmentId") == assignment["id"] for n in inbox)


async def test_educators_update_and_delete_assignments(gql, room):
    educator, student = room["educator"], room["students"][0]
    assignment = await make(gql, room, rubric=RUBRIC)
    update = """mutation($id: ID!, $i: UpdateAssignmentInput!) {
      updateAssignment(id: $id, input: $i) { title maxPoints latePolicy { unit } } }"""
    changes = {
        "title": "Essay 2",
        "maxPoints": 20,
        "latePolicy": {"deductionPercent": 5, "unit": "HOUR"},
    }
    assert (await gql.data(update, {"id": assignment["id"], "i": changes}, educator))[
        "updateAssignment"
    ] == {"title": "Essay 2", "maxPoints": 20.0, "latePolicy": {"unit": "HOUR"}}
    bad_rubric = {"rubric": [{"title": "x", "levels": [{"title": "l", "points": -1}]}]}
    assert await gql.codes(update, {"id": assignment["id"], "i": bad_rubric}, educator) == [
        "BAD_USER_INPUT"
    ]
    assert await gql.codes(update, {"id": assignment["id"], "i": changes}, student) == ["FORBIDDEN"]
    remove = "mutation($id: ID!) { deleteAssignment(id: $id) }"
    assert (await gql.data(remove, {"id": assignment["id"]}, educator))["deleteAssignment"]
    assert await gql.codes(ASSIGNMENT, {"id": assignment["id"]}, student) == [
        "ASSIGNMENT_NOT_FOUND"
    ]


UPDATE_RUBRIC = """mutation($id: ID!, $i: UpdateAssignmentInput!) {
  updateAssignment(id: $id, input: $i) { rubric { id points } maxPoints } }"""


async def test_a_rubric_is_reused_across_assignments_as_a_copy(gql, room):
    essay = await make(gql, room, rubric=RUBRIC)
    educator = room["educator"]
    reused = await make(gql, room, title="Second essay", rubricFromAssignmentId=essay["id"])
    assert reused["rubric"] == essay["rubric"] and reused["maxPoints"] == 10

    # A copy: changing the first assignment's rubric leaves the second one's alone.
    changed = {"rubric": [{"id": "content", "title": "Content", "points": 5}]}
    await gql.data(UPDATE_RUBRIC, {"id": essay["id"], "i": changed}, educator)
    kept = (await gql.data(ASSIGNMENT, {"id": reused["id"]}, educator))["assignment"]
    assert [(c["id"], c["points"]) for c in kept["rubric"]] == [("content", 6.0), ("style", 4.0)]
    # An existing assignment takes a rubric the same way.
    plain = await make(gql, room, title="Reflection")
    taken = {"rubricFromAssignmentId": reused["id"]}
    updated = await gql.data(UPDATE_RUBRIC, {"id": plain["id"], "i": taken}, educator)
    assert updated["updateAssignment"]["maxPoints"] == 10

    # Only from assignments one teaches; never both ways at once; never an empty rubric.
    other = classroom()
    foreign = {"courseId": other["course"].id, "title": "Copy"}
    foreign["rubricFromAssignmentId"] = essay["id"]
    assert await gql.codes(CREATE_ASSIGNMENT, {"i": foreign}, other["educator"]) == [
        "ASSIGNMENT_NOT_FOUND"
    ]
    both = {"rubric": RUBRIC, "rubricFromAssignmentId": essay["id"]}
    assert await gql.codes(UPDATE_RUBRIC, {"id": plain["id"], "i": both}, educator) == [
        "BAD_USER_INPUT"
    ]
    bare = await make(gql, room, title="No rubric")
    empty = {"rubricFromAssignmentId": bare["id"]}
    assert await gql.codes(UPDATE_RUBRIC, {"id": plain["id"], "i": empty}, educator) == [
        "BAD_USER_INPUT"
    ]
