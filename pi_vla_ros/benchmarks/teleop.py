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

"""Teleop benchmark: how closely and how soon the follower does what the person does, and what IK costs.

``python -m pi_vla_ros.benchmarks.teleop [--out runs/bench/teleop.json] [--plot docs/images/teleop.png]``

- ``ik``: wall-clock cost of one twist-teleop tick (pose update + Pinocchio IK) per profile, p50/p99/max in µs.
- ``leader``: the bimanual graph in lockstep (simulated time) with two leaders (the profile's ALOHA mapping)
  publishing a 2 s minimum-jerk move of every arm joint at 50 Hz, then a 0.05 rad step of one joint. Reports
  the command's lag behind the leader during the move, the measured follower's largest and final error, and the
  step latency from the leader's message to the first controller command that moves (simulated time, so it
  is the pipeline's structural delay, not this machine's speed).
- ``twist``: the bimanual right arm steered to a goal pose 11 cm and 0.3 rad away by a proportional "person"
  looking at the simulated TCP; time to within 5 mm / 0.02 rad, and a 1 s straight move at 0.05 m/s: the
  achieved speed, the largest sideways deviation, and how far it coasts once the twists stop (the last twist
  stands for ``twist_timeout_s``).

Every command the controllers get is checked against the URDF limits (position, velocity per tick); the counts
of violations are reported. Figures, never assertions: the README reports them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

ALOHA = ["waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper", "left_finger",
         "right_finger"]


def ik_cost(robots=("ur5e", "bimanual", "mobile_manipulator"), ticks: int = 2000) -> dict:
    from pi_vla_ros.core.teleop import Teleop, TeleopConfig
    from pi_vla_ros.profiles import load_profile

    out = {}
    for robot in robots:
        profile = load_profile(robot)
        tel = Teleop(profile, "twist", TeleopConfig(rate_hz=profile.control_rate_hz), arm=profile.sim["arms"][0])
        tel.engage([float(profile.sim["home"].get(j, 0.0)) for j in profile.joints])
        rng = np.random.default_rng(0)
        times = []
        for k in range(ticks):
            t = k / profile.control_rate_hz
            if k % 50 == 0:   # a new direction every second, small enough to stay in reach
                v = np.concatenate([rng.uniform(-0.03, 0.03, 3), rng.uniform(-0.2, 0.2, 3)])
            tel.on_twist(v, t)
            start = time.perf_counter()
            tel.tick(t)
            times.append(time.perf_counter() - start)
        us = np.asarray(times) * 1e6
        out[robot] = {"ticks": ticks, "p50_us": round(float(np.percentile(us, 50)), 1),
                      "p99_us": round(float(np.percentile(us, 99)), 1), "max_us": round(float(us.max()), 1)}
    return out


class _Graph:
    """A lockstep graph with the teleop node, no policy, a person node and a tap on the controller commands."""

    def __init__(self, robot: str, mode: str, **params):
        from pi_vla_ros.ros import Node, msgs
        from pi_vla_ros.runner import GraphRunner

        self.run = GraphRunner(robot, realtime=False, teleop=mode, skip=("pi_vla_policy",),
                               overrides={"pi_vla_teleop": params})
        self.run.set_log_level(40)
        self.sim, self.profile = self.run.sim.sim, self.run.sim.profile
        self.node = Node("bench_person", **self.run.node_options())
        self.run.add_node(self.node)
        self.msgs = msgs
        self.commands: list[tuple[float, dict]] = []   # (sim time, {joint: position}) per controller message
        for ctrl in self.profile.controllers:
            if ctrl.interface == "twist":
                continue
            msg_type = msgs.JointTrajectory if ctrl.interface == "trajectory" else msgs.Float64MultiArray
            self.node.create_subscription(msg_type, ctrl.topic, lambda m, c=ctrl: self._on_command(c, m), 100)
        self.intervention = self.node.create_publisher(msgs.Bool, "/pi_vla/intervention", 10)

    def _on_command(self, ctrl, msg) -> None:
        values = msg.points[0].positions if hasattr(msg, "points") else msg.data
        self.commands.append((self.run.sim_time(), dict(zip(ctrl.joints, values))))

    def command_series(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, [ticks, joints]) of the commands, one row per executor tick."""
        rows: dict[float, dict] = {}
        for t, values in self.commands:
            rows.setdefault(round(t, 6), {}).update(values)
        times = np.array(sorted(rows))
        q = np.array([[rows[t].get(j, np.nan) for j in self.profile.joints] for t in times])
        return times, q

    def violations(self) -> dict:
        _, q = self.command_series()
        dt = 1.0 / self.profile.control_rate_hz
        cap = np.minimum(self.profile.velocity() * dt, self.profile.max_step_per_tick) + 1e-9
        return {"commands": int(len(q)), "non_finite": int(np.sum(~np.isfinite(q))),
                "position": int(np.sum((q < self.profile.lower() - 1e-9) | (q > self.profile.upper() + 1e-9))),
                "velocity": int(np.sum(np.abs(np.diff(q, axis=0)) > cap))}

    def close(self) -> None:
        self.run.close()


