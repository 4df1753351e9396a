"""StudyHall: a learning platform backend with a grounded, cited, budgeted AI tutor."""

__version__ = "0.1.0"
