"""``python -m llm_magics.server.gateway``: run the gateway until interrupted."""

from .cli import main

raise SystemExit(main())
