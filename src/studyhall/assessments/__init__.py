"""Quizzes, attempts, assignments and submissions."""
