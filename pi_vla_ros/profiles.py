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

"""Robot profiles: one description per robot.

A profile is ``config/<name>.yaml`` plus the URDF it names in ``urdf/``. Joint names, the action
layout, cameras and controller interfaces come from the YAML; position and velocity limits come from
the URDF only (a limit is never written twice). Acceleration limits, which URDF cannot express, live in
the YAML.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

PACKAGE = "pi_vla_ros"


def share_dir() -> Path:
    """Directory holding config/, urdf/ and launch/: the source tree, or the colcon install share."""
    here = Path(__file__).resolve().parent.parent
    if (here / "config").is_dir() and (here / "urdf").is_dir():
        return here
    env = os.environ.get("PI_VLA_SHARE")
    if env:
        return Path(env)
    installed = Path(sys.prefix) / "share" / PACKAGE   # pip install (wheel data_files)
    if (installed / "config").is_dir():
        return installed
    try:  # pragma: no cover - only inside a ROS install
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception as exc:  # noqa: BLE001
        raise FileNotFoundError("cannot find the pi_vla_ros share directory (config/, urdf/)") from exc


@dataclass(frozen=True)
class JointLimit:
    lower: float
    upper: float
    velocity: float
    effort: float


@dataclass(frozen=True)
class Camera:
    name: str            # profile name, e.g. cam_high
    topic: str           # e.g. /cam_high/image_raw
    width: int
    height: int
    policy_key: str      # openpi image key, e.g. base_0_rgb
    rate_hz: float


@dataclass(frozen=True)
class Controller:
    """One controller group, as exposed by ros2_control on the real robot.

    ``interface`` is what the executor streams to: ``trajectory`` (JointTrajectoryController topic),
    ``position`` (forward position controller, Float64MultiArray) or ``twist`` (mobile base).
    """

    name: str
    interface: str
    joints: tuple[str, ...] = ()
    trajectory_topic: str = ""
    position_topic: str = ""
    twist_topic: str = ""
    timeout_s: float = 0.0

    @property
    def topic(self) -> str:
        return {"trajectory": self.trajectory_topic, "position": self.position_topic, "twist": self.twist_topic}[
            self.interface
        ]


@dataclass(frozen=True)
class RobotProfile:
    name: str
    urdf_path: Path
    joints: tuple[str, ...]              # state / action joint order (openpi layout)
    base_dims: tuple[str, ...]           # ("linear_x", "angular_z") for a mobile base, else ()
    limits: dict[str, JointLimit]        # from the URDF, per joint in ``joints``
    max_acceleration: dict[str, float]   # rad/s^2 (or m/s^2), per joint: not expressible in URDF
    base_limits: dict[str, float]        # max |linear_x| m/s, |angular_z| rad/s, accelerations
    cameras: tuple[Camera, ...]
    controllers: tuple[Controller, ...]
    control_rate_hz: float               # executor rate (50 Hz)
    policy_rate_hz: float                # spacing of actions inside a chunk
    max_step_per_tick: float             # largest position change one 50 Hz tick may command
    task: dict = field(default_factory=dict)
    sim: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)

    @property
    def action_dim(self) -> int:
        return len(self.joints) + len(self.base_dims)

    @property
    def state_dim(self) -> int:
        return len(self.joints)

    @property
    def action_names(self) -> tuple[str, ...]:
        return self.joints + tuple(f"base_{d}" for d in self.base_dims)

    def lower(self) -> np.ndarray:
        return np.array([self.limits[j].lower for j in self.joints])

    def upper(self) -> np.ndarray:
        return np.array([self.limits[j].upper for j in self.joints])

    def velocity(self) -> np.ndarray:
        return np.array([self.limits[j].velocity for j in self.joints])

    def acceleration(self) -> np.ndarray:
        return np.array([self.max_acceleration[j] for j in self.joints])

    def camera(self, name: str) -> Camera:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"profile {self.name!r} has no camera {name!r}")

    def urdf_xml(self) -> str:
        return self.urdf_path.read_text()


def urdf_limits(urdf_xml: str) -> dict[str, JointLimit]:
    """Position/velocity/effort limits of every limited joint, parsed with urdf_parser_py."""
    from urdf_parser_py.urdf import URDF

    robot = URDF.from_xml_string(urdf_xml)
    out: dict[str, JointLimit] = {}
    for joint in robot.joints:
        if joint.limit is None or joint.type in ("fixed", "floating", "planar"):
            continue
        lim = joint.limit
        lower, upper = (lim.lower, lim.upper) if joint.type != "continuous" else (-np.inf, np.inf)
        out[joint.name] = JointLimit(float(lower), float(upper), float(lim.velocity), float(lim.effort))
    return out


def profile_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = share_dir() / "config" / f"{name_or_path}.yaml"
    if not candidate.exists():
        # nodes.yaml holds node parameters, not a robot profile.
        known = sorted(p.stem for p in (share_dir() / "config").glob("*.yaml") if p.stem != "nodes")
        raise FileNotFoundError(f"unknown robot profile {name_or_path!r}; known: {known}")
    return candidate


@lru_cache(maxsize=16)
def load_profile(name_or_path: str) -> RobotProfile:
    path = profile_path(name_or_path)
    raw = yaml.safe_load(path.read_text())
    urdf_path = (path.parent.parent / "urdf" / raw["urdf"]).resolve()
    if not urdf_path.exists():
        urdf_path = share_dir() / "urdf" / raw["urdf"]
    limits_all = urdf_limits(urdf_path.read_text())
    joints = tuple(raw["action"]["joints"])
    missing = [j for j in joints if j not in limits_all]
    if missing:
        raise ValueError(f"profile {path.name}: joints {missing} have no <limit> in {urdf_path.name}")
    acc = raw.get("limits", {}).get("max_acceleration", {})
    default_acc = float(acc.get("default", 10.0))
    cameras = tuple(
        Camera(
            name=c["name"],
            topic=c.get("topic", f"/{c['name']}/image_raw"),
            width=int(c["width"]),
            height=int(c["height"]),
            policy_key=c.get("policy_key", c["name"]),
            rate_hz=float(c.get("rate_hz", 10.0)),
        )
        for c in raw.get("cameras", [])
    )
    controllers = tuple(
        Controller(
            name=c["name"],
            interface=c["interface"],
            joints=tuple(c.get("joints", ())),
            trajectory_topic=c.get("trajectory_topic", f"/{c['name']}/joint_trajectory" if c.get("joints") else ""),
            position_topic=c.get("position_topic", ""),
            twist_topic=c.get("twist_topic", ""),
            timeout_s=float(c.get("timeout_s", 0.0)),
        )
        for c in raw["controllers"]
    )
    covered = [j for c in controllers for j in c.joints]
    if sorted(covered) != sorted(joints):
        raise ValueError(f"profile {path.name}: controllers cover {covered}, action joints are {list(joints)}")
    return RobotProfile(
        name=raw["name"],
        urdf_path=urdf_path,
        joints=joints,
        base_dims=tuple(raw["action"].get("base", ())),
        limits={j: limits_all[j] for j in joints},
        max_acceleration={j: float(acc.get(j, default_acc)) for j in joints},
        base_limits={k: float(v) for k, v in raw.get("limits", {}).get("base", {}).items()},
        cameras=cameras,
        controllers=controllers,
        control_rate_hz=float(raw.get("control_rate_hz", 50.0)),
        policy_rate_hz=float(raw.get("policy_rate_hz", 50.0)),
        max_step_per_tick=float(raw.get("limits", {}).get("max_step_per_tick", 0.05)),
        task=raw.get("task", {}),
        sim=raw.get("sim", {}),
        raw=raw,
    )


PROFILES = ("ur5e", "bimanual", "mobile_manipulator")
