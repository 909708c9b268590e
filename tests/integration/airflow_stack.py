"""A real Airflow 3 deployment for integration tests: api-server, scheduler and dag-processor as subprocesses.

`start_airflow_stack(workdir)` creates a fresh PostgreSQL metadata database (`bt_airflow_<random>` on the local
server), an `AIRFLOW_HOME` under `workdir`, runs `airflow db migrate`, starts the three components with the
LocalExecutor (parallelism 2) and the api-server on a free loopback port, waits until the API is healthy and the
DAGs are registered, and unpauses them. `AirflowStack.client` speaks Airflow's public REST API (`/api/v2`) as an
operations team would: trigger a run with a conf, poll it, list task instances, read an XCom, answer a
human-in-the-loop task. `AirflowStack.stop()` ends the processes (each one's process group) and drops the
database. See docs/deployment-testing.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PG_ADMIN_URL = os.environ.get("BOOKTRANSFER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = "postgres@127.0.0.1:5432"
DAG_ID = "portfolio_transfer"
COMPONENTS = ("api-server", "scheduler", "dag-processor")
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
AWAITING_INPUT = "awaiting_input"
LOG_TAIL_LINES = 60

# How long the stack waits for itself; generous, because CI machines are slow and share two cores.
MIGRATE_TIMEOUT = 300.0
HEALTH_TIMEOUT = 120.0
DAG_REGISTERED_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0
PORT_ATTEMPTS = 3  # a free port can be taken by someone else before the api-server binds it


class AirflowStackError(RuntimeError):
    """The test deployment did not come up, a component died, or the REST API refused a request."""


class RunTimeout(AirflowStackError):
    """A DAG run or task instance did not reach the awaited state in time."""


@dataclass
class Component:
    """One Airflow component running as a subprocess in its own process group, logging to a file."""

    name: str
    process: subprocess.Popen
    log_file: Path

    def alive(self) -> bool:
        """Whether the component's main process still runs."""
        return self.process.poll() is None

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of the component's log, without the api-server's access log lines."""
        return tail_of(self.log_file, lines, skip="[http.access]")


def tail_of(path: Path, lines: int = LOG_TAIL_LINES, skip: str | None = None) -> str:
    """The last `lines` lines of a text file ('' when it does not exist), leaving out lines that contain `skip`."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    kept = [line for line in text.splitlines() if skip is None or skip not in line]
    return "\n".join(kept[-lines:])


