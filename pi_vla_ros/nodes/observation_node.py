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

"""Observation node: the gate between raw sensors and the policy.

Subscribes to /joint_states and each profile camera, validates every message (joint names, NaN/inf,
image size and encoding), maps joints to the profile order, and republishes what passes under
``/pi_vla/observation/...`` with the original stamps. Stale sensors are reported once per
fresh->stale transition and counted; counts go out on /diagnostics.
"""

from __future__ import annotations

from pi_vla_ros.core.errors import RejectedInput
from pi_vla_ros.core.observation import ObservationCore
from pi_vla_ros.nodes.common import (GraphNode, OK, Param, Rejections, SENSOR_QOS, WARN, declare, diagnostics, now_sec,
                                     run_node, to_sec)
from pi_vla_ros.profiles import load_profile
from pi_vla_ros.ros import Node, msgs


class ObservationNode(GraphNode, Node):
    # Every parameter the node declares, with its default (launch files may set only these).
    PARAMETERS = dict(
        profile=Param("bimanual", "robot profile: a name in config/ or a profile YAML path"),
        joint_states_topic=Param("/joint_states", "the robot driver's joint states (any joint order)"),
        output_prefix=Param("/pi_vla/observation", "validated joint states and images are republished under this"),
        max_age_s=Param(0.5, "a camera or joint state older than this is stale", (0.01, 60.0)),
        max_skew_s=Param(0.06, "cameras and the chosen joint state must lie this close in time", (0.0, 10.0)),
        allowed_extra_joints=Param("", "comma-separated joints to ignore (e.g. mimic fingers, wheels)"),
        camera_transport=Param("raw", "raw: sensor_msgs/Image on each camera topic; compressed: "
                               "sensor_msgs/CompressedImage on <topic>/compressed (image_transport's JPEG/PNG)",
                               choices=("raw", "compressed")),
        staleness_check_hz=Param(10.0, "how often staleness is checked", (0.1, 1000.0)),
        diagnostics_period_s=Param(1.0, "period of /diagnostics", (0.01, 60.0)),
    )

    def __init__(self, **kwargs):
        super().__init__("pi_vla_observation", **kwargs)
        self.p = declare(self, self.PARAMETERS)
        self.profile = load_profile(self.p.profile)
        extra = tuple(j.strip() for j in self.p.allowed_extra_joints.split(",") if j.strip())
        self.core = ObservationCore(self.profile, max_age_s=self.p.max_age_s, max_skew_s=self.p.max_skew_s,
                                    allowed_extra_joints=extra)
        self.rejections = Rejections(self)
        self.forwarded = {"joint_states": 0, **{c.name: 0 for c in self.profile.cameras}}
        self._stale: set[str] = set()
        prefix = self.p.output_prefix.rstrip("/")
        self.state_pub = self.create_publisher(msgs.JointState, f"{prefix}/joint_states", SENSOR_QOS)
        self.image_pubs = {c.name: self.create_publisher(msgs.Image, f"{prefix}/{c.name}/image_raw", SENSOR_QOS)
                           for c in self.profile.cameras}
        self.diag_pub = self.create_publisher(msgs.DiagnosticArray, "/diagnostics", 10)
        self.create_subscription(msgs.JointState, self.p.joint_states_topic, self._on_joint_state, SENSOR_QOS)
        for cam in self.profile.cameras:
            if self.p.camera_transport == "compressed":
                self.create_subscription(msgs.CompressedImage, f"{cam.topic}/compressed",
                                         lambda m, c=cam.name: self._on_compressed(c, m), SENSOR_QOS)
            else:
                self.create_subscription(msgs.Image, cam.topic, lambda m, c=cam.name: self._on_image(c, m), SENSOR_QOS)
        self.create_timer(1.0 / self.p.staleness_check_hz, self._check_staleness)
        self.create_timer(self.p.diagnostics_period_s, self._publish_diagnostics)

    def _on_joint_state(self, msg) -> None:
        try:
            state = self.core.on_joint_state(to_sec(msg.header.stamp), msg.name, msg.position, msg.velocity,
                                             msg.effort, now=now_sec(self))
        except RejectedInput as e:
            self.rejections(e, "joint_states")
            return
        out = msgs.JointState(header=msg.header, name=list(self.profile.joints), position=state.tolist())
        self.state_pub.publish(out)
        self.forwarded["joint_states"] += 1

    def _on_image(self, camera: str, msg) -> None:
        try:
            rgb = self.core.on_image(camera, to_sec(msg.header.stamp), msg.width, msg.height, msg.encoding,
                                     msg.step, msg.data, msg.is_bigendian, now=now_sec(self))
        except RejectedInput as e:
            self.rejections(e, camera)
            return
        if msg.encoding == "rgb8":
            self.image_pubs[camera].publish(msg)   # already what the policy reads: no copy
        else:
            self._publish_rgb(camera, msg.header, rgb)
        self.forwarded[camera] += 1

    def _on_compressed(self, camera: str, msg) -> None:
        try:
            rgb = self.core.on_compressed_image(camera, to_sec(msg.header.stamp), msg.format, msg.data,
                                                now=now_sec(self))
        except RejectedInput as e:
            self.rejections(e, camera)
            return
        self._publish_rgb(camera, msg.header, rgb)
        self.forwarded[camera] += 1

    def _publish_rgb(self, camera: str, header, rgb) -> None:
        """Downstream nodes get one encoding, rgb8, whatever the camera sent."""
        h, w, _ = rgb.shape
        self.image_pubs[camera].publish(msgs.Image(header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                                   step=w * 3, data=rgb.tobytes()))

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
        status = diagnostics(self.get_name(), WARN if self._stale else OK, msg,
                             {"rejected": counts, "forwarded": self.forwarded})
        self.diag_pub.publish(msgs.DiagnosticArray(header=msgs.Header(stamp=self.get_clock().now().to_msg()),
                                                   status=[status]))


def main(args=None):
    return run_node(ObservationNode, args)
