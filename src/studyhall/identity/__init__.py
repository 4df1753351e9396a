"""Accounts, authentication, saved prompts and service API keys."""
