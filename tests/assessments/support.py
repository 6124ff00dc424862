"""In-process GraphQL for assessment tests: the same executable schema, resolvers, context
and error formatting as `POST /graphql` (`web.graphql_http`), without the HTTP framing;
courses and enrollments straight in the database (other modules own those flows)."""

from __future__ import annotations

import uuid
from typing import Any

from ariadne import graphql

from lms.db import session_scope
from lms.enrollments.models import Enrollment, EnrollmentStatus
from lms.security import Viewer
from lms.users.models import Role, User
from tests.enrollments.support import make_course
from tests.support import create_user
from web.context import Context, Services
from web.errors import format_error
from web.graphql_http import cached_parser, validation_rules
from web.schema import build_schema


class InProcess:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def execute(self, query: str, variables: dict | None = None, user: User | None = None):
        viewer = Viewer(user_id=user.id, role=user.role) if user else Viewer()
        _, result = await graphql(
            build_schema(),
            {"query": query, "variables": variables or {}},
            context_value=Context(self.services, viewer=viewer),
            query_parser=cached_parser,
            validation_rules=validation_rules(self.services),
            error_formatter=format_error,
        )
        return result

    async def data(self, query: str, variables: dict | None = None, user: User | None = None):
        result = await self.execute(query, variables, user)
        assert not result.get("errors"), result.get("errors")
        return result["data"]

    async def codes(self, query: str, variables: dict | None = None, user: User | None = None):
        result = await self.execute(query, variables, user)
        return [e["extensions"]["code"] for e in result.get("errors") or []]


def enroll_directly(student_id: uuid.UUID, course_id: str) -> uuid.UUID:
    with session_scope() as session:
        enrollment = Enrollment(
            student_id=student_id,
            course_id=uuid.UUID(course_id),
            status=EnrollmentStatus.ACTIVE,
            total_lessons=1,
        )
        session.add(enrollment)
        session.flush()
        return enrollment.id


def classroom(lessons=(("Quiz", "QUIZ", False),)) -> dict[str, Any]:
    """An educator's published course with two enrolled students and an outsider."""
    educator, _ = create_user(Role.EDUCATOR)
    course = make_course(educator.id, lessons=lessons)
    students = [create_user(Role.STUDENT)[0] for _ in range(2)]
    for student in students:
        enroll_directly(student.id, course.id)
    return {
        "educator": educator,
        "course": course,
        "students": students,
        "outsider": create_user(Role.STUDENT)[0],
    }


QUESTION_FIELDS = "id type prompt points position options { id text side } blankCount answerKey"
SUBMISSION_FIELDS = f"""id quizId studentId number status startedAt deadline graceEndsAt
  submittedAt closedBy currentPosition score maxScore percent passed
  questions {{ {QUESTION_FIELDS} }}
  answers {{ questionId response version score feedback }}"""
QUIZ_FIELDS = f"""id title status timeLimitSeconds attemptsAllowed gradingMethod questionCount
  viewerGrade viewerCanEdit questions {{ {QUESTION_FIELDS} }}"""
CREATE_QUIZ = f"mutation($i: CreateQuizInput!) {{ createQuiz(input: $i) {{ {QUIZ_FIELDS} }} }}"
QUIZ = f"query($id: ID!) {{ quiz(id: $id) {{ {QUIZ_FIELDS} }} }}"
START = f"mutation($q: ID!) {{ startQuizAttempt(quizId: $q) {{ {SUBMISSION_FIELDS} }} }}"
ANSWER = """mutation($s: ID!, $i: SubmitQuizAnswerInput!) {
  submitQuizAnswer(submissionId: $s, input: $i) { questionId response version score } }"""
SUBMIT = f"mutation($s: ID!) {{ submitQuiz(submissionId: $s) {{ {SUBMISSION_FIELDS} }} }}"
READ = f"query($id: ID!) {{ quizSubmission(id: $id) {{ {SUBMISSION_FIELDS} }} }}"
MINE = f"query($q: ID!) {{ quizSubmissionsByStudent(quizId: $q) {{ {SUBMISSION_FIELDS} }} }}"

ASSIGNMENT_FIELDS = """id title instructions dueAt cutoffAt maxPoints submissionType
  allowedFileTypes postPolicy gradesPostedAt anonymousGrading viewerGrade missingGrade
  latePolicy { deductionPercent unit floorPercent }
  rubric { id title points levels { id title points } }"""
ASUB_FIELDS = """id assignmentId studentId attempt version status text contentHash lateSeconds
  rawScore latePenalty score overrideReason feedback identicalSubmissionIds
  files { name size contentType sha256 fileAssetId }
  rubricScores { criterionId levelId points comment }
  history { version kind data }"""
CREATE_ASSIGNMENT = f"""mutation($i: CreateAssignmentInput!) {{
  createAssignment(input: $i) {{ {ASSIGNMENT_FIELDS} }} }}"""
SUBMIT_ASSIGNMENT = f"""mutation($i: SubmitAssignmentInput!) {{
  submitAssignment(input: $i) {{ {ASUB_FIELDS} }} }}"""
GRADE = f"""mutation($s: ID!, $i: GradeAssignmentInput!) {{
  gradeAssignment(submissionId: $s, input: $i) {{ {ASUB_FIELDS} }} }}"""
REVISE = f"""mutation($s: ID!, $f: String!) {{
  requestRevision(submissionId: $s, feedback: $f) {{ {ASUB_FIELDS} }} }}"""
ASUB = f"query($id: ID!) {{ assignmentSubmission(id: $id) {{ {ASUB_FIELDS} }} }}"
MY_ASUBS = f"""query($a: ID!) {{
  assignmentSubmissionsByStudent(assignmentId: $a) {{ {ASUB_FIELDS} }} }}"""
ASSIGNMENT = f"query($id: ID!) {{ assignment(id: $id) {{ {ASSIGNMENT_FIELDS} }} }}"
