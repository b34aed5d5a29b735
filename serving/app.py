"""The policy service: FastAPI over `irl.agents` (rollouts, stepwise sessions, steering, a viewer).

Start: `make serve` (uvicorn). Models load at start-up from the MLflow registry by alias, or from
the local store (the DVC outs) when no registry is set (`serving.settings`).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hmac
import statistics
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, Security
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import APIKeyHeader
from starlette.datastructures import State

from irl.agents import render
from irl.agents.ant import AntBundle, encode_frames, load_ant_local, load_ant_registry, trace_ant_episode
from irl.agents.bundle import ModelBundle, load_local, load_registry
from irl.agents.trace import describe_task, trace_episode
from serving.limits import BodyLimit
from serving.ant_sessions import AntSessions
from serving.schemas import (ACTION_NAMES, ActIn, ActOut, AntActIn, AntActOut, AntRolloutIn, AntRolloutOut, AntSessionIn,
                             AntSessionOut, ErrorOut, ModelsOut, ReadyOut, ReloadIn, RolloutIn, RolloutOut, SessionIn,
                             SessionOut, SteerIn, SteerOut)
from serving.sessions import Runtime, SessionError, SessionManager
from serving.settings import Settings

STATIC = Path(__file__).with_name("static")
ERROR = {"model": ErrorOut}


def field_error(loc: tuple[str, ...] | list[str], msg: str) -> list[dict]:
    """FastAPI's 422 body shape (so every 422 matches one schema), naming the field at fault."""
    return [{"type": "value_error", "loc": ["body", *loc], "msg": msg}]


def invalid(loc: tuple[str, ...], msg: str) -> HTTPException:
    return HTTPException(422, field_error(loc, msg))
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="needed when IRL_API_KEY is set")


def load_bundle(settings: Settings, source: str | None = None, alias: str | None = None) -> tuple[ModelBundle, str]:
    source = source or settings.source
    if source == "auto":
        source = settings.resolved_source()
    if source == "registry":
        return load_registry(alias or settings.alias, settings.device), "registry"
    return load_local(settings.models_dir, settings.device), "local"


