"""OpenAI-compatible HTTP surface: wire shapes (``openai_shapes``) and the simulator (``sim``).

Importing this package pulls in nothing heavy; FastAPI and uvicorn (the
``sim`` extra) load only when ``llm_magics.server.sim`` is imported.
"""
