"""The SSE decoder: the same events whatever slices the bytes arrive in."""

from __future__ import annotations

import pytest

from llm_magics.core.sse import SSEDecoder, SSEEvent

STREAM = (
    b": keep-alive comment\n"
    b"data: {\"a\": 1}\n\n"
    b"event: note\r\nid: 7\r\ndata: first line\r\ndata: second line\r\n\r\n"
    b"data:no space\r\rdata: caf\xc3\xa9 \xe2\x9c\x93\n\n"
    b"retry: 100\nunknown: x\ndata: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent('{"a": 1}'),
    SSEEvent("first line\nsecond line", "note", "7"),
    SSEEvent("no space", id="7"),
    SSEEvent("caf\u00e9 \u2713", id="7"),
    SSEEvent("[DONE]", id="7"),
]


def decode(slices: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [event for piece in slices for event in decoder.feed(piece)]


def test_whole_stream_decodes_every_field_and_line_ending():
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_cut_anywhere_gives_the_same_events(cut):
    assert decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED


def test_one_byte_at_a_time_gives_the_same_events():
    assert decode([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_crlf_split_between_slices_is_one_line_end():
    # "\r" ends one slice and "\n" starts the next: one line end, not an empty line.
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r\n"]) == [SSEEvent("a\nb")]


def test_byte_order_mark_is_dropped_once_even_split():
    assert decode([b"\xef", b"\xbb\xbfdata: x\n\n"]) == [SSEEvent("x")]
    assert decode([b"data: \xef\xbb\xbfx\n\n"]) == [SSEEvent("\ufeffx")]


def test_an_event_without_its_blank_line_is_not_handed_out():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: whole\n\ndata: cut mid-ev") == [SSEEvent("whole")]
    assert decoder.feed(b"ent\n") == []  # the line ended, the event has not



def test_the_event_left_open_at_the_end_of_the_body_comes_out_of_end():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: whole\n\ndata: [DONE]") == [SSEEvent("whole")]
    assert decoder.end() == [SSEEvent("[DONE]")]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\ndata: b\n") == []
    assert decoder.end() == [SSEEvent("a\nb")]
    assert decoder.end() == []  # handed out once
    assert SSEDecoder().end() == []