def load_ant(settings: Settings, source: str | None = None, alias: str | None = None) -> tuple[AntBundle | None, str | None]:
    """The ant's bundle, optional: (None, why) when it is not there or does not load."""
    source = source or settings.source
    if source == "auto":
        source = settings.resolved_source()
    try:
        if source == "registry":
            return load_ant_registry(alias or settings.alias, settings.device), None
        return load_ant_local(settings.ant_models_dir, settings.device), None
    except (OSError, LookupError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {exc}"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        manager = SessionManager(settings.max_sessions, settings.session_ttl_s)
        app.state.manager, app.state.load_error, app.state.generation = manager, None, 0
        app.state.reload_lock = asyncio.Lock()
        manager.start()
        try:
            bundle, source = await asyncio.to_thread(load_bundle, settings)
            app.state.generation = 1
            manager.swap(Runtime.create(bundle, settings.max_sessions, 1, source))
        except (OSError, LookupError, ValueError) as exc:  # not ready; /readyz says why, reload may fix it
            app.state.load_error = f"{type(exc).__name__}: {exc}"
        app.state.ant, app.state.ant_error = await asyncio.to_thread(load_ant, settings)
        app.state.ant_sessions = AntSessions(settings.max_sessions, settings.session_ttl_s)
        gc.freeze()  # start-up objects (models, libraries) leave the collector's scans: steadier latency
        yield
        await manager.stop()

    app = FastAPI(title="internal-rl policy service", version="1",
                  description="Rollouts, stepwise acting and steering of internal-RL controllers "
                              "(Kobayashi et al. 2025) over a frozen pinpad base model.",
                  lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(SessionError)
    async def session_error(_: Request, exc: SessionError) -> JSONResponse:
        if exc.status == 422:
            return JSONResponse({"detail": field_error(exc.loc, str(exc))}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    def runtime(request: Request) -> Runtime:
        rt = request.app.state.manager.runtime
        if rt is None:
            raise HTTPException(503, f"models not loaded: {request.app.state.load_error}")
        return rt

    # async: FastAPI runs a plain-def dependency in its thread pool, a thread hop on every /v1 call
    async def check_key(key: str | None = Security(api_key_header)) -> None:
        if settings.api_key is not None and not (key and hmac.compare_digest(key, settings.api_key)):
            raise HTTPException(401, "missing or wrong X-API-Key")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"description": "models not loaded", "model": ReadyOut}},
             response_model=ReadyOut)
    def readyz(request: Request) -> JSONResponse:
        if request.app.state.manager.runtime is None:
            return JSONResponse({"ready": False, "error": request.app.state.load_error, "generation": 0}, status_code=503)
        return JSONResponse({"ready": True, "error": None, "generation": request.app.state.generation})

    @app.get("/", include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(check_key)],
                   responses={401: {"description": "API key required", **ERROR},
                              413: {"description": "request body too large", **ERROR},
                              503: {"description": "models not loaded", **ERROR}})

    def models_out(rt: Runtime, state: State) -> ModelsOut:
        b = rt.bundle
        ant: AntBundle | None = state.ant
        return ModelsOut(generation=rt.generation, source=rt.source, loaded_at=rt.loaded_at, env=b.env.to_dict(),
                         policies=["internal-rl", "base"] + (["gt-controllers"] if b.gt_controllers is not None else []),
                         n_subgoals=b.n_subgoals, models=[i.to_dict() for i in b.info],
                         ant_models=[i.to_dict() for i in ant.info] if ant is not None else [], ant_error=state.ant_error)

    @v1.get("/models", response_model=ModelsOut, tags=["models"], operation_id="list_models")
    def models(request: Request) -> ModelsOut:
        return models_out(runtime(request), request.app.state)

    @v1.post("/models/reload", response_model=ModelsOut, tags=["models"], operation_id="reload_models")
    async def reload(body: ReloadIn, request: Request) -> ModelsOut:
        state = request.app.state
        async with state.reload_lock:
            try:
                bundle, source = await asyncio.to_thread(load_bundle, settings, body.source, body.alias)
            except (OSError, LookupError, ValueError) as exc:
                raise invalid(("alias",) if isinstance(exc, LookupError) else ("source",),
                              f"reload failed, current models kept: {type(exc).__name__}: {exc}") from None
            state.generation += 1
            rt = Runtime.create(bundle, settings.max_sessions, state.generation, source)
            state.manager.swap(rt)
            state.load_error = None
            state.ant, state.ant_error = await asyncio.to_thread(load_ant, settings, body.source, body.alias)
        return models_out(rt, state)

    @v1.post("/rollouts", response_model=RolloutOut, tags=["rollouts"], operation_id="rollout")
    def rollouts(body: RolloutIn, request: Request) -> RolloutOut:
        rt = runtime(request)
        if body.max_steps is not None and body.max_steps > settings.max_rollout_steps:
            raise invalid(("max_steps",), f"at most {settings.max_rollout_steps}")
        if body.policy == "gt-controllers" and rt.bundle.gt_controllers is None:
            raise invalid(("policy",), "'gt-controllers' needs ground-truth controllers, which are not loaded")
        try:
            describe_task(body.task, rt.bundle.env.n_colors)
        except ValueError as exc:
            raise invalid(("task",), str(exc)) from None
        try:
            traj = trace_episode(rt.bundle, body.task, body.seed, body.policy, body.max_steps, body.greedy)
        except RuntimeError as exc:  # no solvable layout for this task on this grid
            raise invalid(("task",), str(exc)) from None
        out = RolloutOut(env=body.env, generation=rt.generation, **traj.to_dict())
        if body.frames == "png":
            out.frames_png = [base64.b64encode(f).decode() for f in render.png_frames(traj)]
        elif body.frames == "gif":
            out.gif = base64.b64encode(render.gif(traj)).decode()
        return out

    @v1.post("/ant/rollouts", response_model=AntRolloutOut, tags=["rollouts"], operation_id="ant_rollout")
    def ant_rollouts(body: AntRolloutIn, request: Request) -> AntRolloutOut:
        """One ant episode: the torso's xy trace, torques, codes, β and switches; optional MuJoCo frames."""
        ant = ant_bundle(request)
        if body.max_steps is not None and body.max_steps > settings.max_rollout_steps:
            raise invalid(("max_steps",), f"at most {settings.max_rollout_steps}")
        try:
            traj, images = trace_ant_episode(ant, body.task, body.seed, body.policy, body.max_steps, body.greedy,
                                             frames=body.frames != "none")
        except ValueError as exc:  # a task spec the ant's task table does not hold
            raise invalid(("task",), str(exc)) from None
        out = AntRolloutOut(generation=request.app.state.generation, **traj.to_dict())
        if body.frames == "png":
            out.frames_png = [base64.b64encode(f).decode() for f in encode_frames(images, "png")]
        elif body.frames == "gif":
            out.gif = base64.b64encode(encode_frames(images, "gif")).decode()
        return out

    def ant_bundle(request: Request) -> AntBundle:
        ant: AntBundle | None = request.app.state.ant
        if ant is None:
            raise HTTPException(503, f"ant models not loaded: {request.app.state.ant_error}")
        return ant

    ant_links = {name: {"operationId": op, "parameters": {"sid": "$response.body#/id"}}
                 for name, op in (("act", "ant_act"), ("end", "end_ant_session"))}

    @v1.post("/ant/sessions", response_model=AntSessionOut, status_code=201, tags=["sessions"],
             operation_id="create_ant_session",
             responses={201: {"links": ant_links}, 429: {"description": "session limit reached", **ERROR}})
    def create_ant_session(body: AntSessionIn, request: Request) -> AntSessionOut:
        """A session for a client that steps its own ant simulator: send each observation, get torques."""
        ant = ant_bundle(request)
        s = request.app.state.ant_sessions.create(ant, body.policy, body.greedy, body.seed)
        return AntSessionOut(id=s.id, policy=body.policy, obs_dim=ant.base.cfg.obs_dim, horizon=ant.env.horizon,
                             ttl_s=settings.session_ttl_s, generation=request.app.state.generation)

    @v1.post("/ant/sessions/{sid}/act", response_model=AntActOut, tags=["sessions"], operation_id="ant_act",
             responses={404: {"description": "no such session", **ERROR},
                        409: {"description": "conflicts with the session's state", **ERROR}})
    def ant_act(sid: str, body: AntActIn, request: Request) -> AntActOut:
        out, step = request.app.state.ant_sessions.act(sid, body.observation, body.reset)
        return AntActOut(torques=[float(x) for x in out.torques], beta=out.beta, switched=out.switched, z=out.z, step=step)

    @v1.delete("/ant/sessions/{sid}", status_code=204, tags=["sessions"], operation_id="end_ant_session",
               responses={404: {"description": "no such session", **ERROR}})
    def end_ant_session(sid: str, request: Request) -> None:
        request.app.state.ant_sessions.end(sid)

    links = {name: {"operationId": op, "parameters": {"sid": "$response.body#/id"}}
             for name, op in (("act", "act"), ("steer", "steer"), ("end", "end_session"))}

    @v1.post("/sessions", response_model=SessionOut, status_code=201, tags=["sessions"], operation_id="create_session",
             responses={201: {"links": links}, 429: {"description": "session limit reached", **ERROR}})
    def create_session(body: SessionIn, request: Request) -> SessionOut:
        runtime(request)
        s = request.app.state.manager.create(body.policy, body.task, body.greedy)
        return SessionOut(id=s.id, env=body.env, task=body.task, policy=s.policy, horizon=s.runtime.bundle.env.horizon,
                          ttl_s=settings.session_ttl_s, generation=s.runtime.generation)

    session_errors = {404: {"description": "no such session", **ERROR},
                      409: {"description": "conflicts with the session's state", **ERROR}}

    @v1.post("/sessions/{sid}/act", response_model=ActOut, tags=["sessions"], responses=session_errors, operation_id="act")
    async def act(sid: str, body: ActIn, request: Request) -> Response:
        o = body.observation
        out, step = await request.app.state.manager.act(sid, o.agent, o.colors, o.walls, o.subgoal, body.reset)
        # Serialised here, once: returning the model would validate and encode it a second time
        # against response_model (still declared, for the OpenAPI schema) on the hot path.
        return Response(ActOut(action=out.action, action_name=ACTION_NAMES[out.action], beta=out.beta,
                               switched=out.switched, z=out.z, subgoal=out.subgoal, step=step).model_dump_json(),
                        media_type="application/json")

    @v1.post("/sessions/{sid}/steer", response_model=SteerOut, tags=["sessions"], responses=session_errors,
             operation_id="steer")
    async def steer(sid: str, body: SteerIn, request: Request) -> SteerOut:
        what = await request.app.state.manager.steer(sid, body.z, body.subgoal)
        return SteerOut(id=sid, steering=what)

    @v1.delete("/sessions/{sid}", status_code=204, tags=["sessions"], responses=session_errors,
               operation_id="end_session")
    def end_session(sid: str, request: Request) -> None:
        request.app.state.manager.end(sid)

    @v1.get("/stats", tags=["models"], operation_id="stats")
    def stats(request: Request, recent: int = Query(
            100, ge=1, le=1000, description="how many of the newest forward passes `model_ms_p50_recent` covers")) -> dict[str, float]:
        m = request.app.state.manager
        newest = list(m.recent_model_s)[-recent:]
        return {"sessions": len(m.sessions), "batches": m.batches, "batched_acts": m.batched_acts,
                "mean_batch": m.batched_acts / max(m.batches, 1), "model_s": m.model_s,
                "model_ms_p50_recent": 1000 * statistics.median(newest) if newest else 0.0,
                "uptime_s": time.time() - (m.runtime.loaded_at if m.runtime else time.time())}

    app.include_router(v1)
    return app
