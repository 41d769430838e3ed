"""tipbench: which small local LLM and which prompt write the best short tips, with evidence.

The folders are the phases: ``collect`` (a grid of model x prompt version x scenario, journalled,
one MLflow run per cell), ``judge`` (people, an LLM and outside files score every candidate),
``compare`` (paired, scenario-clustered statistics from ``stats``, charts and an offline report).
``core`` holds what all three share (errors and exit statuses, the data directories, the rubric,
scenarios and prompts, the journal), ``backends`` the Ollama and embedded llama.cpp models,
``tracking`` MLflow. ``cli`` is the ``tipbench`` command; ``data`` the shipped rubric, prompts,
scenarios and sample. The design is written up in ``docs/architecture.md``.
"""

__version__ = "0.1.0"
