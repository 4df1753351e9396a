"""Real local servers used as peers in tests (SMTP, OpenAI-compatible LLM, HTTP sources)."""
