from glob import glob

from setuptools import find_packages, setup

package_name = "pi_vla_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml")),
        (f"share/{package_name}/urdf", glob("urdf/*.urdf")),
    ],
    # numpy/yaml come from rosdep on a ROS machine; the ML and simulator stack from pip.
    install_requires=["setuptools", "numpy", "pyyaml", "urdf-parser-py"],
    extras_require={
        "ml": ["torch==2.13.0", "transformers", "safetensors", "tokenizers", "scipy", "tqdm", "matplotlib"],
        "sim": ["mujoco", "rosbags"],
        # Recording and datasets: rosbag2 MCAP (rosbags), LeRobot parquet (pyarrow), mp4 video (PyAV bundles FFmpeg).
        "data": ["rosbags", "pyarrow", "av"],
        # ROS 2 Jazzy from PyPI where no ROS 2 install is sourced (scripts/setup.sh decides); OpenCV decodes
        # camera encodings and compressed images at the edge.
        "ros": ["ros-jazzy-rclpy[fastrtps]", "ros-jazzy-std-msgs", "ros-jazzy-sensor-msgs", "ros-jazzy-geometry-msgs",
                "ros-jazzy-trajectory-msgs", "ros-jazzy-diagnostic-msgs", "ros-jazzy-rosgraph-msgs",
                "ros-jazzy-lifecycle-msgs"],
        "edge": ["opencv-python-headless"],
        # Offline speech (pi_vla_ros/speech): PocketSphinx ships its English model; sounddevice needs PortAudio
        # (libportaudio2) only for a live microphone; scipy resamples WAV files.
        "speech": ["pocketsphinx>=5,<6", "sounddevice", "scipy"],
        # Policy serving across machines (pi_vla_ros/serving): openpi's websocket protocol, msgpack frames.
        "serve": ["websockets>=15", "msgpack>=1.0"],
        # cryptography makes the TLS tests' self-signed certificate. openpi-client (the tests' openpi peer) pins
        # numpy<2, which would downgrade numpy under torch: scripts/setup.sh installs it with --no-deps (it needs
        # only msgpack, websockets and numpy at run time).
        "test": ["pytest", "hypothesis", "cryptography"],
        # End-effector teleop: inverse kinematics from the URDF (Pinocchio, core/teleop.py says why).
        "teleop": ["pin"],
    },
    zip_safe=True,
    maintainer="pi_vla_ros maintainers",
    maintainer_email="maintainers@pi-vla-ros.invalid",
    description="pi-family VLA policies on ROS 2 robots",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "pi_vla_sim = pi_vla_ros.nodes.sim_node:main",
            "pi_vla_observation = pi_vla_ros.nodes.observation_node:main",
            "pi_vla_policy = pi_vla_ros.nodes.policy_node:main",
            "pi_vla_executor = pi_vla_ros.nodes.executor_node:main",
            "pi_vla_instruction = pi_vla_ros.nodes.instruction_node:main",
            "pi_vla_teleop = pi_vla_ros.nodes.teleop_node:main",
            "pi_vla_keyboard_teleop = pi_vla_ros.nodes.keyboard_teleop_node:main",
            "pi_vla_recorder = pi_vla_ros.nodes.recorder_node:main",
            "pi-vla = pi_vla_ros.cli:main",
        ],
    },
)
