"""Policy-service benchmark: prints one JSON object.

- act latency p50/p99 with 1 and with 64 concurrent sessions over HTTP (a real uvicorn server,
  `python -m serving`), and the same policy called in-process (`irl.agents.Agent.act`), so the HTTP
  overhead is a difference and the batching gain a ratio of throughputs;
- rollouts/s over HTTP and in-process;
- a load run: 64 clients, each owning a simulator (a grid env of its own), acting for `--load-s`
  seconds; errors counted, server RSS sampled every second.

    python bench/serve.py [--models models/grid] [--load-s 60] [--no-pin]

Client and server share this machine's cores. By default (≥ 2 CPUs) the server runs on a core of
its own (`python -m serving --cpus`) and the clients on the others, as a deployed service would
run apart from its clients; the in-process baseline runs on the server's core. `--no-pin` lets the
scheduler place both anywhere. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irl.agents.agent import Agent  # noqa: E402
from irl.agents.bundle import load_local  # noqa: E402
from irl.agents.trace import trace_episode  # noqa: E402
from irl.envs.grid import GridPinpadBatch  # noqa: E402
from irl.envs.tasks import resolve_tasks  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def in_process(store: Path, n_acts: int, pace_s: float = 0.001) -> dict:
    """The same clients as over HTTP — each owning a grid episode, resetting its slot when the
    episode ends — calling `Agent.act` directly: the baseline the HTTP figures are compared with."""
    bundle = load_local(store)
    out = {}
    for n in (1, 64):
        agent = Agent(bundle, capacity=n)
        envs = [GridPinpadBatch(bundle.env, resolve_tasks("pretrain"), 1, seed=s, any_task=True) for s in range(n)]
        fresh = [True] * n
        for env in envs:
            env.reset()
        lat = []
        for _ in range(n_acts):
            t0 = time.perf_counter()
            for s, env in enumerate(envs):
                if fresh[s]:
                    agent.reset(s, env.colors[0], env.walls[0], "internal-rl")
            outs = agent.act(list(range(n)), [int(env.pos[0]) for env in envs])
            lat.append(time.perf_counter() - t0)
            for s, (env, o) in enumerate(zip(envs, outs)):
                env.step(np.array([o.action]))
                fresh[s] = bool(env.done[0])
                if fresh[s]:
                    env.reset()
        out[f"sessions_{n}"] = {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "acts_per_s": n / statistics.mean(lat)}
        if n == 1:
            # The same acts with the CPU left idle `pace_s` between them, as a server is between one
            # client's requests: on this VM an idle core comes back slower (frequency, caches), which
            # a tight loop never sees.
            lat = []
            for _ in range(n_acts):
                time.sleep(pace_s)
                t0 = time.perf_counter()
                if fresh[0]:
                    agent.reset(0, envs[0].colors[0], envs[0].walls[0], "internal-rl")
                o = agent.act([0], [int(envs[0].pos[0])])[0]
                lat.append(time.perf_counter() - t0)
                envs[0].step(np.array([o.action]))
                fresh[0] = bool(envs[0].done[0])
                if fresh[0]:
                    envs[0].reset()
            out["sessions_1_paced"] = {"pace_ms": 1000 * pace_s, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 5:
        trace_episode(bundle, "post", seed=n)
        n += 1
    out["rollouts_per_s"] = n / (time.perf_counter() - t0)
    return out


async def http_round_trip(url: str, n: int = 300) -> dict:
    """Parse, validate and route an act without a model step (an unknown session → 404)."""
    conn, lat = Conn(url), []
    obs = {"agent": 12, "colors": list(range(8)), "walls": [20, 21, 22, 23]}
    for _ in range(n):
        t0 = time.perf_counter()
        await conn.request("POST", "/v1/sessions/none/act", {"observation": obs})
        lat.append(time.perf_counter() - t0)
    conn.close()
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def median_runs(runs: list[dict]) -> dict:
    """Field-wise median of nested dicts of numbers."""
    first = runs[0]
    return {k: median_runs([r[k] for r in runs]) if isinstance(v, dict) else float(statistics.median(r[k] for r in runs))
            for k, v in first.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(store: Path, cpus: set[int] | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "IRL_MODEL_SOURCE": "local", "IRL_MODELS_DIR": str(store), "IRL_MAX_SESSIONS": "256",
           "IRL_SESSION_TTL_S": "600"}
    log = open(Path(tempfile.gettempdir()) / f"irl-bench-serve-{port}.log", "wb")
    pin = ["--cpus", ",".join(map(str, sorted(cpus)))] if cpus else []
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port), "--log-level", "warning", *pin],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"server did not become ready; see {log.name}")


class HTTPError(Exception):
    pass


class Conn:
    """A minimal keep-alive HTTP/1.1 JSON client on asyncio streams. A load generator must cost
    less than the server it loads: httpx spends ~1-2 ms of CPU per request, which on two shared
    cores would measure the client, not the service."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, obj: dict | None = None) -> tuple[int, dict | None]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps(obj).encode() if obj is not None else b""
        self.writer.write(f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length) if length else b""
        return status, (json.loads(data) if data else None)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Client:
    """One simulator-owning client: its own grid episode, stepped with the actions the API returns."""

    def __init__(self, url: str, bundle_env, seed: int) -> None:
        self.conn, self.env = Conn(url), GridPinpadBatch(bundle_env, resolve_tasks("pretrain"), 1, seed=seed, any_task=True)
        self.sid: str | None = None
        self.new = True

    def observation(self) -> dict:
        return {"agent": int(self.env.pos[0]), "colors": self.env.colors[0].tolist(), "walls": self.env.walls[0].tolist()}

    async def open(self) -> None:
        status, body = await self.conn.request("POST", "/v1/sessions", {"policy": "internal-rl"})
        if status != 201:
            raise HTTPError(f"create session: {status} {body}")
        self.sid = body["id"]
        self.env.reset()

    async def act(self) -> float:
        t0 = time.perf_counter()
        status, body = await self.conn.request("POST", f"/v1/sessions/{self.sid}/act",
                                               {"observation": self.observation(), "reset": self.new})
        dt = time.perf_counter() - t0
        if status != 200:
            raise HTTPError(f"act: {status} {body}")
        self.new = False
        self.env.step(np.array([body["action"]]))
        if self.env.done[0]:
            self.env.reset()
            self.new = True
        return dt

    async def close(self) -> None:
        await self.conn.request("DELETE", f"/v1/sessions/{self.sid}")
        self.conn.close()


