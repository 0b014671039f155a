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

"""`colcon build` of the package in a temporary workspace, and the installed pi_vla_sim running on rclpy and DDS.

Debian's colcon and colcon-ros (scripts/ci_deps.sh) build the package as on a ROS machine: setup.py runs with the
system python3, which needs neither rclpy nor torch. The console scripts start with `#!/usr/bin/env python3`
(setup.cfg [build_scripts]), so once install/setup.sh is sourced they run with the first python3 on PATH: here
the interpreter running these tests, which imports rclpy, torch and mujoco (FACTS §12).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NODES = ["pi_vla_sim", "pi_vla_observation", "pi_vla_policy", "pi_vla_executor", "pi_vla_instruction"]

# An independent rclpy process that waits for the simulator's first /clock message.
PROBE = """
import sys, time
import rclpy
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
rclpy.init()
node = Node("colcon_build_probe")
stamps = []
node.create_subscription(Clock, "/clock", lambda m: stamps.append(m.clock.sec + 1e-9 * m.clock.nanosec), 10)
deadline = time.monotonic() + float(sys.argv[1])
while not stamps and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
print(stamps[0] if stamps else "none", flush=True)
node.destroy_node()
rclpy.shutdown()
sys.exit(0 if stamps else 1)
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    colcon = shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon is not installed (scripts/ci_deps.sh installs colcon and colcon-ros from Debian)")
    ws = tmp_path_factory.mktemp("colcon_ws")
    (ws / "src").mkdir()
    (ws / "src" / "pi_vla_ros").symlink_to(ROOT, target_is_directory=True)   # as a clone in src/ would be
    result = subprocess.run([colcon, "build", "--packages-select", "pi_vla_ros"], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        log = "\n".join(p.read_text() for p in ws.glob("log/latest_build/pi_vla_ros/stdout_stderr.log"))
        pytest.fail(f"colcon build failed:\n{result.stdout}\n{result.stderr}\n{log}", pytrace=False)
    return ws


def sourced_env(ws: Path) -> dict[str, str]:
    """The environment after `. install/setup.sh`, with this interpreter's bin/ first on PATH."""
    dump = subprocess.run(["sh", "-c", '. "$1/install/setup.sh" && env -0', "sh", str(ws)],
                          capture_output=True, check=True, timeout=60).stdout.decode()
    env = dict(line.split("=", 1) for line in dump.split("\0") if "=" in line)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    return env


def test_colcon_installs_console_scripts_and_share(workspace):
    prefix = workspace / "install" / "pi_vla_ros"
    lib = prefix / "lib" / "pi_vla_ros"            # where `ros2 run pi_vla_ros <node>` looks
    for name in [*NODES, "pi-vla"]:
        script = lib / name
        assert script.is_file() and os.access(script, os.X_OK), f"{script} missing or not executable"
        assert script.read_text().splitlines()[0] == "#!/usr/bin/env python3", script.read_text()[:200]
    share = prefix / "share" / "pi_vla_ros"
    assert (share / "package.xml").read_text() == (ROOT / "package.xml").read_text()
    for pattern in ["launch/*.launch.py", "config/*.yaml", "urdf/*.urdf"]:
        source = sorted(p.name for p in ROOT.glob(pattern))
        assert source, pattern
        assert sorted(p.name for p in share.glob(pattern)) == source, pattern
    # the ament resource index marker and colcon-ros' ament hooks: built as an ament_python package
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "pi_vla_ros").is_file()
    assert (share / "hook" / "ament_prefix_path.dsv").is_file()


def test_installed_pi_vla_sim_runs(workspace):
    env = sourced_env(workspace)
    env.update(MUJOCO_GL="egl", ROS_LOG_DIR=str(workspace / "ros_log"), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               ROS_DOMAIN_ID=str(random.randint(1, 101)))   # private to this test: nothing else on the machine
    where = subprocess.run(
        ["python3", "-c", "import pi_vla_ros, sys\nfrom ament_index_python.packages import "
         "get_package_share_directory as share\nprint(pi_vla_ros.__file__)\nprint(share('pi_vla_ros'))"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=60, check=True).stdout.split()
    install = str(workspace / "install")
    assert all(path.startswith(install) for path in where), f"the installed package is not the one found: {where}"

    started = time.monotonic()
    sim = subprocess.Popen([str(workspace / "install/pi_vla_ros/lib/pi_vla_ros/pi_vla_sim"), "--ros-args",
                            "-p", "profile:=bimanual", "-p", "use_sim_time:=false"],
                           cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        probe = subprocess.run([sys.executable, "-c", PROBE, "40"], cwd=workspace, env=env, capture_output=True,
                               text=True, timeout=60)
        assert sim.poll() is None, f"pi_vla_sim exited early ({sim.returncode}):\n{sim.communicate()[1]}"
        assert probe.returncode == 0, f"no /clock from pi_vla_sim within 40 s:\n{probe.stdout}{probe.stderr}"
        up_s = time.monotonic() - started
        sim.send_signal(signal.SIGINT)
        sent = time.monotonic()
        try:
            out, err = sim.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("pi_vla_sim did not exit within 10 s of SIGINT", pytrace=False)
        exit_s = time.monotonic() - sent
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.communicate()
    print(f"pi_vla_sim: first /clock {up_s:.1f} s after start; exit code {sim.returncode} "
          f"{exit_s:.2f} s after SIGINT\nstderr:\n{err}")
    assert sim.returncode == 0 and "Traceback" not in err, f"pi_vla_sim exited {sim.returncode} on SIGINT:\n{err}"
