"""``python -m llm_magics.server.sim``: run the simulator until interrupted."""

from .cli import main

raise SystemExit(main())