async def http_acts(url: str, bundle_env, n_clients: int, n_acts: int) -> dict:
    clients = [Client(url, bundle_env, seed) for seed in range(n_clients)]
    await asyncio.gather(*(c.open() for c in clients))
    for c in clients:  # warm-up
        await c.act()
    stats = Conn(url)
    before = (await stats.request("GET", "/v1/stats"))[1]
    lat: list[float] = []

    async def run(c: Client) -> None:
        for _ in range(n_acts):
            lat.append(await c.act())

    t0 = time.perf_counter()
    await asyncio.gather(*(run(c) for c in clients))
    wall = time.perf_counter() - t0
    after = (await stats.request("GET", "/v1/stats"))[1]
    run_batches = min(max(after["batches"] - before["batches"], 1), 1000)
    after["model_ms_p50_recent"] = (await stats.request("GET", f"/v1/stats?recent={run_batches}"))[1]["model_ms_p50_recent"]
    stats.close()
    await asyncio.gather(*(c.close() for c in clients))
    batches = after["batches"] - before["batches"]
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "acts_per_s": len(lat) / wall,
            "mean_server_batch": (after["batched_acts"] - before["batched_acts"]) / max(batches, 1),
            # the model's share of each batch inside the server, to split latency into model and HTTP
            "server_model_ms_per_batch": 1000 * (after["model_s"] - before["model_s"]) / max(batches, 1),
            "server_model_p50_ms": after["model_ms_p50_recent"]}


async def http_rollouts(url: str, seconds: float) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            (await http.post("/v1/rollouts", json={"task": "post", "seed": n})).raise_for_status()
            n += 1
        return n / (time.perf_counter() - t0)