def readable_task_log(text: str) -> str:
    """A task log (one JSON event per line) as `time level event` lines; an exception as its type, message and
    the frame that raised it."""
    out = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if not isinstance(event, dict):
            out.append(line)
            continue
        out.append(f"{event.get('timestamp', '')} {event.get('level', '')} {event.get('event', '')}")
        for error in event.get("error_detail") or []:
            frame = (error.get("frames") or [{}])[-1]
            out.append(f"    {error.get('exc_type')}: {error.get('exc_value')} "
                       f"(at {frame.get('filename')}:{frame.get('lineno')})")
    return "\n".join(out)


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, so no Airflow outlives a killed pytest."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class AirflowClient:
    """Airflow's public REST API (`/api/v2`) with a bearer token from the simple auth manager (all admins)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.watchdog: Callable[[], None] | None = None
        self.diagnose: Callable[[str, str], str] | None = None
        self.parked: Callable[[str, str, str, int], bool] | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def authorize(self) -> None:
        """Fetch a bearer token: `GET /auth/token` works without credentials when everyone is admin."""
        response = self.http.get("/auth/token")
        if response.status_code not in (200, 201):
            raise AirflowStackError(f"GET /auth/token answered {response.status_code}: {response.text[:500]}")
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call; a 401 fetches a new token once. Returns the decoded JSON body (None when empty)."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code == 401:
            self.authorize()
            response = self.http.request(method, path, **kwargs)
        if response.is_error:
            raise AirflowStackError(f"{method} {path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else None

    # -- DAGs ---------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """`GET /api/v2/monitor/health`: the status of the metadata DB, scheduler, dag-processor, triggerer."""
        return self.request("GET", "/api/v2/monitor/health")

    def dag(self, dag_id: str) -> dict[str, Any] | None:
        """The DAG as the API sees it, or None while the dag-processor has not registered it."""
        response = self.http.get(f"/api/v2/dags/{quote(dag_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code == 401:
            self.authorize()
            return self.dag(dag_id)
        if response.is_error:
            raise AirflowStackError(f"GET dag {dag_id} answered {response.status_code}: {response.text[:500]}")
        return response.json()

    def import_errors(self) -> list[dict[str, Any]]:
        """The DAG files the dag-processor could not import, with their stack traces."""
        return self.request("GET", "/api/v2/importErrors")["import_errors"]

    def dag_task_ids(self, dag_id: str) -> set[str]:
        """The ids of every task the DAG defines (mapped tasks once each)."""
        return {t["task_id"] for t in self.request("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/tasks")["tasks"]}

    def unpause(self, dag_id: str) -> None:
        """`PATCH /api/v2/dags/{dag_id}` with `is_paused: false`, so the scheduler starts its runs."""
        self.request("PATCH", f"/api/v2/dags/{quote(dag_id, safe='')}", json={"is_paused": False})

    # -- runs ---------------------------------------------------------------------------------------

    def _run_path(self, dag_id: str, run_id: str) -> str:
        """The URL path of one DAG run; run ids hold ':' and '+' and are encoded."""
        return f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"

    def trigger(self, dag_id: str, conf: dict[str, Any], run_id: str | None = None, note: str | None = None) -> str:
        """`POST /api/v2/dags/{dag_id}/dagRuns` with a conf (params not given keep their defaults); the run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return self.request("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", json=body)["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The DAG run (state, conf, dates)."""
        return self.request("GET", self._run_path(dag_id, run_id))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, one per map index for mapped tasks (all pages)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", f"{self._run_path(dag_id, run_id)}/taskInstances",
                                params={"limit": 100, "offset": len(found), "order_by": "map_index"})
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """The value a task instance pushed to XCom (a task's return value by default), JSON-decoded."""
        path = (f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}"
                f"/xcomEntries/{quote(key, safe='')}")
        return self.request("GET", path, params={"map_index": map_index})["value"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240.0, poll: float = 1.0,
                     answer: Callable[[dict[str, Any], dict[str, Any]], list[str] | None] | None = None,
                     ) -> dict[str, Any]:
        """Poll the run until it succeeds or fails; returns the run. Raises RunTimeout with the task states.

        With `answer`, every task instance found awaiting input is shown to `answer(task_instance, hitl_detail)`;
        the options it returns are sent as the response (None leaves the task waiting).
        """
        answered: set[tuple[str, int]] = set()
        deadline = time.monotonic() + timeout
        while True:
            self._check_watchdog()
            run = self.dag_run(dag_id, run_id)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if answer is not None:
                self._answer_waiting(dag_id, run_id, answer, answered)
            if time.monotonic() > deadline:
                raise RunTimeout(f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f} s\n"
                                 + self._diagnosis(dag_id, run_id))
            time.sleep(poll)

    def _diagnosis(self, dag_id: str, run_id: str) -> str:
        """The stack's description of a run (task states and log tails), or the task states alone."""
        if self.diagnose is not None:
            return self.diagnose(dag_id, run_id)
        return f"task states: {self.task_states(dag_id, run_id)}"

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """`task_id` (with `[map_index]` for mapped ones) -> state, for messages."""
        return {_ti_label(ti): ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def _check_watchdog(self) -> None:
        """Let the stack raise when one of its components has died (a dead scheduler never finishes a run)."""
        if self.watchdog is not None:
            self.watchdog()

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: Iterable[str], include_downstream: bool = True,
                    only_failed: bool = False) -> list[dict[str, Any]]:
        """Clear task instances of a run so the scheduler runs them again (as the UI's "Clear" does):
        `POST /api/v2/dags/{dag_id}/clearTaskInstances`; returns the task instances it cleared."""
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": list(task_ids),
                "include_downstream": include_downstream, "only_failed": only_failed, "reset_dag_runs": True}
        return self.request("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/clearTaskInstances",
                            json=body)["task_instances"]

    # -- connections --------------------------------------------------------------------------------

    def create_connection(self, conn_id: str, conn_type: str, **fields: Any) -> dict[str, Any]:
        """`POST /api/v2/connections` (host, port, schema, login, password, extra as a JSON string, ...)."""
        return self.request("POST", "/api/v2/connections", json={"connection_id": conn_id, "conn_type": conn_type,
                                                                 **fields})

    def delete_connection(self, conn_id: str) -> None:
        """`DELETE /api/v2/connections/{conn_id}`."""
        self.request("DELETE", f"/api/v2/connections/{quote(conn_id, safe='')}")

    # -- human in the loop --------------------------------------------------------------------------

    def waiting_for_input(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances that wait for a human (state `awaiting_input`) and can be answered now.

        With `parked` set (the stack sets it), a task counts only once the scheduler has seen the workload that
        parked it end: an answer before that races Airflow 3.3 (the parked workload's late executor event finds
        the resumed task running and fails it), which a human, answering seconds later at the earliest, never
        hits but a test does.
        """
        return [ti for ti in self.task_instances(dag_id, run_id) if ti["state"] == AWAITING_INPUT
                and (self.parked is None or self.parked(dag_id, run_id, ti["task_id"], ti["map_index"]))]

    def wait_for_input(self, dag_id: str, run_id: str, task_id: str | None = None, timeout: float = 240.0,
                       poll: float = 1.0) -> dict[str, Any]:
        """Poll until a task instance (of `task_id`, if given) awaits input; returns it. Raises RunTimeout, or
        AirflowStackError when the run ends first."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_watchdog()
            for ti in self.waiting_for_input(dag_id, run_id):
                if task_id is None or ti["task_id"] == task_id:
                    return ti
            state = self.dag_run(dag_id, run_id)["state"]
            if state in TERMINAL_RUN_STATES:
                raise AirflowStackError(f"run {run_id} ended {state} with no task awaiting input\n"
                                        + self._diagnosis(dag_id, run_id))
            if time.monotonic() > deadline:
                raise RunTimeout(f"no task of run {run_id} awaited input within {timeout:.0f} s\n"
                                 + self._diagnosis(dag_id, run_id))
            time.sleep(poll)

    def _hitl_path(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        """The URL path of a task instance's human-in-the-loop detail."""
        return f"{self._run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}/{map_index}/hitlDetails"

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """What the task asks: subject, body, options, defaults, params; and the response once given."""
        return self.request("GET", self._hitl_path(dag_id, run_id, task_id, map_index))

    def respond(self, dag_id: str, run_id: str, task_id: str, chosen_options: Iterable[str],
                params_input: dict[str, Any] | None = None, map_index: int = -1) -> dict[str, Any]:
        """Answer a task that awaits input: `PATCH .../taskInstances/{task}/{map_index}/hitlDetails`."""
        body = {"chosen_options": list(chosen_options), "params_input": params_input or {}}
        return self.request("PATCH", self._hitl_path(dag_id, run_id, task_id, map_index), json=body)

    def approve(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """Choose "Approve" on an ApprovalOperator task."""
        return self.respond(dag_id, run_id, task_id, ["Approve"], map_index=map_index)

    def reject(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        """Choose "Reject" on an ApprovalOperator task."""
        return self.respond(dag_id, run_id, task_id, ["Reject"], map_index=map_index)

    def _answer_waiting(self, dag_id: str, run_id: str,
                        answer: Callable[[dict[str, Any], dict[str, Any]], list[str] | None],
                        answered: set[tuple[str, int]]) -> None:
        """Show each not yet answered waiting task to `answer` and send what it chooses."""
        for ti in self.waiting_for_input(dag_id, run_id):
            key = (ti["task_id"], ti["map_index"])
            if key in answered:
                continue
            chosen = answer(ti, self.hitl_detail(dag_id, run_id, ti["task_id"], ti["map_index"]))
            if chosen is not None:
                self.respond(dag_id, run_id, ti["task_id"], chosen, map_index=ti["map_index"])
                answered.add(key)


def _ti_label(ti: dict[str, Any]) -> str:
    """`task_id`, or `task_id[3]` for a mapped task instance."""
    return ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"


@dataclass
class AirflowStack:
    """A running deployment: its home, environment, metadata database, components and REST client."""

    home: Path
    env: dict[str, str]
    db_name: str
    base_url: str
    client: AirflowClient
    triggerer: bool = False
    components: list[Component] = field(default_factory=list)
    stopped: bool = False

    @property
    def staging(self) -> Path:
        """`BOOKTRANSFER_STAGING` of the deployment's tasks."""
        return Path(self.env["BOOKTRANSFER_STAGING"])

    @property
    def reports(self) -> Path:
        """`BOOKTRANSFER_REPORTS` of the deployment's tasks."""
        return Path(self.env["BOOKTRANSFER_REPORTS"])

    @property
    def task_logs(self) -> Path:
        """Where the LocalExecutor's tasks write their logs."""
        return self.home / "logs"

    def check_alive(self) -> None:
        """Raise, with its log's last lines, when a component has exited."""
        for c in self.components:
            if not c.alive():
                raise AirflowStackError(f"airflow {c.name} exited with code {c.process.returncode}; "
                                        f"last lines of {c.log_file}:\n{c.tail()}")

    def parked(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> bool:
        """Whether the scheduler has processed the end of the workload that parked a task in `awaiting_input`
        (its "TaskInstance Finished: … state=awaiting_input" line)."""
        scheduler = next((c for c in self.components if c.name == "scheduler"), None)
        if scheduler is None:
            return True
        key = f"dag_id={dag_id}, task_id={task_id}, run_id={run_id}, map_index={map_index},"
        text = scheduler.log_file.read_text(encoding="utf-8", errors="replace")
        return any(key in line and ", state=awaiting_input," in line
                   for line in text.splitlines() if "TaskInstance Finished:" in line)

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of every component's log, for a failure message."""
        return "\n".join(f"----- airflow {c.name} ({'running' if c.alive() else f'exit {c.process.returncode}'}),"
                         f" {c.log_file} -----\n{c.tail(lines)}" for c in self.components)

    def task_log_tail(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1,
                      lines: int = LOG_TAIL_LINES) -> str:
        """The last lines of a task instance's latest attempt log, made readable ('' when it has none)."""
        folder = self.task_logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        attempts = sorted(folder.glob("attempt=*.log"), key=lambda p: int(p.stem.split("=")[1]))
        return readable_task_log(tail_of(attempts[-1], lines)) if attempts else ""

    def describe_run(self, dag_id: str, run_id: str, lines: int = 40) -> str:
        """A failure message: the run's state, every task instance's state, the log of each task instance that
        ran and did not succeed, and the scheduler's last lines."""
        parts = []
        try:
            parts.append(f"run {run_id} of {dag_id}: {self.client.dag_run(dag_id, run_id)['state']}")
            tis = self.client.task_instances(dag_id, run_id)
        except (httpx.HTTPError, AirflowStackError) as e:
            parts.append(f"run {run_id} of {dag_id}: the API did not answer ({e})")
            tis = []
        if tis:
            parts.append("task states: " + ", ".join(f"{_ti_label(ti)}={ti['state']}" for ti in tis))
        for ti in tis:
            log = "" if ti["state"] == "success" else self.task_log_tail(
                dag_id, run_id, ti["task_id"], ti["map_index"], lines)
            if log:
                parts.append(f"----- task {_ti_label(ti)} ({ti['state']}), last lines of its log -----\n{log}")
        parts.extend(f"----- airflow {c.name}, last lines -----\n{c.tail(lines // 2)}"
                     for c in self.components if c.name == "scheduler")
        return "\n".join(parts)

    def start_components(self, port: int) -> None:
        """Start api-server (on `port`), scheduler, dag-processor (and triggerer, if asked for); point the client
        at the api-server."""
        self.env.update(api_urls(port))
        self.base_url = f"http://127.0.0.1:{port}"
        self.client.close()
        self.client = AirflowClient(self.base_url)
        self.client.watchdog = self.check_alive
        self.client.diagnose = self.describe_run
        self.client.parked = self.parked
        self.components = [
            start_component("api-server", ["--host", "127.0.0.1", "--port", str(port)], self.env),
            start_component("scheduler", [], self.env),
            start_component("dag-processor", [], self.env),
        ]
        if self.triggerer:
            self.components.append(start_component("triggerer", [], self.env))

    def healthy(self) -> bool:
        """Whether the API answers and reports the metadata DB and every started component healthy."""
        try:
            health = self.client.health()
        except (httpx.HTTPError, AirflowStackError):
            return False
        parts = ["metadatabase", "scheduler", "dag_processor", *(["triggerer"] if self.triggerer else [])]
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    def stop_components(self) -> None:
        """Stop the components, the scheduler first so that no task starts while the API goes away."""
        for c in sorted(self.components, key=lambda c: c.name == "api-server"):
            _stop_component(c)

    def port_taken(self) -> bool:
        """Whether the api-server exited because another process took its port in the meantime."""
        api = [c for c in self.components if c.name == "api-server"]
        return bool(api) and not api[0].alive() and "address already in use" in api[0].tail(200).lower()

    def stop(self) -> None:
        """Stop the components and drop the metadata database."""
        if self.stopped:
            return
        self.stopped = True
        self.client.close()
        self.stop_components()
        drop_database(self.db_name)


def _stop_component(component: Component) -> None:
    """SIGTERM the component's process group (and any descendant that left it); SIGKILL what is left."""
    import psutil

    try:
        descendants = psutil.Process(component.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError):
        os.killpg(component.process.pid, signal.SIGTERM)
    try:
        component.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.process.pid, signal.SIGKILL)
        component.process.wait(timeout=STOP_TIMEOUT)
    _, alive = psutil.wait_procs(descendants, timeout=5)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(component.process.pid, signal.SIGKILL)  # stragglers still in the group


def create_database() -> str:
    """Create a fresh, empty metadata database `bt_airflow_<random>` on the local server; return its name."""
    import psycopg

    name = f"bt_airflow_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    """Drop a metadata database created by `create_database` (closing any connection left to it)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def api_urls(port: int) -> dict[str, str]:
    """The settings that point the components at the api-server on `port`."""
    api = f"http://127.0.0.1:{port}"
    return {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/", "AIRFLOW__API__BASE_URL": api}


def airflow_environment(home: Path, db_name: str, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every component gets: no AIRFLOW*/BOOKTRANSFER* setting leaks in from the caller.

    The api-server's URLs are added when the components start (`api_urls`)."""
    from cryptography.fernet import Fernet

    from booktransfer.protect.keyring import write_keyring
    from booktransfer.reconcile.signing import create_signing_key

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BOOKTRANSFER"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{PG_SERVER}/{db_name}",
        # Airflow would derive postgresql+asyncpg for its async engine; asyncpg is not installed, psycopg 3 is.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg_async://{PG_SERVER}/{db_name}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # Parse the DAG folder at once and again every 10 s, not every 30 s / 5 min.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "NO_COLOR": "1",
        # Tasks import booktransfer from this checkout, whatever the venv's install points at.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "plugins"), os.environ.get("PYTHONPATH")])),
        "BOOKTRANSFER_HOME": str(ROOT),
        "BOOKTRANSFER_STAGING": str(home / "staging"),
        "BOOKTRANSFER_REPORTS": str(home / "reports"),
        "BOOKTRANSFER_KEYRING": str(write_keyring(home / "keys" / "keyring.json")),
        "BOOKTRANSFER_SIGNING_KEY_FILE": str(create_signing_key(home / "keys" / "report-signing.pem")),
        "BOOKTRANSFER_DROP_POKE_SECONDS": "2",
    })
    env.update(extra_env or {})
    return env


def migrate(env: dict[str, str]) -> None:
    """`airflow db migrate` on the fresh metadata database."""
    log_file = Path(env["AIRFLOW_HOME"]) / "migrate.log"
    with log_file.open("wb") as log:
        done = subprocess.run([AIRFLOW, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=MIGRATE_TIMEOUT, check=False)
    if done.returncode != 0:
        raise AirflowStackError(f"airflow db migrate failed ({done.returncode}):\n{tail_of(log_file)}")


def start_component(name: str, args: list[str], env: dict[str, str]) -> Component:
    """Start `airflow <name> <args>` in a process group of its own, its output in `$AIRFLOW_HOME/<name>.log`."""
    log_file = Path(env["AIRFLOW_HOME"]) / f"{name}.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([AIRFLOW, name, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    return Component(name, process, log_file)


def _wait(stack: AirflowStack, what: str, ready: Callable[[], bool], timeout: float) -> None:
    """Poll `ready` every half second; raise with the components' log tails on timeout or a dead component."""
    deadline = time.monotonic() + timeout
    while not ready():
        stack.check_alive()
        if time.monotonic() > deadline:
            raise AirflowStackError(f"{what}: not after {timeout:.0f} s\n{stack.log_tails()}")
        time.sleep(0.5)


def _registered(client: AirflowClient, dag_id: str) -> bool:
    """Whether the DAG is registered; raises at once when its file failed to import."""
    if client.dag(dag_id) is not None:
        return True
    broken = [e for e in client.import_errors() if Path(e["filename"]).stem == dag_id]
    if broken:
        raise AirflowStackError(f"DAG file of {dag_id} failed to import:\n{broken[0]['stack_trace']}")
    return False


def start_airflow_stack(workdir: Path, dag_ids: Iterable[str] = (DAG_ID,),
                        extra_env: dict[str, str] | None = None, triggerer: bool = False) -> AirflowStack:
    """Bring up the deployment under `workdir`, wait until `dag_ids` are registered, unpause them.

    `extra_env` adds to (or overrides) the components' environment, e.g. `AIRFLOW_CONN_*` connections or
    notifier settings. `triggerer` also starts `airflow triggerer`, which deferrable operators need (human-in-
    the-loop tasks do not, on Airflow 3.3). On any failure the half-started stack is stopped and its database
    dropped.
    """
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    db_name = create_database()
    stack = AirflowStack(home, {}, db_name, "", AirflowClient("http://127.0.0.1"), triggerer=triggerer)
    try:
        stack.env = airflow_environment(home, db_name, extra_env)
        migrate(stack.env)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            stack.start_components(free_port())
            try:
                _wait(stack, "API server healthy", stack.healthy, HEALTH_TIMEOUT)
                break
            except AirflowStackError:
                if attempt == PORT_ATTEMPTS or not stack.port_taken():
                    raise
                stack.stop_components()
        stack.client.authorize()
        for dag_id in dag_ids:
            _wait(stack, f"DAG {dag_id} registered", lambda d=dag_id: _registered(stack.client, d),
                  DAG_REGISTERED_TIMEOUT)
            stack.client.unpause(dag_id)
    except BaseException:
        stack.stop()
        raise
    return stack
