"""Observation node: the gate between raw sensors and the policy.

Subscribes to /joint_states and each profile camera, validates every message (joint names, NaN/inf,
image size and encoding), maps joints to the profile order, and republishes what passes under
``/pi_vla/observation/...`` with the original stamps. Stale sensors are reported once per
fresh->stale transition and counted; counts go out on /diagnostics.
"""

from __future__ import annotations

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.observation import ObservationCore
from pi_vla_ros.nodes.common import SENSOR_QOS, Rejections, declare, diagnostics, now_sec, run_node, to_sec
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs


class ObservationNode(Node):
    # Every parameter the node declares, with its default (launch files may set only these).
    PARAMETERS = dict(
        profile="bimanual",
        joint_states_topic="/joint_states",
        output_prefix="/pi_vla/observation",
        max_age_s=0.5,
        max_skew_s=0.06,
        allowed_extra_joints="",        # comma-separated joints to ignore (e.g. mimic fingers, wheels)
        staleness_check_hz=10.0,
        diagnostics_period_s=1.0,
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_observation", **kwargs)
        self.p = declare(self, **self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        extra = tuple(j.strip() for j in self.p.allowed_extra_joints.split(",") if j.strip())
        self.core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s,
                                    allowed_extra_joints=extra)
        self.rejections = Rejections(self)
        self.forwarded = {"joint_states": 0, **{c.name: 0 for c in self.profile.cameras}}
        self._stale: set[str] = set()
        prefix = self.p.output_prefix.rstrip("/")
        self.state_pub = self.create_publisher(msgs.JointState, f"{prefix}/joint_states", 10)
        self.image_pubs = {c.name: self.create_publisher(msgs.Image, f"{prefix}/{c.name}/image_raw", 2)
                           for c in self.profile.cameras}
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msgs.JointState, self.p.joint_states_topic, self._on_joint_state, SENSOR_QOS)
        for cam in self.profile.cameras:
            self.create_subscription(msgs.Image, cam.topic, lambda m, c=cam.name: self._on_image(c, m), SENSOR_QOS)
        self.create_timer(1.0 / self.p.staleness_check_hz, self._check_staleness)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)

    def _on_joint_state(self, msg) -> None:
        try:
            state = self.core.on_joint_state(to_sec(msg.header.stamp), msg.name, msg.position)
        except RejectedInput as e:
            self.rejections(e, "joint_states")
            return
        out = msgs.JointState(header=msg.header, name=list(self.profile.joints), position=state.tolist())
        self.state_pub.publish(out)
        self.forwarded["joint_states"] += 1

    def _on_image(self, camera: str, msg) -> None:
        try:
            self.core.on_image(camera, to_sec(msg.header.stamp), msg.width, msg.height, msg.encoding, msg.step,
                               msg.data)
        except RejectedInput as e:
            self.rejections(e, camera)
            return
        self.image_pubs[camera].publish(msg)
        self.forwarded[camera] += 1

    def reset_episode(self) -> None:
        """A new episode: forget buffered sensor data (the robot was moved by the reset)."""
        self.core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s,
                                    allowed_extra_joints=tuple(self.core.mapper.allowed_extra))
        self._stale.clear()

    def _check_staleness(self) -> None:
        now = now_sec(self)
        latest = self.core.latest_state()
        ages = {"joint_states": now - latest[0] if latest else None}
        ages.update({name: now - stamp for name, stamp in self.core.image_stamps().items()})
        for sensor, age in ages.items():
            stale = age is not None and age > self.p.max_age_s
            if stale and sensor not in self._stale:
                reason = "stale_joint_state" if sensor == "joint_states" else "stale_camera"
                self.rejections(RejectedInput(reason, f"{sensor} is {age:.3f} s old (max {self.p.max_age_s} s)"))
            (self._stale.add if stale else self._stale.discard)(sensor)

    def _publish_diagnostics(self) -> None:
        counts = self.rejections.counter.as_dict()
        msg = f"stale: {sorted(self._stale)}" if self._stale else "ok"
        status = diagnostics(self.get_name(), not (self._stale or counts), msg, {"rejected": counts, "forwarded": self.forwarded})
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[status]))


def main(args=None):
    run_node(ObservationNode, args)
