"""Request and response bodies of the policy API (pydantic; they are the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Policy = Literal["internal-rl", "base", "gt-controllers"]
Env = Literal["grid"]
ACTION_NAMES = ("up", "right", "down", "left")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ErrorOut(BaseModel):
    detail: str


class ReadyOut(BaseModel):
    ready: bool
    error: str | None
    generation: int


class ModelInfoOut(BaseModel):
    role: str
    name: str
    source: str
    location: str
    version: str | None
    alias: str | None
    run_id: str | None
    note: str | None = None


class ModelsOut(BaseModel):
    generation: int = Field(description="increments at every successful reload")
    source: str
    loaded_at: float
    env: dict[str, int | str] = Field(description="the grid's geometry: size, n_colors, n_walls, horizon, layouts")
    policies: list[str]
    n_subgoals: int
    models: list[ModelInfoOut]
    ant_models: list[ModelInfoOut] = Field([], description="the ant's models, when they are loaded")
    ant_error: str | None = Field(None, description="why the ant is not served, when it is not")


class ReloadIn(Strict):
    source: Literal["auto", "local", "registry"] | None = Field(None, description="default: the server's setting")
    alias: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="registry alias, e.g. champion")


class RolloutIn(Strict):
    env: Env = "grid"
    task: str = Field("post", max_length=200, description="'post', 'pretrain' or colors like '0-1-2-3'")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="draws the layout and the sampled actions")
    policy: Policy = "internal-rl"
    max_steps: int | None = Field(None, ge=1, description="cut the episode short (at most the horizon)")
    greedy: bool = Field(False, description="most likely action (and π's mean code) instead of sampling")
    frames: Literal["none", "png", "gif"] = "none"


class RolloutOut(BaseModel):
    env: str
    size: int
    colors: list[int] = Field(description="cell of each color; cell = row * size + col")
    walls: list[int]
    task: list[int]
    policy: str
    positions: list[int]
    actions: list[int]
    beta: list[float | None]
    z: list[list[float] | None]
    subgoal: list[int]
    switches: list[int]
    reward: float
    success: bool
    progress: int
    steps: int
    truncated: bool
    frames_png: list[str] | None = Field(None, description="base64 PNG per step (frames=png)")
    gif: str | None = Field(None, description="base64 GIF (frames=gif)")
    generation: int


class SessionIn(Strict):
    env: Env = "grid"
    task: str | None = Field(None, max_length=200, description="informational: the task the client's simulator runs")
    policy: Policy = "internal-rl"
    greedy: bool = False


class SessionOut(BaseModel):
    id: str
    env: str
    task: str | None
    policy: str
    horizon: int
    ttl_s: int
    generation: int


class Observation(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"agent": 12, "colors": [0, 1, 2, 3, 4, 5, 6, 7], "walls": [20, 21, 22, 23]}]})

    agent: int = Field(ge=0, le=4095, description="cell the agent stands on (row * size + col)")
    colors: list[int] = Field(min_length=1, max_length=64, description="cell of color 0, 1, …")
    walls: list[int] = Field(max_length=64, description="cells of the walls")
    subgoal: int | None = Field(None, ge=0, le=63, description="gt-controllers only: the subgoal to pursue")


class ActIn(Strict):
    observation: Observation
    reset: bool = Field(False, description="start a new episode in this session on this observation's layout")


class ActOut(BaseModel):
    action: int
    action_name: str
    beta: float | None
    switched: bool
    z: list[float] | None
    subgoal: int | None
    step: int = Field(description="index of this step in the session's episode")


class SteerIn(Strict):
    z: list[float] | None = Field(None, max_length=64, description="the code to hold from now on")
    subgoal: int | None = Field(None, ge=0, le=63, description="a subgoal's discovered code (or gt controller)")


class SteerOut(BaseModel):
    id: str
    steering: str


class AntRolloutIn(Strict):
    task: str = Field("post", max_length=200, description="'post' (0-1-2-3), 'pretrain' or colors like '0-2-1'")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="draws the layout, start, yaw and the sampled torques")
    policy: Literal["internal-rl", "base"] = "internal-rl"
    max_steps: int | None = Field(None, ge=1, description="cut the episode short (at most the horizon)")
    greedy: bool = Field(False, description="mean torques (and π's mean code) instead of sampling")
    frames: Literal["none", "png", "gif"] = "none"


class AntRolloutOut(BaseModel):
    env: str = "ant"
    size: int
    cell_size: float
    colors: list[int] = Field(description="cell of each color; cell = row * size + col, row 0 at +y")
    walls: list[int]
    task: list[int]
    policy: str
    xy: list[list[float]] = Field(description="torso (x, y) in metres before each step and after the last")
    torques: list[list[float]]
    beta: list[float | None]
    z: list[list[float] | None]
    target: list[int]
    switches: list[int]
    reward: float
    success: bool
    progress: int
    steps: int
    outcome: str | None
    truncated: bool
    frames_png: list[str] | None = Field(None, description="base64 PNG per step (frames=png), overhead camera")
    gif: str | None = Field(None, description="base64 GIF (frames=gif)")
    generation: int


class AntSessionIn(Strict):
    policy: Literal["internal-rl", "base"] = "internal-rl"
    greedy: bool = Field(False, description="mean torques (and π's mean code) instead of sampling")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the session's sampled torques and codes")


class AntSessionOut(BaseModel):
    id: str
    policy: str
    obs_dim: int = Field(description="length of the observation each act must send (AntPinpad-v0's)")
    horizon: int
    ttl_s: int
    generation: int


class AntActIn(Strict):
    observation: list[float] = Field(min_length=1, max_length=256, description="AntPinpad-v0's observation vector")
    reset: bool = Field(False, description="start a new episode in this session with this observation")


class AntActOut(BaseModel):
    torques: list[float] = Field(description="the 8 joint torques, in [-1, 1]")
    beta: float | None
    switched: bool
    z: list[float] | None
    step: int = Field(description="index of this step in the session's episode")