def _min_jerk(s):
    s = np.clip(s, 0.0, 1.0)
    return 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5


def leader_tracking() -> tuple[dict, dict]:
    g = _Graph("bimanual", "leader")
    msgs, joints = g.msgs, list(g.profile.joints)
    pubs = {side: g.node.create_publisher(msgs.JointState, f"/leader_{side}/joint_states", 10)
            for side in ("left", "right")}

    def publish(q):
        for side, pub in pubs.items():
            values = [float(q[joints.index(f"{side}_{n}")]) for n in ALOHA[:7]]
            values[6] /= 0.04
            pub.publish(msgs.JointState(name=ALOHA, position=values + [0.0, 0.0]))

    start = g.sim.joint_positions()
    delta = np.zeros(len(joints))
    for side, sign in (("left", 1), ("right", -1)):
        for joint, d in (("waist", 0.5), ("shoulder", 0.3), ("elbow", -0.35), ("forearm_roll", 0.3),
                         ("wrist_angle", -0.4), ("wrist_rotate", 0.6), ("gripper", -0.03)):
            delta[joints.index(f"{side}_{joint}")] = d * (sign if joint == "waist" else 1)
    g.intervention.publish(msgs.Bool(data=True))
    t0, leader, measured, times = 0.3, [], [], []
    while g.run.sim_time() < 3.5:
        t = g.run.sim_time()
        q = start + _min_jerk((t - t0) / 2.0) * delta
        publish(q)
        g.run.spin_for(0.02)
        leader.append(q)
        measured.append(g.sim.joint_positions())
        times.append(t)
    leader, measured, times = np.array(leader), np.array(measured), np.array(times)
    cmd_t, cmd = g.command_series()
    moving = (times >= t0) & (times <= t0 + 2.0)
    # the command's lag: the shift (in ticks) that best aligns it with the leader during the move
    arm = [i for i, j in enumerate(joints) if "gripper" not in j]
    cmd_at = np.array([cmd[np.searchsorted(cmd_t, t + 1e-9) - 1] if np.any(cmd_t <= t + 1e-9) else start
                       for t in times])
    lags = range(0, 10)
    err = [np.abs(cmd_at[moving][lag:, arm] - leader[moving][:len(leader[moving]) - lag, arm]).max() for lag in lags]
    lag = int(np.argmin(err))
    # a 0.05 rad step of left_elbow: the first controller command that moves
    j = joints.index("left_elbow")
    q_step = leader[-1].copy()
    q_step[j] += 0.05
    n_before = len(g.commands)
    t_step = g.run.sim_time()
    last = cmd[-1, j]
    first_move = None
    while g.run.sim_time() < t_step + 0.5:
        publish(q_step)
        g.run.spin_for(0.02)
        for t, values in g.commands[n_before:]:
            if first_move is None and "left_elbow" in values and abs(values["left_elbow"] - last) > 1e-9:
                first_move = t
    result = {
        "robot": "bimanual", "move_s": 2.0, "joints_moved": int(np.count_nonzero(delta)),
        "command_lag_ticks": lag, "command_lag_s": lag * 0.02,
        "command_error_at_that_lag_rad": round(float(err[lag]), 5),
        "measured_max_error_during_move_rad": round(float(np.abs(measured[moving][:, arm] - leader[moving][:, arm])
                                                          .max()), 4),
        "measured_final_error_rad": round(float(np.abs(measured[-1] - leader[-1]).max()), 5),
        "step_latency_s": None if first_move is None else round(first_move - t_step, 3),
        "limit_violations": g.violations(),
        "rejected": g.run.node("pi_vla_teleop").rejections.counter.as_dict(),
    }
    series = {"t": times, "leader": leader[:, [joints.index("left_waist"), joints.index("left_elbow")]],
              "measured": measured[:, [joints.index("left_waist"), joints.index("left_elbow")]],
              "cmd_t": cmd_t, "cmd": cmd[:, [joints.index("left_waist"), joints.index("left_elbow")]]}
    g.close()
    return result, series


