"""Accounts, roles, passwords, tokens and enrolment codes."""
