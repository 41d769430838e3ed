"""Model backends: Ollama (what users run) and embedded llama.cpp (what a fresh machine runs).

Both implement one interface (``base``): describe a model from its metadata before loading it,
keep exactly one model resident, generate with a seed, and turn the service going away into an
interruption rather than a failure. ``select`` picks one for ``--backend auto|ollama|embedded``
and says why; ``prefix_reuse`` is the one place that touches llama-cpp-python's private state.
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "BACKEND_STOPS": "base",
    "Backend": "base",
    "Generation": "base",
    "GenerationOptions": "base",
    "GenerationRequest": "base",
    "ModelInfo": "base",
    "choose_backend": "select",
    "close_backend": "select",
    "EmbeddedBackend": "embedded",
    "OllamaBackend": "ollama",
    "reuse_whole_batches": "prefix_reuse",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
