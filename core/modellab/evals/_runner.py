"""Send a suite's cases to an OpenAI-compatible endpoint and grade the answers.

One asyncio event loop, ``concurrency`` workers sharing one ``httpx.AsyncClient`` (so
connections are reused), each taking the next unanswered case. Transient failures (network
errors, timeouts, 429, 5xx) are retried with exponential backoff and jitter, honouring a
server's ``Retry-After``. A request the endpoint rejects for what it is (400, 413, 422) is
recorded as ``refused`` and graded as a failure: a model that cannot take the context is
worse for this user. Answers that say the endpoint itself is wrong (401, 403, 404) stop the
run at once, because every other case would fail the same way.

Every result is committed when it arrives, so stopping at any point loses at most the
requests in flight; running again sends only what is missing.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modellab.errors import EvalError, EvalIncompleteError
from modellab.evals._actions import Action
from modellab.evals._endpoints import Endpoint
from modellab.evals._graders import Grader, grade_case
from modellab.evals._runs import CaseResult, RunStore
from modellab.evals._suite import EvalCase, Suite, verify_suite_approval

__all__ = ["RunLimits", "RunSummary", "Sampling", "run_suite"]

_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_FATAL_STATUSES = frozenset({401, 403, 404, 405})
#: The most requests ``--concurrency`` may keep in flight (each holds a connection).
MAX_CONCURRENCY = 256
#: The longest a ``Retry-After`` is honoured; a longer one is treated as this.
_MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Sampling:
    """What the model is asked to do; part of a run's identity (changing it starts anew)."""

    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0

    def to_json(self) -> dict[str, Any]:
        """The settings stored with the run."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}


@dataclass(frozen=True, slots=True)
class RunLimits:
    """How hard to push the endpoint; not part of a run's identity."""

    concurrency: int = 4
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a call to :func:`run_suite` did."""

    run_id: str
    resumed: bool
    total: int
    #: Cases answered before this call (a resumed run).
    already: int
    #: Cases answered by this call, and how many of those the endpoint refused.
    answered: int
    refused: int
    elapsed_s: float


class _Refused(Exception):
    def __init__(self, status: int, text: str, attempts: int) -> None:
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.attempts = attempts


class _Fatal(Exception):
    pass


class _GaveUp(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Reply:
    message: Mapping[str, Any]
    usage: Mapping[str, Any]
    attempts: int
    latency_ms: float


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), _MAX_RETRY_AFTER_S)


def request_body(case: EvalCase, endpoint: Endpoint, sampling: Sampling) -> dict[str, Any]:
    """The chat-completions request for ``case``."""
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": list(case.messages),
        "temperature": sampling.temperature,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    if case.tools:
        body["tools"] = list(case.tools)
        body["tool_choice"] = "auto"
    return body


async def _send(
    client: Any, endpoint: Endpoint, case: EvalCase, sampling: Sampling, limits: RunLimits
) -> _Reply:
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    body = request_body(case, endpoint, sampling)
    last = "no attempt made"
    for attempt in range(1, limits.retries + 2):
        wait: float | None = None
        started = time.perf_counter()
        try:
            response = await client.post(endpoint.chat_url, json=body, headers=headers)
        except httpx.TimeoutException:
            last = f"timed out after {limits.timeout_s:g} s"
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            latency_ms = (time.perf_counter() - started) * 1000
            status = response.status_code
            if status == 200:
                return _parse_reply(response, attempt, latency_ms)
            if status in _FATAL_STATUSES:
                raise _Fatal(f"{endpoint.chat_url} answered HTTP {status}: {response.text[:300]}")
            if status not in _RETRY_STATUSES:
                raise _Refused(status, response.text, attempt)
            last = f"HTTP {status}"
            wait = _retry_after(response.headers.get("retry-after"))
        if attempt > limits.retries:
            break
        if wait is None:
            backoff = min(limits.backoff_s * 2 ** (attempt - 1), limits.max_backoff_s)
            wait = backoff + random.uniform(0, limits.backoff_s)
        await asyncio.sleep(wait)
    raise _GaveUp(f"{last} (after {limits.retries + 1} attempts)")


def _parse_reply(response: Any, attempts: int, latency_ms: float) -> _Reply:
    try:
        data = response.json()
        message = data["choices"][0]["message"]
        if not isinstance(message, Mapping):
            raise TypeError("message is not an object")
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Refused(200, f"not a chat completion ({exc}): {response.text}", attempts) from None
    usage = data.get("usage")
    return _Reply(message, usage if isinstance(usage, Mapping) else {}, attempts, latency_ms)


def _result(
    case: EvalCase,
    graders: Sequence[Grader],
    *,
    action: Action | None,
    reply: _Reply | None = None,
    refused: _Refused | None = None,
) -> CaseResult:
    if action is None:
        return CaseResult(
            case_id=case.id,
            session_id=case.session_id,
            status="refused",
            action=None,
            error=str(refused),
            attempts=refused.attempts if refused else 1,
            latency_ms=None,
            prompt_tokens=None,
            completion_tokens=None,
            score=0.0,
            passed=False,
            grades=[],
        )
    graded = grade_case(case, action, graders)
    usage = reply.usage if reply else {}
    return CaseResult(
        case_id=case.id,
        session_id=case.session_id,
        status="answered",
        action=action.to_json(),
        error=None,
        attempts=reply.attempts if reply else 0,
        latency_ms=round(reply.latency_ms, 2) if reply else None,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        score=graded.score,
        passed=graded.passed,
        grades=graded.grades_json(),
    )


async def _run_remote(
    cases: Sequence[EvalCase],
    endpoint: Endpoint,
    sampling: Sampling,
    limits: RunLimits,
    graders: Sequence[Grader],
    on_result: Callable[[CaseResult], None],
) -> list[str]:
    """Answer ``cases``; return the errors of the cases that got no answer."""
    import httpx

    queue: asyncio.Queue[EvalCase] = asyncio.Queue()
    for case in cases:
        queue.put_nowait(case)
    unanswered: list[str] = []
    fatal: list[str] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not fatal:
            try:
                case = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                reply = await _send(client, endpoint, case, sampling, limits)
            except _Refused as refused:
                on_result(_result(case, graders, action=None, refused=refused))
            except _GaveUp as exc:
                unanswered.append(str(exc))
            except _Fatal as exc:
                fatal.append(str(exc))
            else:
                action = Action.from_message(reply.message)
                on_result(_result(case, graders, action=action, reply=reply))

    timeout = httpx.Timeout(limits.timeout_s, connect=min(limits.timeout_s, 10.0))
    pool = httpx.Limits(
        max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
    )
    # trust_env=False: no proxy from the environment sees the cases or the key.
    async with httpx.AsyncClient(timeout=timeout, limits=pool, trust_env=False) as client:
        await asyncio.gather(*(worker(client) for _ in range(limits.concurrency)))
    if fatal:
        raise EvalError(fatal[0], hint="check --base-url, --model and the API key")
    return unanswered


def _check(sampling: Sampling, limits: RunLimits) -> None:
    """Refuse settings that cannot work, naming the flag, before anything is sent."""
    from modellab.errors import UsageError

    problems = [
        (
            not 1 <= limits.concurrency <= MAX_CONCURRENCY,
            f"--concurrency: {limits.concurrency} is not between 1 and {MAX_CONCURRENCY}",
        ),
        (not limits.timeout_s > 0, f"--timeout: {limits.timeout_s:g} must be above 0 seconds"),
        (limits.retries < 0, f"--retries: {limits.retries} must be 0 or more"),
        (sampling.max_tokens < 1, f"--max-tokens: {sampling.max_tokens} must be at least 1"),
        (
            not 0 <= sampling.temperature <= 2,
            f"--temperature: {sampling.temperature:g} must be between 0 and 2",
        ),
    ]
    for failed, message in problems:
        if failed:
            raise UsageError(message)


def run_suite(
    suite: Suite,
    endpoint: Endpoint,
    store: RunStore,
    graders: Sequence[Grader],
    *,
    sampling: Sampling | None = None,
    limits: RunLimits | None = None,
    fresh: bool = False,
    progress: bool = False,
) -> RunSummary:
    """Answer every case of ``suite`` not yet answered in this model's run, and grade it.

    :raises EvalIncompleteError: some cases got no answer after every retry; the results
        that did come are kept, and calling again resumes.
    :raises EvalError: the endpoint refused the run itself (wrong URL, model or key).
    :raises modellab.errors.GateError: the approval the suite was built from no longer
        stands (see :func:`~modellab.evals.verify_suite_approval`); nothing was sent.
    """
    from modellab._internal.term import Progress

    sampling = sampling or Sampling()
    limits = limits or RunLimits()
    _check(sampling, limits)
    # The gate at the moment of use: the approval the suite was built from still stands.
    verify_suite_approval(suite, store.catalog)
    store.ensure_suite(suite.id, str(suite.path.resolve()), suite.manifest)
    settings = sampling.to_json()
    if endpoint.context_window is not None:
        # Recorded so that promotion can write it into CodeWhale's provider table.
        settings["context_window"] = endpoint.context_window
    run, resumed = store.open_run(suite.id, endpoint, settings, fresh=fresh)
    done = store.answered(run.id)
    todo = [case for case in suite.cases if case.id not in done]
    bar = Progress(f"eval {endpoint.label}", len(suite.cases), enabled=progress, unit="cases")
    bar.advance(len(done))
    counts = {"answered": 0, "refused": 0}

    def on_result(result: CaseResult) -> None:
        store.record(run.id, result)
        counts["answered"] += 1
        counts["refused"] += result.status == "refused"
        bar.advance(1)

    started = time.perf_counter()
    unanswered: list[str] = []
    try:
        if endpoint.recorded:
            for case in todo:
                on_result(_result(case, graders, action=case.expected))
        else:
            unanswered = asyncio.run(
                _run_remote(todo, endpoint, sampling, limits, graders, on_result)
            )
    finally:
        bar.close()
        complete = len(done) + counts["answered"] == len(suite.cases)
        store.finish(run.id, complete=complete)
    if unanswered:
        raise EvalIncompleteError(run.id, len(unanswered), len(suite.cases), unanswered[-1])
    return RunSummary(
        run_id=run.id,
        resumed=resumed,
        total=len(suite.cases),
        already=len(done),
        answered=counts["answered"],
        refused=counts["refused"],
        elapsed_s=time.perf_counter() - started,
    )
