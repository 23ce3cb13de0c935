"""Background jobs: progress kept in the database, run by RQ or an in-process thread."""
