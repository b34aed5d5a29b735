"""Sessions for clients that own the simulator, and the micro-batcher that serves their acts.

Every session holds one slot of a `Runtime` (a loaded bundle + an `Agent`). Acts are queued; one
batcher task takes everything queued, runs it as one forward pass per runtime in a worker thread,
and answers each request — while it runs, the next batch gathers. A reload makes a new runtime
for new sessions; existing sessions finish on the runtime they started on, which is dropped when
its last session ends. Idle sessions expire; the number of sessions is bounded.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from irl.agents.agent import Agent, StepOut
from irl.agents.bundle import ModelBundle


class SessionError(Exception):
    """A request the session cannot take; `status` is the HTTP status to answer with and `loc` the
    request field at fault (for 422s), e.g. ("observation", "colors")."""

    def __init__(self, status: int, message: str, loc: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status, self.loc = status, loc


@dataclass
class Runtime:
    bundle: ModelBundle
    agent: Agent
    generation: int
    source: str
    loaded_at: float = field(default_factory=time.time)
    free: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, bundle: ModelBundle, capacity: int, generation: int, source: str) -> Runtime:
        return cls(bundle, Agent(bundle, capacity, seed=generation), generation, source,
                   free=list(range(capacity - 1, -1, -1)))


@dataclass
class Session:
    id: str
    runtime: Runtime
    slot: int
    policy: str
    task: str | None
    greedy: bool
    last_used: float
    layout: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    busy: bool = False
    steer: tuple[list[float] | None, int | None] | None = None  # kept across episodes of the session


class SessionManager:
    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self.max_sessions, self.ttl_s = max_sessions, ttl_s
        self.sessions: dict[str, Session] = {}
        self.runtime: Runtime | None = None
        self._queue: list[tuple[Session, int, int | None, bool, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.batches = 0
        self.batched_acts = 0
        self.model_s = 0.0  # wall time spent in the model (Agent.act and slot resets), all batches
        self.recent_model_s: collections.deque[float] = collections.deque(maxlen=1000)  # per batch, newest last
        self.gather_s = 0.001  # the longest an act waits for company when other sessions are open

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._batcher()), asyncio.create_task(self._sweeper())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def swap(self, runtime: Runtime) -> None:
        """New sessions use `runtime` from now on (one assignment: atomic for the event loop)."""
        self.runtime = runtime

    # ------------------------------------------------------------------ sessions
    def create(self, policy: str, task: str | None, greedy: bool) -> Session:
        rt = self.runtime
        if rt is None:
            raise SessionError(503, "no models loaded")
        if policy == "gt-controllers" and rt.bundle.gt_controllers is None:
            raise SessionError(422, "'gt-controllers' needs ground-truth controllers, which are not loaded", ("policy",))
        if len(self.sessions) >= self.max_sessions or not rt.free:
            raise SessionError(429, f"session limit reached ({self.max_sessions}); end or let sessions expire")
        session = Session(secrets.token_urlsafe(12), rt, rt.free.pop(), policy, task, greedy, time.monotonic())
        self.sessions[session.id] = session
        return session

    def get(self, sid: str) -> Session:
        session = self.sessions.get(sid)
        if session is None:
            raise SessionError(404, f"session {sid!r} not found (ended or expired)")
        return session

    def end(self, sid: str) -> None:
        session = self.get(sid)
        if session.busy:
            raise SessionError(409, f"session {sid!r} has an act in flight")
        self._release(session)

    def _release(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        session.runtime.free.append(session.slot)

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.ttl_s / 4))
            now = time.monotonic()
            for s in [s for s in self.sessions.values() if not s.busy and now - s.last_used > self.ttl_s]:
                self._release(s)

    # ------------------------------------------------------------------ acting
    def _check_observation(self, session: Session, agent: int, colors: list[int], walls: list[int],
                           subgoal: int | None, reset: bool) -> bool:
        """Validate against the session's env; returns whether a new episode starts here."""
        env = session.runtime.bundle.env
        cells = env.size * env.size
        if len(colors) != env.n_colors:
            raise SessionError(422, f"expected {env.n_colors} cells, got {len(colors)}", ("observation", "colors"))
        if len(walls) != env.n_walls:
            raise SessionError(422, f"expected {env.n_walls} cells, got {len(walls)}", ("observation", "walls"))
        for name, values in (("colors", colors), ("walls", walls), ("agent", [agent])):
            bad = [v for v in values if not 0 <= v < cells]
            if bad:
                raise SessionError(422, f"cells {bad} outside 0..{cells - 1}", ("observation", name))
        if len(set(colors) | set(walls)) != len(colors) + len(walls):
            raise SessionError(422, "two objects share a cell", ("observation",))
        if agent in walls:
            raise SessionError(422, "the agent cannot stand on a wall", ("observation", "agent"))
        if session.policy == "gt-controllers" and subgoal is None:
            raise SessionError(422, "required for policy 'gt-controllers'", ("observation", "subgoal"))
        n_sub = session.runtime.bundle.n_subgoals
        if subgoal is not None and session.policy == "gt-controllers" and subgoal >= n_sub:
            raise SessionError(422, f"{subgoal} outside 0..{n_sub - 1}", ("observation", "subgoal"))
        layout = (tuple(colors), tuple(walls))
        if session.layout is None or reset:
            session.layout = layout
            return True
        if layout != session.layout:
            raise SessionError(409, "observation: the layout changed mid-episode; send reset=true to start a new one")
        if session.runtime.agent.steps_taken(session.slot) >= env.horizon:
            raise SessionError(409, f"episode reached the horizon ({env.horizon} steps); send reset=true")
        return False

    async def act(self, sid: str, agent: int, colors: list[int], walls: list[int], subgoal: int | None,
                  reset: bool) -> tuple[StepOut, int]:
        session = self.get(sid)
        if session.busy:
            raise SessionError(409, f"session {sid!r} already has an act in flight")
        new_episode = self._check_observation(session, agent, colors, walls, subgoal, reset)
        if len(self.sessions) == 1 and not self._queue:
            # A lone session has nobody to batch with: step it here rather than hand it to the
            # batcher task and back (two event-loop turns on every act).
            try:
                return self._run_batch([(session, agent, subgoal, new_episode, None)])[0]
            finally:
                session.last_used = time.monotonic()
        session.busy = True
        try:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self._queue.append((session, agent, subgoal, new_episode, fut))
            self._wake.set()
            out = await fut
        finally:
            session.busy = False
            session.last_used = time.monotonic()
        return out

    async def _batcher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if len(self._queue) < len(self.sessions):  # others may be about to act: gather briefly
                await asyncio.sleep(self.gather_s)
            batch, self._queue = self._queue, []
            if not batch:
                continue
            by_runtime: dict[int, list] = {}
            for item in batch:
                by_runtime.setdefault(id(item[0].runtime), []).append(item)
            for items in by_runtime.values():
                try:
                    results = self._run_batch(items)  # inline: a thread handoff costs more than a small forward
                except Exception as exc:  # noqa: BLE001 — every waiting request must be answered
                    for *_, fut in items:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (*_, fut), res in zip(items, results):
                    if not fut.done():
                        fut.set_result(res)

    def _run_batch(self, items: list) -> list[tuple[StepOut, int]]:
        """One forward pass for `items` (all on one runtime), counted in the stats."""
        t0 = time.perf_counter()
        results = self._run(items)
        dt = time.perf_counter() - t0
        self.model_s += dt
        self.recent_model_s.append(dt)
        self.batches += 1
        self.batched_acts += len(items)
        return results

    @staticmethod
    def _run(items: list) -> list[tuple[StepOut, int]]:
        rt: Runtime = items[0][0].runtime
        with rt.lock:
            for session, _, _, new_episode, _ in items:
                if new_episode:
                    colors, walls = session.layout
                    rt.agent.reset(session.slot, np.array(colors), np.array(walls), session.policy, session.greedy)
                    if session.steer is not None:
                        rt.agent.steer(session.slot, *session.steer)
            slots = [s.slot for s, *_ in items]
            steps = [rt.agent.steps_taken(s) for s in slots]
            outs = rt.agent.act(slots, [a for _, a, *_ in items], [g for _, _, g, *_ in items])
        return list(zip(outs, steps))

    async def steer(self, sid: str, z: list[float] | None, subgoal: int | None) -> str:
        """Hold code z (or a subgoal's) from the next step on, in this and later episodes of the
        session; neither clears it. Returns what the session is now steered by."""
        session = self.get(sid)
        rt = session.runtime

        def apply() -> None:
            with rt.lock:
                rt.agent.check_steer(session.policy, z, subgoal)
                if session.layout is not None:  # else the first act opens the slot and applies it
                    rt.agent.steer(session.slot, z, subgoal)

        try:
            await asyncio.to_thread(apply)
        except ValueError as exc:
            raise SessionError(422, str(exc), ("z",) if z is not None else ("subgoal",)) from None
        session.steer = None if z is None and subgoal is None else (z, subgoal)
        session.last_used = time.monotonic()
        return "none" if session.steer is None else ("z" if z is not None else f"subgoal {subgoal}")
