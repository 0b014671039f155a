# Copyright 2026 pi_vla_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Language-conditioned tabletop tasks, configured by the ``task:`` section of a profile YAML.

``pick_place``: a few coloured cubes and one bowl; the instruction names one cube ("put the red cube in
the bowl", "move the blue block to the green bowl", ...), which must end up resting in the bowl, released,
without the other cubes being disturbed. Kept deliberately clean so a small policy can learn it from a
few hundred demos: the bowl is fixed, each cube has its own nominal spot jittered by a few cm (and a little
yaw), so which cube (and for two arms, which arm) to use depends on the language.

``pick_place_sequence`` (a multi-step task on the same scene): every cube into the bowl, one after the other,
in the order the instruction names them ("put the red cube in the bowl, then put the blue cube in the bowl").
Its subtasks are the instruction's parts, one per cube, each a full single-step sentence, joined by separators
that :func:`pi_vla_ros.core.instructions.split_subtasks` splits on, so a typed or spoken task becomes the same
subtask queue.

Every task has the same interface: ``subtasks`` (the instruction's steps; one for ``pick_place``), ``current``
(index of the first subtask not yet done), ``subtask_done_at`` (simulated time at which each was detected done,
None while not), ``success()``, ``wrong_object_moved()``, and ``update(t)``, which the simulator calls after every
step so that per-subtask progress is judged as it happens (order matters; poses alone at the end cannot tell).

The task owns its objects' MuJoCo bodies (added to the scene's spec before compiling) and judges success
from object poses only. Which objects are held comes from the simulator's grasp mechanism (see
``scene.Grasp``) through the ``held`` callable given to :meth:`PickPlaceTask.bind`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import mujoco
import numpy as np

COLORS = {
    "red": (0.85, 0.12, 0.1, 1.0), "blue": (0.12, 0.3, 0.9, 1.0), "green": (0.15, 0.65, 0.25, 1.0),
    "yellow": (0.95, 0.8, 0.1, 1.0), "white": (0.92, 0.92, 0.9, 1.0),
}
# {obj} is e.g. "red cube" / "red block", {target} "bowl" / "green bowl".
PHRASINGS = (
    "put the {obj} in the {target}",
    "move the {obj} to the {target}",
    "place the {obj} into the {target}",
    "pick up the {obj} and put it in the {target}",
    "drop the {obj} in the {target}",
)
OBJECT_NOUNS = ("cube", "block")
# Between the steps of a sequence: each is one of split_subtasks()'s separators.
STEP_JOINERS = (", then ", "; then ", " and then ", "; ")
WORLD_CONTACT = dict(contype=1, conaffinity=3)  # objects touch the robot (contype 2) and each other


@dataclass(frozen=True)
class CubeSpec:
    name: str             # body name, e.g. red_cube
    color: str            # colour word used in the instruction
    size: float           # edge length (m)
    xy: tuple[float, float]
    jitter: float         # uniform +-jitter on x and y (m)
    yaw_jitter: float     # uniform +-yaw (rad)


@dataclass(frozen=True)
class Subtask:
    text: str             # what a person says for this step, e.g. "put the red cube in the bowl"
    obj: str              # the cube it moves (body name)


