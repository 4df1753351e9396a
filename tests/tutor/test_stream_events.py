"""The per-piece SSE event is built by hand for speed: it must be the general builder's bytes."""

from __future__ import annotations

import pytest

from studyhall.tutor.streaming import delta_event, sse


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain words ",
        "a\nb\r\nc\rd",
        'quote " and \\ backslash',
        "é ü 光合作用 \u2028 \t",
        "[1]",
    ],
)
def test_a_delta_event_is_the_general_events_bytes(text: str) -> None:
    assert delta_event(text) == sse("delta", {"text": text})
