"""Model backends: Ollama (what users run) and embedded llama.cpp (what a fresh machine runs).

Both implement one interface (``base``): describe a model from its metadata before loading it,
keep exactly one model resident, generate with a seed, and turn the service going away into an
interruption rather than a failure. ``select`` picks one for ``--backend auto|ollama|embedded``
and says why; ``prefix_reuse`` is the one place that touches llama-cpp-python's private state.
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    base=(
        "BACKEND_STOPS",
        "Backend",
        "Generation",
        "GenerationOptions",
        "GenerationRequest",
        "ModelInfo",
    ),
    select=("choose_backend", "close_backend"),
    embedded=("EmbeddedBackend",),
    ollama=("OllamaBackend",),
    prefix_reuse=("schedule_prompts", "PromptSchedule"),
)
