"""Request and response shapes of the tutor API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field

from studyhall.core.schemas import InputSchema, Schema, UTCTimestamp

# ---------------------------------------------------------------- sessions and messages


class ChatSessionCreate(InputSchema):
    course_id: uuid.UUID | None = Field(
        default=None, description="The course whose material the tutor uses; none: the library"
    )
    title: str | None = Field(default=None, min_length=1, max_length=200)


class ChatSessionUpdate(InputSchema):
    title: str = Field(min_length=1, max_length=200)


class ChatSessionOut(Schema):
    id: uuid.UUID
    title: str
    course_id: uuid.UUID | None
    created_at: UTCTimestamp
    last_active_at: UTCTimestamp
    message_count: int


_LlmResponse = Annotated[str, Field(max_length=100_000)]


class PromptRecordIn(InputSchema):
    prompt_text: str = Field(min_length=1, max_length=20_000)
    llm_responses: list[_LlmResponse] = Field(
        default_factory=list,
        max_length=20,
        description="What the models answered, as the client stores them (≤ 20)",
    )


class PromptRecordUpdate(InputSchema):
    prompt_text: str | None = Field(default=None, min_length=1, max_length=20_000)
    llm_responses: list[_LlmResponse] | None = Field(
        default=None, max_length=20, description="Replaces the stored list"
    )


class PromptRecordOut(Schema):
    id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    prompt_text: str
    llm_responses: list[str]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class TranscriptSessionOut(ChatSessionOut):
    """A student's session as their teacher lists it."""

    user_id: uuid.UUID


class SourceOut(Schema):
    index: int = Field(description="The number the answer cites as [index]")
    document_id: uuid.UUID
    document_title: str
    page: int | None
    page_label: str | None = None
    heading: str | None = None
    chunk_id: uuid.UUID
    excerpt: str


class UsageOut(Schema):
    prompt_tokens: int
    completion_tokens: int
    charged_tokens: int = Field(description="What the wallet was charged for this answer")


class MessageOut(Schema):
    id: uuid.UUID
    session_id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str = Field(description="Plain text (Markdown at most); never HTML to render as is")
    sources: list[SourceOut]
    usage: UsageOut | None
    hint_level: int | None = None
    system_prompt_version: int | None = None
    finish_reason: str | None = None
    created_at: UTCTimestamp


class ChatSessionDetail(ChatSessionOut):
    messages: list[MessageOut]


class MessageCreate(InputSchema):
    content: str = Field(min_length=1, max_length=8000)


class ChatCreate(InputSchema):
    """The one-call form: the session is created when `session_id` is absent."""

    session_id: uuid.UUID | None = None
    course_id: uuid.UUID | None = None
    content: str = Field(min_length=1, max_length=8000)


class ChatReply(MessageOut):
    """The assistant's message, with the session it belongs to."""


# ---------------------------------------------------------------- in-chat tests


class GenerateSpec(InputSchema):
    questions: int = Field(default=5, ge=1, le=20)
    topic: str | None = Field(
        default=None, max_length=500, description="Words to steer which material is used"
    )


class ChatQuizFromQuiz(InputSchema):
    """Take an existing quiz of the session's course."""

    quiz_id: uuid.UUID


class ChatQuizGenerated(InputSchema):
    """Take a test generated from the course material."""

    generate: GenerateSpec


ChatQuizStart = ChatQuizFromQuiz | ChatQuizGenerated


class QuestionSourceOut(Schema):
    document_id: uuid.UUID
    document_title: str
    page: int | None
    chunk_id: uuid.UUID
    excerpt: str


class ChatQuestionOut(Schema):
    question_index: int
    total: int
    prompt: str
    kind: str
    options: list[str] | None
    points: float


class ChatQuizOut(Schema):
    chat_quiz_id: uuid.UUID
    quiz_id: uuid.UUID | None
    title: str
    generated: bool
    question_count: int
    question: ChatQuestionOut


class ChatAnswerIn(InputSchema):
    answer: Any = Field(
        description="Option index or text (single), list (multiple), boolean (true/false) "
        "or text (short)"
    )
    question_index: int = Field(ge=0)


class ChatQuizResult(Schema):
    score: float
    max_score: float
    percent: float
    passed: bool
    attempt_id: uuid.UUID | None = Field(
        description="The quiz attempt recorded in assessments (existing quizzes)"
    )


class ChatAnswerOut(Schema):
    question_index: int
    correct: bool
    feedback: str
    expected: Any | None = Field(description="The correct answer, shown after each question")
    explanation: str | None
    source: QuestionSourceOut | None = Field(description="The passage the question rests on")
    next_question: ChatQuestionOut | None
    result: ChatQuizResult | None


# ---------------------------------------------------------------- system prompts


class SystemPromptCreate(InputSchema):
    course_id: uuid.UUID | None = Field(default=None, description="None: the global prompt")
    name: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20_000)
    activate: bool = Field(default=True, description="Make this version the scope's active one")


class SystemPromptUpdate(InputSchema):
    """The text of a version never changes (post a new version); name and activation do."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    is_active: bool | None = None


class SystemPromptOut(Schema):
    id: uuid.UUID
    scope: Literal["global", "course"]
    course_id: uuid.UUID | None
    name: str
    content: str
    version: int
    is_active: bool
    created_by: uuid.UUID | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


# ---------------------------------------------------------------- figures


class TopicCount(Schema):
    topic: str
    count: int


class TutorCourseStats(Schema):
    """What the course's analytics show about its tutor."""

    messages: int
    questions: int
    answers: int
    active_users: int
    ungrounded_answers: int = Field(description="Answers for which no relevant source was found")
    refused_answers: int = Field(description="Replies withheld because they gave a quiz answer")
    leak_regenerations: int
    tokens_charged: int
    chat_tests_finished: int
    chat_tests_passed: int
    top_topics: list[TopicCount]
    top_questions: list[TopicCount]
    messages_by_user: dict[uuid.UUID, int]


class TutorTotals(Schema):
    sessions: int
    messages: int
