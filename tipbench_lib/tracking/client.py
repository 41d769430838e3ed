"""tipbench's MLflow client: the REST calls the phases need, over httpx.

Not the mlflow Python client: that one pulls the whole mlflow package into every notebook and
hides the server's limits (batch sizes, silent truncation, plain-text errors) that tipbench has
to respect explicitly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from tipbench_lib.core.errors import TipbenchError, TrackingError
from tipbench_lib.tracking.batching import check_param_value, check_tag_value, split_batches
from tipbench_lib.tracking.entities import (
    Experiment,
    FileInfo,
    Metric,
    Run,
    parse_experiment,
    parse_run,
)
from tipbench_lib.tracking.http import (
    MlflowHttpError,
    auth_for,
    auth_kind,
    json_or_error,
    send_with_retries,
    split_userinfo,
)

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
ARTIFACT_SCHEME = "mlflow-artifacts:"
T = TypeVar("T")
LONG_TAG_PREFIX = "tipbench-artifact:"
"""A tag value ``tipbench-artifact:tags/<key>.txt`` means: the real value is that artifact."""


def now_ms() -> int:
    return int(time.time() * 1000)


class MlflowClient:
    """A connection to one MLflow tracking server; use it as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30,
        retries: int = 4,
        backoff: float = 0.5,
        auth: httpx.Auth | None = None,
        event_hooks: Mapping[str, list[Any]] | None = None,
    ) -> None:
        self.base_url, url_auth = split_userinfo(base_url)
        chosen = auth or url_auth or auth_for(self.base_url)
        self._auth_kind = auth_kind(chosen)
        self.retries = retries
        self.backoff = backoff
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            auth=chosen,
            event_hooks=dict(event_hooks or {}),
        )
        self._artifact_roots: dict[str, str] = {}

    @classmethod
    def from_env(cls, **kwargs: Any) -> MlflowClient:
        """The server in MLFLOW_TRACKING_URI, or tipbench's embedded one when it is unset."""
        from tipbench_lib.tracking.server import tracking_url

        return cls(tracking_url(), **kwargs)

    def __repr__(self) -> str:
        return f"MlflowClient({self.base_url!r}, auth={self._auth_kind})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return send_with_retries(
            lambda: self._http.request(method, path, **kwargs),
            base_url=self.base_url,
            what=f"{method} {path.split('?')[0]}",
            retries=self.retries,
            backoff=self.backoff,
        )

    def _call(
        self, method: str, endpoint: str, body: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        path = f"{API}/{endpoint}"
        if method == "GET":
            response = self._send(method, path, params=body)
        else:
            response = self._send(method, path, json=body or {})
        return json_or_error(response, self.base_url)

    def _parsed(self, parse: Callable[[Any], T], data: Any, key: str, what: str) -> T:
        """``parse(data[key])``, or a TrackingError naming the answer that lacked it.

        MLflow always sends these fields; a body without one (``{}`` with 200 from a proxy, a
        stub or another service at the address) is named here instead of a KeyError traceback.
        """
        try:
            return parse(data[key])
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            shown = json.dumps(data)[:200] if isinstance(data, dict | list) else repr(data)[:200]
            if not isinstance(data, dict) or key not in data:
                problem = f"without {key!r}"
            elif isinstance(exc, KeyError):
                problem = f"with a {key!r} that lacks {exc}"
            else:
                problem = f"with a {key!r} that cannot be read ({exc})"
            raise TrackingError(
                f"MLflow at {self.base_url} answered {what} {problem} (the answer was {shown}). "
                "Is MLFLOW_TRACKING_URI the address of an MLflow (>= 3.5) tracking server, not a "
                "proxy or another service?"
            ) from None

    # -- experiments -------------------------------------------------------------------------

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with this name, deleted ones included (see ``lifecycle_stage``)."""
        try:
            data = self._call("GET", "experiments/get-by-name", {"experiment_name": name})
        except MlflowHttpError as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise
        return self._parsed(parse_experiment, data, "experiment", "experiments/get-by-name")

    def experiments(self, limit: int = 1000) -> list[Experiment]:
        """Up to ``limit`` live experiments (one page: for hints and links, never for data)."""
        body = {"max_results": limit, "view_type": "ACTIVE_ONLY"}
        found = self._call("POST", "experiments/search", body).get("experiments") or []
        return sorted(
            (self._parsed(parse_experiment, {"e": e}, "e", "experiments/search") for e in found),
            key=lambda e: e.name,
        )

    def experiment_names(self, limit: int = 1000) -> list[str]:
        """The names of up to ``limit`` live experiments (for a refusal's hints)."""
        return [e.name for e in self.experiments(limit)]

    def get_experiment(self, experiment_id: str) -> Experiment:
        data = self._call("GET", "experiments/get", {"experiment_id": experiment_id})
        return self._parsed(parse_experiment, data, "experiment", "experiments/get")

    def create_experiment(self, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Create the experiment with ``tags`` in the same request: one transaction in MLflow's
        store, so a concurrent creator gets RESOURCE_ALREADY_EXISTS, never half of the tags."""
        body: dict[str, Any] = {"name": name}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        data = self._call("POST", "experiments/create", body)
        return self._parsed(str, data, "experiment_id", "experiments/create")

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/restore", {"experiment_id": experiment_id})

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", "experiments/delete", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """One experiment tag (the server refuses a value over its limit: 5,000 characters
        before MLflow 3.x's migration 17e22815139b, 20,000 after)."""
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        self._call("POST", "experiments/set-experiment-tag", body)

    def has_runs(self, experiment_id: str) -> bool:
        """Whether the experiment holds any run, from one page of one run."""
        body = {"experiment_ids": [experiment_id], "max_results": 1}
        return bool(self._call("POST", "runs/search", body).get("runs"))

    def ensure_experiment(self, name: str) -> str:
        """The id of a usable experiment with this name: found, restored, or created.

        A deleted experiment keeps its name, so creating it again would fail; and another
        process may create it between our lookup and our create, which is fine.
        """
        found = self.get_experiment_by_name(name)
        if found is not None:
            if found.deleted:
                self.restore_experiment(found.experiment_id)
            return found.experiment_id
        try:
            return self.create_experiment(name)
        except MlflowHttpError as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        return self.ensure_experiment(name)

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        run_name: str,
        *,
        start_time_ms: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        for key, value in (tags or {}).items():
            check_tag_value(key, str(value))
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time_ms if start_time_ms is not None else now_ms(),
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        run = self._parsed(parse_run, self._call("POST", "runs/create", body), "run", "runs/create")
        self._artifact_roots[run.run_id] = run.artifact_uri
        return run

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Mapping[str, float] | Sequence[Metric] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Log everything in as few calls as the server's limits allow; returns the call count.

        Over-long values raise before anything is sent, so a batch never lands half-cut.
        """
        batches = split_batches(metrics, params or {}, tags or {})
        for batch in batches:
            self._call(
                "POST",
                "runs/log-batch",
                {
                    "run_id": run_id,
                    "metrics": batch.metrics,
                    "params": batch.params,
                    "tags": batch.tags,
                },
            )
        return len(batches)

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        check_tag_value(key, value)
        self._call("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": value})

    def log_param(self, run_id: str, key: str, value: str) -> None:
        check_param_value(key, value)
        self._call("POST", "runs/log-parameter", {"run_id": run_id, "key": key, "value": value})

    def set_long_tag(self, run_id: str, key: str, value: str) -> None:
        """A tag of any length: short ones as tags, long ones as ``tags/<key>.txt`` artifacts."""
        try:
            check_tag_value(key, value)
        except TrackingError:
            path = f"tags/{key}.txt"
            self.log_artifact(run_id, path, value)
            self.set_tag(run_id, key, f"{LONG_TAG_PREFIX}{path}")
        else:
            self.set_tag(run_id, key, value)

    def get_long_tag(self, run: Run, key: str) -> str | None:
        """A tag's full value, reading the artifact when ``set_long_tag`` put it there."""
        value = run.tags.get(key)
        if value is not None and value.startswith(LONG_TAG_PREFIX):
            self._artifact_roots.setdefault(run.run_id, run.artifact_uri)
            data = self.download_artifact(run.run_id, value[len(LONG_TAG_PREFIX) :])
            return data.decode("utf-8")
        return value

    def update_run(self, run_id: str, status: str, end_time_ms: int | None = None) -> None:
        """Set the run's status (RUNNING, FINISHED, FAILED, KILLED); terminal ones get an end."""
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time_ms is None and status != "RUNNING":
            end_time_ms = now_ms()
        if end_time_ms is not None:
            body["end_time"] = end_time_ms
        self._call("POST", "runs/update", body)

    def get_run(self, run_id: str) -> Run:
        data = self._call("GET", "runs/get", {"run_id": run_id})
        run = self._parsed(parse_run, data, "run", "runs/get")
        self._artifact_roots[run.run_id] = run.artifact_uri
        return run

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int | None = None,
    ) -> list[Run]:
        """Every matching run, following ``page_token``; ``max_results`` is the page size."""
        body: dict[str, Any] = {"experiment_ids": list(experiment_ids), "filter": filter_string}
        what = "runs/search"
        if order_by:
            body["order_by"] = list(order_by)
        if max_results is not None:
            body["max_results"] = max_results
        runs: list[Run] = []
        while True:
            data = self._call("POST", "runs/search", body)
            page = {"runs": data.get("runs") or []}
            runs.extend(self._parsed(_parse_runs, page, "runs", what))
            token = data.get("next_page_token")
            if not token:
                return runs
            body["page_token"] = token

    def find_run(self, experiment_id: str, filter_string: str) -> Run | None:
        """One run matching ``filter_string``, or None: a single page of one run."""
        body = {"experiment_ids": [experiment_id], "filter": filter_string, "max_results": 1}
        data = self._call("POST", "runs/search", body)
        found = self._parsed(_parse_runs, {"runs": data.get("runs") or []}, "runs", "runs/search")
        return found[0] if found else None

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "runs/delete", {"run_id": run_id})

    # -- artifacts ---------------------------------------------------------------------------

    def _artifact_root(self, run_id: str) -> str:
        """``<experiment>/<run>/artifacts`` from ``mlflow-artifacts:/...``; refuse others."""
        uri = self._artifact_roots.get(run_id) or self.get_run(run_id).artifact_uri
        return proxied_path(uri, f"run {run_id}")

    def _artifact_url(self, run_id: str, path: str) -> str:
        return _proxied_url(self._artifact_root(run_id), path)

    def log_experiment_artifact(self, experiment: Experiment, path: str, data: bytes | str) -> None:
        """Upload ``data`` under the experiment's own artifact location (beside its runs')."""
        root = proxied_path(experiment.artifact_location, f"experiment {experiment.name!r}")
        content = data.encode("utf-8") if isinstance(data, str) else data
        response = self._send("PUT", _proxied_url(root, path), content=content)
        json_or_error(response, self.base_url)

    def download_experiment_artifact(self, experiment: Experiment, path: str) -> bytes:
        root = proxied_path(experiment.artifact_location, f"experiment {experiment.name!r}")
        response = self._send("GET", _proxied_url(root, path))
        if not response.is_success:
            json_or_error(response, self.base_url)
        return response.content

    def log_artifact(self, run_id: str, path: str, data: bytes | str) -> None:
        """Upload ``data`` as the run's artifact ``path`` (str is stored as UTF-8)."""
        content = data.encode("utf-8") if isinstance(data, str) else data
        response = self._send("PUT", self._artifact_url(run_id, path), content=content)
        json_or_error(response, self.base_url)

    def download_artifact(self, run_id: str, path: str, max_bytes: int | None = None) -> bytes:
        """The artifact's bytes; with ``max_bytes``, :class:`ArtifactTooLarge` as soon as more
        arrive, so a stranger's 5 MB file is never read whole (docs/architecture.md, section 6)."""
        url = self._artifact_url(run_id, path)
        if max_bytes is None:
            response = self._send("GET", url)
            if not response.is_success:
                json_or_error(response, self.base_url)
            return response.content
        return send_with_retries(
            lambda: self._bounded_get(url, max_bytes, f"{path} of run {run_id}"),
            base_url=self.base_url,
            what=f"GET {path}",
            retries=self.retries,
            backoff=self.backoff,
        )

    def _bounded_get(self, url: str, max_bytes: int, what: str) -> bytes:
        with self._http.stream("GET", url) as response:
            if not response.is_success:
                response.read()
                json_or_error(response, self.base_url)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ArtifactTooLarge(what, max_bytes, int(declared))
            data = bytearray()
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise ArtifactTooLarge(what, max_bytes)
            return bytes(data)

    def list_artifacts(self, run_id: str, path: str = "") -> list[FileInfo]:
        """The files and folders directly under ``path`` (paths relative to the run's root)."""
        prefix = path.strip("/")
        listing = f"{self._artifact_root(run_id)}/{prefix}".strip("/")
        response = self._send("GET", ARTIFACTS_API, params={"path": listing})
        files = {"files": json_or_error(response, self.base_url).get("files") or []}

        def infos(items: list[dict[str, Any]]) -> list[FileInfo]:
            return [
                FileInfo(
                    path=f"{prefix}/{item['path']}" if prefix else item["path"],
                    is_dir=bool(item.get("is_dir", False)),
                    file_size=int(item["file_size"]) if "file_size" in item else None,
                )
                for item in items
            ]

        return self._parsed(infos, files, "files", "the artifact listing")


def _parse_runs(items: list[dict[str, Any]]) -> list[Run]:
    return [parse_run(item) for item in items]


class ArtifactTooLarge(TipbenchError):
    """An artifact larger than the reader's bound; what was read of it is dropped."""

    def __init__(self, what: str, limit: int, size: int | None = None) -> None:
        told = f" (it says {size:,} bytes)" if size is not None else ""
        super().__init__(f"{what} is larger than {limit:,} bytes{told}; it was not read")
        self.limit = limit


def proxied_path(uri: str, owner: str) -> str:
    """The path under the server's artifact proxy of a ``mlflow-artifacts:/...`` location.

    Any other location (a bucket the client would have to reach itself) is refused: tipbench
    talks to MLflow only.
    """
    if not uri.startswith(ARTIFACT_SCHEME):
        raise TrackingError(
            f"{owner} stores artifacts at {uri!r}, which tipbench cannot reach through "
            f"the server. Start `mlflow server` with artifact serving (the default; do not "
            f"pass --no-serve-artifacts) and --artifacts-destination <dir or bucket>, and use "
            f"a new experiment (an experiment keeps the artifact location it was created with)."
        )
    rest = uri[len(ARTIFACT_SCHEME) :]
    if rest.startswith("//"):  # mlflow-artifacts://host:port/path
        rest = rest[2:].split("/", 1)[1] if "/" in rest[2:] else ""
    return rest.strip("/")


def _proxied_url(root: str, path: str) -> str:
    full = f"{root}/{path.strip('/')}".strip("/")
    return f"{ARTIFACTS_API}/{quote(full, safe='/')}"
