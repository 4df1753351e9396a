"""Courses, modules, lessons, enrollment and progress."""