class PickPlaceTask:
    """Put the named cube into the bowl. See the module docstring.

    Success: the named cube's centre is within ``success_radius`` of the bowl centre (xy), it rests on the
    bowl floor (centre at most 12 mm above resting height) and it is not held. ``wrong_object_moved``: another
    cube moved more than ``moved_tol`` from where it was placed.
    """

    kind = "pick_place"

    BOWL_FLOOR = 0.006  # thickness of the bowl's floor disk

    def __init__(self, cfg: dict, table_top_z: float):
        self.top_z = float(table_top_z)
        self.cubes = [
            CubeSpec(o["name"], o["color"], float(o.get("size", 0.04)), tuple(o["xy"]), float(o.get("jitter", 0.03)),
                     float(o.get("yaw_jitter", 0.3)))
            for o in cfg["objects"]
        ]
        tgt = cfg.get("target", {})
        self.bowl_name = tgt.get("name", "bowl")
        self.bowl_color = tgt.get("color", "green")
        self.bowl_xy = np.array(tgt.get("xy", (0.0, 0.0)), dtype=float)
        self.bowl_radius = float(tgt.get("radius", 0.07))
        self.bowl_height = float(tgt.get("height", 0.035))
        self.success_radius = float(tgt.get("success_radius", self.bowl_radius - 0.012))
        # in_bowl runs after every simulator tick (update, the sim node's success check): its constants once, here
        self._bowl_x, self._bowl_y = (float(v) for v in self.bowl_xy)
        self._rest_z = {c.name: self.top_z + self.BOWL_FLOOR + c.size / 2 + 0.012 for c in self.cubes}
        self.moved_tol = float(cfg.get("moved_tol", 0.03))
        self.time_limit_s = float(cfg.get("time_limit_s", 12.0))
        base = cfg.get("base_start")  # mobile robots: start pose (x, y, yaw) and its jitter
        self.base_start_cfg = base
        self.base_goal = tuple(cfg["base_goal"]) if "base_goal" in cfg else None
        self.base_start: tuple[float, float, float] | None = None
        self.target_object = self.cubes[0].name
        self.instruction = ""
        self.subtasks: list[Subtask] = []
        self.subtask_done_at: list[float | None] = []
        self._start_pos: dict[str, np.ndarray] = {}
        self._model = self._data = None
        self._held: Callable[[], set] = lambda: set()

    @property
    def object_names(self) -> list[str]:
        return [c.name for c in self.cubes]

    def cube(self, name: str) -> CubeSpec:
        for c in self.cubes:
            if c.name == name:
                return c
        raise KeyError(f"unknown task object {name!r}; known: {self.object_names}")

    # ---- scene construction ---------------------------------------------------------------------------
    def add_to_spec(self, spec: mujoco.MjSpec) -> None:
        for c in self.cubes:
            body = spec.worldbody.add_body(name=c.name, pos=[c.xy[0], c.xy[1], self.top_z + c.size / 2])
            body.add_freejoint(name=f"{c.name}_free")
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[c.size / 2] * 3, rgba=COLORS[c.color], density=800,
                          friction=[1.0, 0.01, 0.001], **WORLD_CONTACT)
        # A static bowl: a thin floor disk and a ring of short wall segments (a convex ring is not a primitive).
        bowl = spec.worldbody.add_body(name=self.bowl_name, pos=[*self.bowl_xy, self.top_z])
        rgba = COLORS[self.bowl_color]
        bowl.add_geom(type=mujoco.mjtGeom.mjGEOM_CYLINDER, size=[self.bowl_radius, self.BOWL_FLOOR / 2],
                      pos=[0, 0, self.BOWL_FLOOR / 2],
                      rgba=rgba, **WORLD_CONTACT)
        n, t = 16, 0.006
        seg = 2 * np.pi * self.bowl_radius / n
        for i in range(n):
            a = 2 * np.pi * i / n
            bowl.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[t / 2, seg / 2 + 0.002, self.bowl_height / 2],
                          pos=[self.bowl_radius * np.cos(a), self.bowl_radius * np.sin(a), self.bowl_height / 2],
                          quat=[np.cos(a / 2), 0, 0, np.sin(a / 2)], rgba=rgba, **WORLD_CONTACT)

    def bind(self, model: mujoco.MjModel, data: mujoco.MjData, held: Callable[[], set]) -> None:
        self._model, self._data, self._held = model, data, held
        self._qadr = {c.name: model.jnt_qposadr[model.joint(f"{c.name}_free").id] for c in self.cubes}
        self._body = {c.name: model.body(c.name).id for c in self.cubes}

    # ---- episodes -------------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, target_object: str | None = None) -> str:
        """Place the cubes (and the mobile base start) from ``rng``, pick the instruction; returns it.

        The random draws do not depend on ``target_object``: the same seed gives the same scene and phrasing
        whichever cube is named, so an evaluation can swap the named object and nothing else.
        """
        d = self._data
        for c in self.cubes:
            xy = np.array(c.xy) + rng.uniform(-c.jitter, c.jitter, 2)
            yaw = rng.uniform(-c.yaw_jitter, c.yaw_jitter)
            a = self._qadr[c.name]
            d.qpos[a:a + 7] = [*xy, self.top_z + c.size / 2, np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        if self.base_start_cfg is not None:
            b = self.base_start_cfg
            jit = list(b.get("jitter", (0.0, 0.0))) + [float(b.get("yaw_jitter", 0.0))]
            x, y, yaw = np.array([*b["xy"], b.get("yaw", 0.0)]) + rng.uniform(-1, 1, 3) * jit
            self.base_start = (float(x), float(y), float(yaw))
        pick = self.cubes[int(rng.integers(len(self.cubes)))].name
        phrasing = PHRASINGS[int(rng.integers(len(PHRASINGS)))]
        noun = OBJECT_NOUNS[int(rng.integers(len(OBJECT_NOUNS)))]
        colour_target = bool(rng.integers(2))
        self.target_object = pick if target_object is None else self.cube(target_object).name
        self.instruction = self._sentence(phrasing, self.target_object, noun, colour_target)
        self.subtasks = [Subtask(self.instruction, self.target_object)]
        self.subtask_done_at = [None]
        self._start_pos = {}
        return self.instruction

    def _sentence(self, phrasing: str, obj: str, noun: str, colour_target: bool) -> str:
        target = f"{self.bowl_color} bowl" if colour_target else "bowl"
        return phrasing.format(obj=f"{self.cube(obj).color} {noun}", target=target)

    @property
    def current(self) -> int:
        """Index of the first subtask not detected done (``len(subtasks)`` when all are)."""
        return next((i for i, t in enumerate(self.subtask_done_at) if t is None), len(self.subtasks))

    def update(self, t: float) -> None:
        """Record the time at which each subtask is first seen done (called by the simulator after each step)."""
        if self.current < len(self.subtasks) and self.success():
            self.subtask_done_at[self.current] = t

    def place_xy(self, name: str) -> np.ndarray:
        """Where the scripted expert puts this cube down (xy): the bowl's centre."""
        return self.bowl_xy.copy()

    def record_start(self) -> None:
        """Remember where the cubes are (called by the simulator once the scene is placed)."""
        self._start_pos = {n: self._data.xpos[b].copy() for n, b in self._body.items()}

    # ---- judgement ------------------------------------------------------------------------------------
    def object_poses(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per cube: (position xyz, quaternion wxyz) in the world frame."""
        d = self._data
        return {n: (d.xpos[b].copy(), d.xquat[b].copy()) for n, b in self._body.items()}

    def in_bowl(self, name: str) -> bool:
        x, y, z = self._data.xpos[self._body[name]].tolist()
        # Resting on the bowl floor (a little slack for a cube tilted against the wall), not falling into it.
        return math.hypot(x - self._bowl_x, y - self._bowl_y) < self.success_radius and z < self._rest_z[name]

    def success(self) -> bool:
        return self.in_bowl(self.target_object) and self.target_object not in self._held()

    def wrong_object_moved(self) -> bool:
        for n, b in self._body.items():
            if n != self.target_object and np.linalg.norm(self._data.xpos[b] - self._start_pos[n]) > self.moved_tol:
                return True
        return False


class PickPlaceSequenceTask(PickPlaceTask):
    """Every cube into the bowl, in the order the instruction names them. See the module docstring.

    Subtask k (its cube into the bowl) is done at the first update at which that cube rests in the bowl,
    released, while every earlier subtask is done. A later cube resting in the bowl before its turn breaks the
    order (``order_broken``): the episode can no longer succeed. Success: every subtask done, in order, and every
    cube still resting in the bowl, released. ``wrong_object_moved``: a cube whose turn has not come yet moved
    more than ``moved_tol``. ``target_object`` is the current subtask's cube (the last one once all are done).
    The time limit is the single-step limit per cube unless ``sequence_time_limit_s`` is configured.
    """

    kind = "pick_place_sequence"

    def __init__(self, cfg: dict, table_top_z: float):
        super().__init__(cfg, table_top_z)
        self.time_limit_s = float(cfg.get("sequence_time_limit_s", self.time_limit_s * len(self.cubes)))
        self.place_offset = float(cfg.get("place_offset", 0.03))
        self.order_broken = False

    def reset(self, rng: np.random.Generator, target_object: str | None = None) -> str:
        """Place the scene as the single-step task does, then draw the order (``target_object``: this cube first)
        and each step's phrasing; returns the whole instruction.
        """
        super().reset(rng, target_object)
        order = [self.cubes[i].name for i in rng.permutation(len(self.cubes))]
        if target_object is not None:
            order.remove(self.cube(target_object).name)
            order.insert(0, self.cube(target_object).name)
        noun = OBJECT_NOUNS[int(rng.integers(len(OBJECT_NOUNS)))]
        colour_target = bool(rng.integers(2))
        self.subtasks = [Subtask(self._sentence(PHRASINGS[int(rng.integers(len(PHRASINGS)))], obj, noun, colour_target),
                                 obj) for obj in order]
        joiner = STEP_JOINERS[int(rng.integers(len(STEP_JOINERS)))]
        self.instruction = joiner.join(s.text for s in self.subtasks)
        self.subtask_done_at = [None] * len(self.subtasks)
        self.order_broken = False
        self.target_object = order[0]
        return self.instruction

    def place_xy(self, name: str) -> np.ndarray:
        """Where this cube goes: ``place_offset`` from the bowl centre away from the cubes' mean nominal spot, so
        the cubes end up side by side on the floor instead of on top of each other.
        """
        nominal = np.array(self.cube(name).xy) - np.mean([c.xy for c in self.cubes], axis=0)
        return self.bowl_xy + self.place_offset * nominal / max(float(np.linalg.norm(nominal)), 1e-9)

    def _resting(self, name: str) -> bool:
        return self.in_bowl(name) and name not in self._held()

    def update(self, t: float) -> None:
        k = self.current
        if k < len(self.subtasks) and self._resting(self.subtasks[k].obj):
            self.subtask_done_at[k] = t
            k += 1
        self.order_broken = self.order_broken or any(self._resting(s.obj) for s in self.subtasks[k + 1:])
        self.target_object = self.subtasks[min(k, len(self.subtasks) - 1)].obj

    def success(self) -> bool:
        return (not self.order_broken and self.current == len(self.subtasks)
                and all(self._resting(s.obj) for s in self.subtasks))

    def wrong_object_moved(self) -> bool:
        waiting = {s.obj for s in self.subtasks[self.current + 1:]}
        return any(np.linalg.norm(self._data.xpos[self._body[n]] - self._start_pos[n]) > self.moved_tol
                   for n in waiting)


TASKS = {"pick_place": PickPlaceTask, "pick_place_sequence": PickPlaceSequenceTask}


def make_task(cfg: dict, table_top_z: float, kind: str | None = None) -> PickPlaceTask:
    """The task configured by a profile's ``task:`` section; ``kind`` (a key of :data:`TASKS`) overrides its
    ``type`` (every task here is built from the same objects and bowl).
    """
    kind = kind or cfg.get("type", "pick_place")
    if kind not in TASKS:
        raise ValueError(f"unknown task type {kind!r}; known: {sorted(TASKS)}")
    return TASKS[kind](cfg, table_top_z)
