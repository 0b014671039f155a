#!/usr/bin/env bash
# One-time set-up on a fresh machine: system GL for headless MuJoCo rendering, a venv, the package.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Headless rendering needs EGL (Mesa's software renderer is fine on a CPU-only machine).
if ! python3 -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('EGL') else 1)"; then
  echo "setup: installing libegl1 + Mesa (headless rendering)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libegl1 libgl1-mesa-dri >/dev/null
fi

# ROS 2: a sourced install (ROS_DISTRO set, rclpy importable) is used as it is, through a venv that sees the
# system site-packages; elsewhere ROS 2 Jazzy's rclpy, Fast DDS and messages come from PyPI into the venv.
extras="ml,sim,data,edge,speech,test,teleop,serve"
if [ -n "${ROS_DISTRO:-}" ] && python3 -c "import rclpy" 2>/dev/null; then
  echo "setup: using the sourced ROS 2 $ROS_DISTRO"
  venv_args="--system-site-packages"
else
  extras="$extras,ros"
  venv_args=""
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv $venv_args .venv
fi
if ! .venv/bin/python -c "import pi_vla_ros, torch, mujoco, transformers, rosbags, pyarrow, av, scipy, tqdm, matplotlib, pytest, hypothesis, cv2, rclpy, sensor_msgs, lifecycle_msgs, pocketsphinx, pinocchio, websockets, msgpack, cryptography, openpi_client" 2>/dev/null; then
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip 2>&1 | grep -v WARNING || true
  # torch first and pinned: anything unpinned would pull several GB of CUDA wheels.
  .venv/bin/pip install -q "torch==2.13.0" 2>&1 | grep -v WARNING || true
  .venv/bin/pip install -q -e ".[$extras]" 2>&1 | grep -v WARNING || true
  # openpi's own client for the serving tests, without its numpy<2 pin (see setup.py's "test" extra)
  .venv/bin/pip install -q --no-deps "openpi-client==0.1.2" 2>&1 | grep -v WARNING || true
fi
.venv/bin/python -c "import pi_vla_ros, torch, mujoco, transformers, rosbags, pyarrow, av, cv2, rclpy, sensor_msgs" \
  || { echo "setup: dependency installation failed" >&2; exit 1; }
