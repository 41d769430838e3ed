"""What the portable llama.cpp build costs against one built for this CPU (issue 20).

The Makefile builds llama-cpp-python once per machine with a portable instruction set (AVX2, FMA,
F16C, BMI2: ``LLAMA_CMAKE_ARGS``), so the cached wheel runs on any x86-64 machine of the last ten
years. A native build (``-DGGML_NATIVE=ON``) also uses what this CPU adds (AVX-512, AMX, VNNI).
This measures the price of portability on the work the demo does: evaluating a prompt of about
250 tokens, and decoding token by token, with SmolLM2 135M (Q4_1), the same thread count.

Each build runs in its own interpreter (one venv with each wheel); the two alternate round by
round in one run, so a load that changes on a shared machine hits both alike, and the ratios
are of medians. On the project's Intel Xeon (AVX-512, AVX512_BF16, AMX) both native builds
tried died with SIGSEGV in their first prompt evaluation (llama-cpp-python 0.3.36, Debian's
gcc): ``-DGGML_NATIVE=ON``, and the same with AMX off (``-DGGML_AMX_TILE=OFF
-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF``); the portable wheel runs. This script names a build
that dies instead of timing it. Build the native wheel and its venv first::

    python3 -m venv /tmp/native/venv
    CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_AMX_INT8=OFF ..." /tmp/native/venv/bin/pip wheel \
        --no-deps --no-binary llama-cpp-python "llama-cpp-python==$(VERSION)" -w /tmp/native/wheels
    /tmp/native/venv/bin/pip install /tmp/native/wheels/llama_cpp_python-*.whl

    .venv/bin/python bench/llama_build.py --other /tmp/native/venv/bin/python [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

from tipbench_lib.backends.embedded import MODELS, default_models_dir

CHILD = r"""
import json, os, sys, time
from llama_cpp import Llama, llama_print_system_info
path, n_prompt, n_decode, repeats = sys.argv[1], *map(int, sys.argv[2:5])
threads = len(os.sched_getaffinity(0))
llm = Llama(model_path=path, n_ctx=1024, n_batch=512, n_threads=threads,
            n_threads_batch=threads, verbose=False, seed=1)
text = " ".join(f"Tip {i}: drink water, stretch, and plan the next task." for i in range(60))
tokens = llm.tokenize(text.encode())[:n_prompt]
prompt_s, decode_s = [], []
for _ in range(repeats):
    llm.reset()
    t0 = time.perf_counter(); llm.eval(tokens); prompt_s.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for tok in tokens[:n_decode]:
        llm.eval([tok])
    decode_s.append(time.perf_counter() - t0)
print(json.dumps({"prompt_s": min(prompt_s), "decode_s": min(decode_s), "threads": threads,
                  "system": llama_print_system_info().decode()}))
"""


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _run(python: str, path: Path, args: argparse.Namespace) -> dict:
    argv = [python, "-c", CHILD, str(path), str(args.prompt), str(args.decode), str(args.repeats)]
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0:
        how = f"signal {-out.returncode}" if out.returncode < 0 else f"exit {out.returncode}"
        raise SystemExit(f"{python} died ({how}) evaluating the prompt; its build is unusable here")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--other", required=True, help="python of the venv holding the other build")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--repeats", type=int, default=3, help="timings per round (the best counts)")
    p.add_argument("--prompt", type=int, default=250, help="prompt tokens")
    p.add_argument("--decode", type=int, default=48, help="tokens decoded one by one")
    args = p.parse_args()
    path = MODELS["smollm2-135m"].locate(default_models_dir())
    builds = {"portable (this venv)": sys.executable, "other": args.other}
    seen: dict[str, list[dict]] = {name: [] for name in builds}
    for r in range(args.rounds):
        order = list(builds) if r % 2 == 0 else list(reversed(builds))
        for name in order:
            seen[name].append(_run(builds[name], path, args))
    print(f"CPU: {_cpu_name()}, {os.cpu_count()} cores; load {os.getloadavg()}")
    medians = {}
    for name, runs in seen.items():
        prompt = statistics.median(r["prompt_s"] for r in runs)
        decode = statistics.median(r["decode_s"] for r in runs)
        medians[name] = (prompt, decode)
        flags = [f for f in runs[0]["system"].split("|") if "= 1" in f]
        print(
            f"{name:22s} prompt {args.prompt / prompt:7.0f} tok/s  decode "
            f"{args.decode / decode:6.1f} tok/s  threads {runs[0]['threads']}  "
            f"({' '.join(f.strip().split(' ')[0] for f in flags)})"
        )
    (pp, pd), (op, od) = medians["portable (this venv)"], medians["other"]
    print(
        f"other / portable speed: prompt {pp / op:.2f}x, decode {pd / od:.2f}x "
        f"(medians of {args.rounds} alternating rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
