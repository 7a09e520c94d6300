"""The JSON codec of the hot paths (request bodies, answers, stream chunks): msgspec.

Picked by measurement on a 515-byte chat completion and a stream chunk
(decode 1.1 and 0.5 us against the stdlib's 4.7 and 2.8 us; encode 0.2 against
2.4 us); orjson measured within 10% of it either way.

    >>> decode_json(encode_json({"a": [1, None]}))
    {'a': [1, None]}
"""

from __future__ import annotations

import msgspec

__all__ = ["encode_json", "decode_json"]

encode_json = msgspec.json.Encoder().encode
"""Python values to JSON bytes; raises ``TypeError`` for what JSON cannot carry."""

decode_json = msgspec.json.Decoder().decode
"""JSON bytes (or str) to Python values; raises ``msgspec.DecodeError``, a ``ValueError``."""
