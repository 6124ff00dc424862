"""Courses: course → module → lesson structure, publishing workflow and discovery."""
