"""Sessions for clients that own an ant simulator: each holds one `AntActor` (the Hawk's recurrent
state, switch history, code and π's state of its episode), expires after idle time and is bounded
in number. Ants are stepped one session at a time (no cross-session batching: the Hawk's step is
cheap next to a MuJoCo client's own step)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from irl.agents.ant import AntActor, AntBundle, AntStep
from serving.sessions import SessionError


@dataclass
class AntSession:
    id: str
    actor: AntActor
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class AntSessions:
    def __init__(self, max_sessions: int, ttl_s: float) -> None:
        self.max_sessions, self.ttl_s = max_sessions, ttl_s
        self.sessions: dict[str, AntSession] = {}
        self.lock = threading.Lock()

    def _purge(self, now: float) -> None:
        for sid in [s.id for s in self.sessions.values() if now - s.last_used > self.ttl_s]:
            del self.sessions[sid]

    def create(self, bundle: AntBundle, policy: str, greedy: bool, seed: int) -> AntSession:
        actor = AntActor(bundle, policy, greedy, seed)
        now = time.monotonic()
        with self.lock:
            self._purge(now)
            if len(self.sessions) >= self.max_sessions:
                raise SessionError(429, f"ant session limit reached ({self.max_sessions}); end one or wait for expiry")
            s = AntSession(secrets.token_urlsafe(12), actor, now)
            self.sessions[s.id] = s
        return s

    def get(self, sid: str) -> AntSession:
        now = time.monotonic()
        with self.lock:
            self._purge(now)
            s = self.sessions.get(sid)
            if s is None:
                raise SessionError(404, f"no ant session {sid!r} (ended or expired after {self.ttl_s:.0f} s idle)")
            s.last_used = now
            return s

    def act(self, sid: str, observation: list[float], reset: bool) -> tuple[AntStep, int]:
        s = self.get(sid)
        if not s.lock.acquire(blocking=False):
            raise SessionError(409, "this ant session is already acting; send one act at a time")
        try:
            if reset:
                s.actor.reset()
            horizon = s.actor.bundle.env.horizon
            if s.actor.steps >= horizon:
                raise SessionError(409, f"the episode reached the horizon ({horizon} steps); act with reset=true")
            try:
                out = s.actor.act(np.asarray(observation, dtype=np.float32))
            except ValueError as exc:
                raise SessionError(422, str(exc), ("observation",)) from None
            return out, s.actor.steps - 1
        finally:
            s.lock.release()

    def end(self, sid: str) -> None:
        with self.lock:
            if self.sessions.pop(sid, None) is None:
                raise SessionError(404, f"no ant session {sid!r}")
