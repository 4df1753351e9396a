"""The AI tutor: chat sessions, prompts, providers and streaming."""
