"""The Ollama backend against the stand-in server: residency, request shape, errors, truncation.

The stand-in keeps up to three models resident like Ollama, so a passing residency test means
tipbench's own unloading did the work; ``test_naive_client_keeps_three_resident`` shows the same
server would let three pile up.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import ollama
import pytest

from tipbench_lib.backends.base import Backend, GenerationOptions, GenerationRequest
from tipbench_lib.backends.ollama import (
    OllamaBackend,
    is_oom,
    ollama_available,
    parse_parameter_size,
    resolve_host,
)
from tipbench_lib.core.errors import (
    BackendError,
    BackendUnavailableError,
    GenerationError,
    ModelTooLargeError,
    UnknownModelError,
)

from .ollama_standin import FakeModel, Fault, OllamaStandIn, parse_keep_alive

TIP = "Plan tomorrow's first task before you close the laptop tonight."
OPTIONS = GenerationOptions(temperature=0.7, top_p=0.9, max_tokens=40, num_ctx=512, timeout_s=10)


def fake_models() -> list[FakeModel]:
    return [
        FakeModel("phi-mini", 3_821_079_552, family="phi3", texts=(TIP,)),
        FakeModel("smol", 134_515_008, quantization_level="Q4_1", texts=(TIP,)),
        FakeModel("gemma-base", 268_098_176, family="gemma3", template="{{ .Prompt }}"),
        FakeModel("labelled", None, parameter_size="3.8B"),
        FakeModel("edge", 4_020_000_000, parameter_size="4.0B"),
        FakeModel("big", 7_615_616_512),
    ]


def chat(seed: int = 1, **options: object) -> GenerationRequest:
    opts = GenerationOptions(**{**OPTIONS.as_dict(), **options})
    messages = ({"role": "system", "content": "Write one tip."}, {"role": "user", "content": "Go"})
    return GenerationRequest(seed=seed, options=opts, messages=messages)


@pytest.fixture
def standin() -> Iterator[OllamaStandIn]:
    with OllamaStandIn(fake_models(), load_s=0.03, gen_s=0.005, unload_s=0.05) as server:
        yield server


@pytest.fixture
def backend(standin: OllamaStandIn) -> Iterator[OllamaBackend]:
    # Bounds for a loaded machine, not speeds: a healthy stand-in answers long before them.
    b = OllamaBackend(standin.url, timeout=60, unload_timeout_s=60)
    yield b
    b.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll instead of sleeping a fixed time, so a loaded CI machine does not flake."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# -- residency -----------------------------------------------------------------------------------


def test_naive_client_keeps_three_resident(standin: OllamaStandIn) -> None:
    client = ollama.Client(host=standin.url)
    for model in ("phi-mini", "smol", "gemma-base"):
        client.generate(model=model, prompt="hello", options={"num_predict": 4})
    assert standin.max_resident == 3
    assert len(client.ps().models) == 3


def test_backend_keeps_one_model_resident(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    assert isinstance(backend, Backend)
    ollama.Client(host=standin.url).generate(model="big", prompt="left over by someone else")
    for model in ("phi-mini", "smol", "gemma-base"):
        backend.load(model, OPTIONS)
        assert backend.resident_models() == [f"{model}:latest"]
        backend.generate(model, chat())
    assert standin.max_resident == 1
    assert [e.model for e in standin.loads()] == [
        "big:latest",
        "phi-mini:latest",
        "smol:latest",
        "gemma-base:latest",
    ]
    backend.close()
    assert standin.resident() == []
    assert {e.model for e in standin.unloads()} >= {"phi-mini:latest", "smol:latest"}


def test_each_model_loads_once_for_many_generations(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    for model in ("phi-mini", "smol"):
        load_s = backend.load(model, OPTIONS)
        assert load_s >= 0.03
        for i in range(6):
            result = backend.generate(model, chat(seed=i))
            assert result.text == TIP
    assert standin.load_count("phi-mini") == 1
    assert standin.load_count("smol") == 1
    assert standin.max_resident == 1


def test_num_ctx_stays_fixed_so_the_model_is_not_reloaded(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    backend.load("smol", OPTIONS)
    backend.generate("smol", chat(num_ctx=2048))
    assert {b["options"]["num_ctx"] for b in standin.generation_requests()} == {512}
    assert standin.load_count("smol") == 1


def test_generate_without_load_still_evicts_others(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    ollama.Client(host=standin.url).generate(model="big", prompt="warm", keep_alive=-1)
    backend.generate("smol", chat())
    assert standin.resident() == ["smol:latest"]


def test_unload_waits_until_ps_no_longer_lists_the_model(standin: OllamaStandIn) -> None:
    standin.unload_s = 0.5
    client = ollama.Client(host=standin.url)
    client.generate(model="smol", prompt="hi")
    client.generate(model="smol", prompt="", keep_alive=0)
    assert standin.resident() == ["smol:latest"], "the stand-in must unload asynchronously"
    backend = OllamaBackend(standin.url)
    backend.unload("smol")
    assert standin.resident() == []


def test_stuck_unload_times_out_with_advice(standin: OllamaStandIn) -> None:
    ollama.Client(host=standin.url).generate(model="big", prompt="hi")
    standin.set_fault("big", Fault("stuck_unload"))
    backend = OllamaBackend(standin.url, unload_timeout_s=0.3)
    with pytest.raises(BackendError, match="big:latest.*ollama stop"):
        backend.load("smol", OPTIONS)
    assert standin.load_count("smol") == 0


def test_strict_mode_unloads_after_every_request(standin: OllamaStandIn) -> None:
    backend = OllamaBackend(standin.url, strict_unload=True)
    backend.load("smol", OPTIONS)
    for i in range(3):
        backend.generate("smol", chat(seed=i))
        assert standin.resident() == []
    assert {b["keep_alive"] for b in standin.generation_requests()} == {0}
    assert standin.load_count("smol") == 3
    backend.close()


# -- the size limit ------------------------------------------------------------------------------


def test_describe_reads_exact_count_and_metadata(backend: OllamaBackend) -> None:
    info = backend.describe("phi-mini")
    assert info.parameter_count == 3_821_079_552
    assert info.parameter_label == "3.8B"
    assert info.quantization == "Q4_K_M"
    assert info.family == "phi3"
    assert info.context_length == 8192
    assert len(info.digest) == 64
    assert not info.is_base
    assert backend.describe("gemma-base").is_base
    assert backend.describe("labelled").parameter_count == 3_800_000_000
    names = [m.name for m in backend.list_models()]
    assert "smol:latest" in names and len(names) == 6


def test_model_above_limit_is_refused_and_never_loaded(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    edge = backend.describe("edge")
    assert edge.parameter_label == "4.0B"
    assert "4,020,000,000" in (edge.size_problem(4.0) or "")
    with pytest.raises(ModelTooLargeError, match="above the --max-model-b limit of 4B"):
        backend.check_size("big", 4.0)
    assert backend.check_size("phi-mini", 4.0).name == "phi-mini"
    guarded = OllamaBackend(standin.url, max_model_b=4.0)
    with pytest.raises(ModelTooLargeError):
        guarded.load("edge", OPTIONS)
    assert standin.loads() == []
    assert not any(r["path"] in ("/api/generate", "/api/chat") for r in standin.requests)


# -- request shape -------------------------------------------------------------------------------


def test_every_generation_carries_the_safety_options(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    backend.load("smol", OPTIONS)
    backend.generate("smol", chat(seed=7))
    raw = GenerationRequest(seed=8, options=OPTIONS, prompt="Tip for a nurse:")
    backend.generate("gemma-base", raw)
    bodies = standin.generation_requests()
    assert len(bodies) == 2
    for body in bodies:
        assert body["think"] is False
        assert type(body["keep_alive"]) in (int, float) and body["keep_alive"] == 300
        opts = body["options"]
        assert opts["num_predict"] == 40
        assert opts["num_ctx"] == 512
        assert opts["temperature"] == 0.7 and opts["top_p"] == 0.9
        assert body["stream"] is True
    assert [b["options"]["seed"] for b in bodies] == [7, 8]
    assert bodies[1]["raw"] is True and bodies[1]["prompt"] == "Tip for a nurse:"
    loads = [r["body"] for r in standin.requests if r["body"] and r["body"].get("prompt") == ""]
    assert loads and all(type(b["keep_alive"]) in (int, float) for b in loads)


def test_generation_reports_tokens_and_timing(backend: OllamaBackend) -> None:
    started = time.monotonic()
    result = backend.generate("smol", chat())
    around = time.monotonic() - started
    assert result.eval_tokens == len(TIP.split())
    assert result.done_reason == "stop"
    assert result.tokens_per_s > 0
    assert 0 < result.latency_s <= around, "the server's time lies within the request's"
    assert result.prompt_tokens == (3 + 4) + (1 + 4)  # words plus 4 per message
    assert not result.truncated
    short = backend.generate("smol", chat(max_tokens=3))
    assert short.done_reason == "length" and short.eval_tokens == 3


def test_json_schema_is_sent_as_format(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    schema = {"type": "object", "properties": {"relevance": {"type": "integer"}}}
    request = GenerationRequest(
        seed=1, options=OPTIONS, messages=chat().messages, json_schema=schema
    )
    result = backend.generate("smol", request)
    assert standin.generation_requests()[-1]["format"] == schema
    assert result.text == '{"ok": true}'


def test_model_that_rejects_think_is_retried_once_without_it(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    standin.set_fault("smol", Fault("rejects_think"))
    assert backend.generate("smol", chat()).text == TIP
    assert backend.generate("smol", chat()).text == TIP
    bodies = [r["body"] for r in standin.requests if r["path"] == "/api/chat"]
    assert ["think" in b for b in bodies] == [True, False, False]


# -- truncation ----------------------------------------------------------------------------------


def test_silent_truncation_is_flagged(backend: OllamaBackend) -> None:
    long_prompt = "word " * 600
    request = GenerationRequest(seed=1, options=OPTIONS, prompt=long_prompt)
    result = backend.generate("smol", request)
    assert result.prompt_tokens == 512
    assert result.truncated
    fits = backend.generate("smol", GenerationRequest(seed=1, options=OPTIONS, prompt="a b c"))
    assert not fits.truncated


# -- errors --------------------------------------------------------------------------------------


def test_error_line_inside_a_200_stream(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    standin.set_fault("smol", Fault("stream_error", after_chunks=2, times=1))
    body = {"model": "smol", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{standin.url}/api/chat", json=body, timeout=5) as response:
        status = response.status_code
        lines = [json.loads(line) for line in response.iter_lines()]
    assert status == 200
    assert len(lines) == 3 and set(lines[-1]) == {"error"}
    standin.set_fault("smol", Fault("stream_error"))
    with pytest.raises(GenerationError) as caught:
        backend.generate("smol", chat())
    assert caught.value.kind == "error"
    assert "unexpected EOF" in str(caught.value)


def test_out_of_memory_is_recognised(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    standin.set_fault("phi-mini", Fault("oom"))
    with pytest.raises(GenerationError) as at_load:
        backend.load("phi-mini", OPTIONS)
    assert at_load.value.kind == "oom"
    assert "requires more system memory" in str(at_load.value)
    assert standin.loads("phi-mini") == []
    standin.set_fault("smol", Fault("stream_error", message="CUDA error: out of memory"))
    with pytest.raises(GenerationError) as mid_stream:
        backend.generate("smol", chat())
    assert mid_stream.value.kind == "oom"
    assert is_oom("cudaMalloc failed: out of memory") and not is_oom("model not found")


def test_http_500_becomes_a_generation_error(
    standin: OllamaStandIn, backend: OllamaBackend
) -> None:
    standin.set_fault("smol", Fault("http_500"))
    with pytest.raises(GenerationError) as caught:
        backend.generate("smol", chat())
    assert caught.value.kind == "error"
    assert "runner process has terminated" in str(caught.value)


def test_unknown_model_names_the_available_ones(backend: OllamaBackend) -> None:
    with pytest.raises(UnknownModelError) as caught:
        backend.describe("llama9")
    message = str(caught.value)
    assert "'llama9'" in message and "smol:latest" in message and "ollama pull llama9" in message
    with pytest.raises(UnknownModelError):
        backend.generate("llama9", chat())


def test_slow_response_times_out(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    """The stand-in would answer only after an hour: the error coming at all shows the timeout
    cut the request, with no wall-clock bound to miss on a busy machine (issue 17, finding 9)."""
    backend.load("smol", OPTIONS)
    standin.set_fault("smol", Fault("slow", delay_s=3600.0, times=1))
    with pytest.raises(GenerationError) as caught:
        backend.generate("smol", chat(timeout_s=0.3))
    assert caught.value.kind == "timeout"
    assert backend.generate("smol", chat()).text == TIP


def test_server_down_is_reported_with_what_to_do() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = OllamaBackend(url, timeout=2)
    with pytest.raises(BackendUnavailableError) as caught:
        backend.describe("smol")
    message = str(caught.value)
    assert url in message and "OLLAMA_HOST" in message and "ollama serve" in message
    with pytest.raises(BackendUnavailableError):
        backend.version()
    assert not ollama_available(url, timeout=0.5)


def test_server_going_away_mid_run_is_reported() -> None:
    with OllamaStandIn(fake_models(), load_s=0.01, gen_s=0.0) as server:
        backend = OllamaBackend(server.url, timeout=2)
        backend.load("smol", OPTIONS)
        assert backend.generate("smol", chat()).text == TIP
    with pytest.raises(BackendUnavailableError, match="ollama serve"):
        backend.generate("smol", chat())
    backend.close()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_stream_cut_by_a_dying_server_is_an_outage_not_a_model_error(reset: bool) -> None:
    with OllamaStandIn(fake_models(), load_s=0.01, gen_s=0.0) as server:
        backend = OllamaBackend(server.url, timeout=2)
        backend.load("smol", OPTIONS)
        server.set_fault("smol", Fault("crash", after_chunks=2, reset=reset, times=1))
        with pytest.raises(BackendUnavailableError, match="connection to Ollama.*broke"):
            backend.generate("smol", chat())
        assert server.resident() == [], "a killed Ollama holds nothing"
        server.start()  # restarted on the same port
        assert backend.generate("smol", chat()).text == TIP
        assert server.load_count("smol") == 2 and server.max_resident == 1
        backend.close()


def test_an_unload_that_timed_out_is_not_waited_for_again(standin: OllamaStandIn) -> None:
    backend = OllamaBackend(standin.url, unload_timeout_s=0.3)
    backend.load("big", OPTIONS)
    standin.set_fault("big", Fault("stuck_unload"))
    with pytest.raises(BackendError, match="big:latest.*ollama stop"):
        backend.unload("big")
    polls_after_first_wait = sum(r["path"] == "/api/ps" for r in standin.requests)
    with pytest.raises(BackendError, match="big:latest"):
        backend.load("smol", OPTIONS)  # refuses at once: loading now would make two resident
    backend.close()  # nothing left to unload: no second request, no second wait
    polls = sum(r["path"] == "/api/ps" for r in standin.requests) - polls_after_first_wait
    assert polls <= 2, f"{polls} more /api/ps polls: the stuck unload was waited for again"
    assert standin.load_count("smol") == 0


def test_available_and_version(standin: OllamaStandIn, backend: OllamaBackend) -> None:
    assert ollama_available(standin.url)
    assert backend.version() == "0.12.6"


# -- helpers -------------------------------------------------------------------------------------


def test_host_is_read_like_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert resolve_host() == "http://127.0.0.1:11434"
    assert resolve_host("10.0.0.5:8080") == "http://10.0.0.5:8080"
    assert resolve_host("gpu-box") == "http://gpu-box:11434"
    assert resolve_host("https://ollama.example.org") == "https://ollama.example.org:443"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    assert resolve_host() == "http://0.0.0.0:11500"


def test_parameter_size_labels() -> None:
    assert parse_parameter_size("3.8B") == 3_800_000_000
    assert parse_parameter_size("270M") == 270_000_000
    assert parse_parameter_size("") is None and parse_parameter_size("big") is None


def test_standin_keep_alive_semantics(standin: OllamaStandIn) -> None:
    assert parse_keep_alive("5m") == 300 and parse_keep_alive(None) == 300
    assert parse_keep_alive("1h30m") == 5400 and parse_keep_alive(-1) == float("inf")
    client = ollama.Client(host=standin.url)
    with pytest.raises(ollama.ResponseError, match="missing unit"):
        client.generate(model="smol", prompt="hi", keep_alive="300")
    client.generate(model="smol", prompt="hi", keep_alive=0.5)
    assert standin.resident() == ["smol:latest"]
    assert wait_for(lambda: standin.resident() == [], timeout=60)  # a bound, not a speed
    assert standin.unloads("smol")[-1].detail == "expired"
    client.generate(model="smol", prompt="hi", keep_alive="0")
    assert wait_for(lambda: standin.resident() == [], timeout=60)
    assert standin.unloads("smol")[-1].detail == "keep_alive 0"
    client.generate(model="smol", prompt="hi", options={"num_ctx": 1024})
    client.generate(model="smol", prompt="hi", options={"num_ctx": 2048})
    assert [e.detail for e in standin.unloads("smol")][-1] == "reload"
