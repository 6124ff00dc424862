"""Assessments: quizzes with server-kept deadlines and autosaved answers, assignments with
rubrics, late policies and revisions."""
