"""Call history: every call on record in a private SQLite log, and as OpenTelemetry spans.

    context.py   who made a call (face, mode, cell, job, gateway client), carried with it
    record.py    one call's outcome -> one row (and one span); the pipeline calls it
    log.py       the SQLite file: buffered writes off the loop, retention, queries
    tracing.py   optional spans following the OpenTelemetry GenAI conventions
    query.py     reading it back: time bounds, rows, spend per cell, model, day or mode

The faces read it: ``llm_magics.history()`` (a DataFrame), ``%llm_history`` and
``llm-magics history`` (their tables are ``core.spend_table``'s).
"""
