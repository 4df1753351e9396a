"""Framework plumbing with no business rules; imports no domain package."""
