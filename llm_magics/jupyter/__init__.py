"""The notebook face: ``%%llm``, ``%%llm_stream``, ``%llm_config``, ``%llm_chat`` and widgets.

Nothing heavy is imported here: ``%load_ext llm_magics`` goes through
``extension.load`` and widgets, markdown and pandas load only when first used.
"""