async def load_run(url: str, bundle_env, n_clients: int, seconds: float, pid: int) -> dict:
    proc = psutil.Process(pid)
    rss: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss.append(proc.memory_info().rss / 2**20)
            stop.wait(1.0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors, acts = 0, 0
    clients = [Client(url, bundle_env, 1000 + seed) for seed in range(n_clients)]
    await asyncio.gather(*(c.open() for c in clients))
    deadline = time.perf_counter() + seconds

    async def run(c: Client) -> None:
        nonlocal errors, acts
        while time.perf_counter() < deadline:
            try:
                await c.act()
                acts += 1
            except (HTTPError, OSError, asyncio.IncompleteReadError):
                errors += 1
                c.new = True

    await asyncio.gather(*(run(c) for c in clients))
    await asyncio.gather(*(c.close() for c in clients))
    stop.set()
    sampler.join()
    half = len(rss) // 2
    return {"clients": n_clients, "seconds": seconds, "acts": acts, "errors": errors, "acts_per_s": acts / seconds,
            "rss_mb_start": rss[0], "rss_mb_peak": max(rss), "rss_mb_end": rss[-1],
            "rss_mb_first_half_max": max(rss[: max(half, 1)]), "rss_mb_second_half_max": max(rss[half:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=ROOT / "models" / "grid")
    parser.add_argument("--acts", type=int, default=300, help="acts per session in the latency runs")
    parser.add_argument("--load-s", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, in-process and in the server")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                        help="server (and the in-process baseline) on the last CPU, clients on the others "
                             "(default: when there are >= 2 CPUs)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    pin = len(cpus) >= 2 if args.pin is None else args.pin
    if pin and len(cpus) < 2:
        parser.error("--pin needs at least 2 CPUs")
    server_cpus, client_cpus = ({cpus[-1]}, set(cpus[:-1])) if pin else (None, set(cpus))
    torch.set_num_threads(args.threads)
    os.environ["IRL_TORCH_THREADS"] = str(args.threads)
    store = args.models.resolve()
    bundle_env = load_local(store).env
    result: dict = {"models": str(store), "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                    "pinned": {"server": sorted(server_cpus), "clients": sorted(client_cpus)} if pin else None}
    # Each figure is the median over `--repeats` interleaved runs: this 2-core VM's timings drift
    # by ±40% from one run to the next.
    result["repeats"] = args.repeats
    if server_cpus:
        os.sched_setaffinity(0, server_cpus)
    result["in_process"] = median_runs([in_process(store, args.acts) for _ in range(args.repeats)])
    os.sched_setaffinity(0, client_cpus)
    proc, url = start_server(store, server_cpus)
    try:
        runs = []
        for _ in range(args.repeats):
            runs.append({"round_trip_without_model": asyncio.run(http_round_trip(url)),
                         "sessions_1": asyncio.run(http_acts(url, bundle_env, 1, args.acts)),
                         "sessions_64": asyncio.run(http_acts(url, bundle_env, 64, max(args.acts // 10, 10)))})
        result["http"] = median_runs(runs)
        result["http"]["rollouts_per_s"] = asyncio.run(http_rollouts(url, 5.0))
        result["load"] = asyncio.run(load_run(url, bundle_env, 64, args.load_s, proc.pid))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    h, p = result["http"], result["in_process"]
    result["http_overhead_p50_ms_1_session"] = h["sessions_1"]["p50_ms"] - p["sessions_1"]["p50_ms"]
    # split: what the model step costs inside the server vs in a tight loop, and what is left for HTTP
    result["idle_penalty_p50_ms_in_process"] = p["sessions_1_paced"]["p50_ms"] - p["sessions_1"]["p50_ms"]
    result["http_overhead_p50_ms_1_session_vs_paced"] = h["sessions_1"]["p50_ms"] - p["sessions_1_paced"]["p50_ms"]
    result["http_minus_server_model_p50_ms_1_session"] = h["sessions_1"]["p50_ms"] - h["sessions_1"]["server_model_p50_ms"]
    result["batching_gain_http_64_vs_1"] = h["sessions_64"]["acts_per_s"] / h["sessions_1"]["acts_per_s"]
    result["batching_gain_in_process_64_vs_1"] = p["sessions_64"]["acts_per_s"] / p["sessions_1"]["acts_per_s"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
