"""Is the ant expert's PPO run reproducible? Trains the default profile's expert for UPDATES
updates (2,048 env steps each; the open floor for the first 4) four ways and prints a hash of the
final weights: twice uninterrupted on one thread, once killed after update UPDATES // 2 and resumed
from that checkpoint, once on two threads (`threads: 2`). Equal hashes mean bit-identical runs.

    python bench/diagnostics/ant_expert_determinism.py [UPDATES]
"""
import hashlib, json, sys, tempfile, time
from dataclasses import replace
from pathlib import Path
from ant_expert_common import ENV, PROFILE
from irl.rl.ppo_ant import PPOAntConfig, train_ant_expert

updates = int(sys.argv[1]) if len(sys.argv) > 1 else 12
cfg = PPOAntConfig(**{**PROFILE["expert_ant"], "device": "cpu", "open_floor_steps": 2048 * 4, "checkpoint_every": 1,
                      "total_steps": 2048 * updates})


class Killed(Exception):
    pass


def run(threads: int, kill_at: int | None = None) -> str:
    """Train on `threads`; with `kill_at`, the process "dies" as update kill_at + 1 is logged (its
    checkpoint not yet written) and a second call resumes from update kill_at's checkpoint."""
    c, t = replace(cfg, threads=threads), time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="irl-ant-determinism-"))
    if kill_at is not None:
        def die(step: int, metrics: dict) -> None:
            if step > kill_at * c.batch_size:
                raise Killed
        try:
            train_ant_expert(ENV, c, workdir, log=die)
        except Killed:
            pass
    policy, _ = train_ant_expert(ENV, c, workdir)
    print(f"{threads} thread(s), kill at {kill_at}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return hashlib.sha256(b"".join(v.numpy().tobytes() for v in policy.state_dict().values())).hexdigest()[:16]


print(json.dumps({"updates": updates, "one_thread": run(1), "one_thread_again": run(1),
                  "resumed_at_half": run(1, updates // 2), "two_threads": run(2)}))
