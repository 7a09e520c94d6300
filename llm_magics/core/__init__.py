"""The execution core: no IPython, widget or pandas imports, so scripts and workers use it."""
