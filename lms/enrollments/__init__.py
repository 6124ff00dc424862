"""Enrollments: enrolment, lesson progress, completion and verifiable certificates."""
