"""Assessments: thin resolvers over `lms.assessments.service`.

Reads of attempts run as writes: reading an attempt past its deadline closes it.
"""

from __future__ import annotations

from ariadne import MutationType, QueryType

from lms.assessments.service import assignments, attempts, quizzes, regrades, submissions
from web.service_fields import bind_service_fields

query = QueryType()
mutation = MutationType()

bind_service_fields(
    query,
    {
        "quiz": quizzes.get_quiz,
        "assignment": assignments.get_assignment,
        "assignmentSubmission": submissions.get_assignment_submission,
        "assignmentSubmissionsByStudent": submissions.assignment_submissions_by_student,
        "assignmentSubmissions": submissions.assignment_submissions,
        "quizSubmissions": attempts.quiz_submissions,
        "questionBank": quizzes.question_bank,
        "quizRegradeRequests": regrades.quiz_regrade_requests,
        "questionRegrades": regrades.question_regrades,
    },
)
bind_service_fields(
    query,
    {
        "quizSubmission": attempts.get_quiz_submission,
        "quizSubmissionsByStudent": attempts.quiz_submissions_by_student,
    },
    write=True,
)
bind_service_fields(
    mutation,
    {
        "createQuiz": quizzes.create_quiz,
        "updateQuiz": quizzes.update_quiz,
        "publishQuiz": quizzes.publish_quiz,
        "deleteQuiz": quizzes.delete_quiz,
        "addQuizQuestion": quizzes.add_quiz_question,
        "updateQuizQuestion": quizzes.update_quiz_question,
        "deleteQuizQuestion": quizzes.delete_quiz_question,
        "startQuizAttempt": attempts.start_quiz_attempt,
        "submitQuizAnswer": attempts.submit_quiz_answer,
        "submitQuiz": attempts.submit_quiz,
        "gradeQuizAnswer": attempts.grade_quiz_answer,
        "requestQuizRegrade": regrades.request_quiz_regrade,
        "answerQuizRegrade": regrades.answer_quiz_regrade,
        "createAssignment": assignments.create_assignment,
        "updateAssignment": assignments.update_assignment,
        "deleteAssignment": assignments.delete_assignment,
        "submitAssignment": submissions.submit_assignment,
        "gradeAssignment": submissions.grade_assignment,
        "requestRevision": submissions.request_revision,
        "postAssignmentGrades": submissions.post_assignment_grades,
    },
    write=True,
)

bindables = [query, mutation]