def twist_tracking() -> tuple[dict, dict]:
    import pinocchio as pin

    g = _Graph("bimanual", "twist", twist_arm="right")
    msgs = g.msgs
    twist = g.node.create_publisher(msgs.Twist, "/pi_vla/teleop/twist", 10)
    body = g.sim.model.body("right_tcp_link").id

    def pose():
        return g.sim.data.xpos[body].copy(), g.sim.data.xmat[body].reshape(3, 3).copy()

    def send(v):
        twist.publish(msgs.Twist(linear=msgs.Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2])),
                                 angular=msgs.Vector3(x=float(v[3]), y=float(v[4]), z=float(v[5]))))

    g.intervention.publish(msgs.Bool(data=True))
    g.run.spin_for(0.1)
    p0, r0 = pose()
    p_goal, r_goal = p0 + [0.06, -0.05, -0.08], pin.exp3(np.array([0.0, 0.0, 0.3])) @ r0
    t0, reached, trace = g.run.sim_time(), None, []
    while g.run.sim_time() < t0 + 4.0:
        p, r = pose()
        dp, dr = np.linalg.norm(p_goal - p), np.linalg.norm(pin.log3(r_goal @ r.T))
        trace.append((g.run.sim_time() - t0, dp, dr))
        if reached is None and dp < 0.005 and dr < 0.02:
            reached = g.run.sim_time() - t0
        send(np.concatenate([2.0 * (p_goal - p), 2.0 * pin.log3(r_goal @ r.T)]))
        g.run.spin_for(0.02)
    # a 1 s straight move along +y at 0.05 m/s (after 0.3 s of rest)
    send(np.zeros(6))
    g.run.spin_for(0.3)
    a, path = pose()[0], []
    t1 = g.run.sim_time()
    while g.run.sim_time() < t1 + 1.0:
        send([0.0, 0.05, 0.0, 0.0, 0.0, 0.0])
        g.run.spin_for(0.02)
        path.append(pose()[0])
    g.run.spin_for(0.5)                    # the twist times out: the arm stops
    b = pose()[0]
    path = np.array(path)
    sideways = np.linalg.norm((path - a) - np.outer((path - a) @ [0, 1, 0], [0, 1, 0]), axis=1).max()
    steady = path[15:, 1]                  # after 0.3 s: past the executor's acceleration ramp
    speed = float(np.polyfit(0.02 * np.arange(len(steady)), steady, 1)[0])
    result = {"robot": "bimanual", "arm": "right", "goal_distance_m": 0.11, "goal_rotation_rad": 0.3,
              "time_to_goal_s": None if reached is None else round(reached, 2),
              "final_position_error_mm": round(trace[-1][1] * 1000, 2),
              "final_rotation_error_rad": round(trace[-1][2], 4),
              "straight_move_commanded_speed_m_s": 0.05, "straight_move_speed_m_s": round(speed, 5),
              "straight_move_max_sideways_mm": round(float(sideways) * 1000, 3),
              # the last twist stands for twist_timeout_s (0.25 s) after it was sent, then the arm stops
              "coast_after_last_twist_m": round(float(b[1] - path[-1, 1]), 4),
              "limit_violations": g.violations(), "rejected": g.run.node("pi_vla_teleop").rejections.counter.as_dict()}
    g.close()
    return result, {"trace": np.array(trace)}


def plot(leader: dict, twist: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for k, (name, color) in enumerate((("left_waist", "C0"), ("left_elbow", "C1"))):
        a.plot(leader["t"], leader["leader"][:, k], color=color, lw=2.5, alpha=0.35, label=f"{name} leader")
        a.plot(leader["cmd_t"], leader["cmd"][:, k], color=color, lw=1, ls="--", label=f"{name} command")
        a.plot(leader["t"], leader["measured"][:, k], color=color, lw=1, label=f"{name} measured")
    a.set(xlabel="simulated time (s)", ylabel="rad", title="Leader arms -> executor -> simulated follower")
    a.legend(fontsize=7, ncol=2)
    tr = twist["trace"]
    b.plot(tr[:, 0], tr[:, 1] * 1000, label="position error (mm)")
    b.plot(tr[:, 0], np.degrees(tr[:, 2]), label="orientation error (deg)")
    b.axhline(5, color="gray", lw=0.6, ls=":")
    b.set(xlabel="simulated time (s)", yscale="log", title="Twist teleop to a goal pose (IK, right arm)")
    b.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/bench/teleop.json")
    parser.add_argument("--plot", default="docs/images/teleop.png")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    print("teleop bench: IK cost per tick ...", flush=True)
    report = {"ik": ik_cost()}
    print("teleop bench: leader arms through the graph (lockstep) ...", flush=True)
    report["leader"], leader_series = leader_tracking()
    print("teleop bench: twist to a goal pose through the graph (lockstep) ...", flush=True)
    report["twist"], twist_series = twist_tracking()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    plot(leader_series, twist_series, args.plot)
    print(json.dumps(report, indent=1))
    print(f"written: {args.out}, {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
