"""The database-backed job queue and its workers."""
