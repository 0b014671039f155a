#!/usr/bin/env bash
# System packages the ROS build and lint tests need (test/test_colcon_build.py, test/test_flake8.py,
# test/test_pep257.py, test/test_copyright.py, test/test_xmllint.py): colcon with colcon-ros, ament_package,
# catkin_pkg and the ament linters, from Debian (FACTS §12). They live in the system Python
# (/usr/lib/python3/dist-packages); the tests call them through /usr/bin/python3, not through .venv.
# Idempotent and quiet: a second run only checks. Needs root or sudo, and apt; elsewhere it says what is
# missing and leaves it to the tests to skip.
set -euo pipefail

packages=(
  colcon python3-colcon-core python3-colcon-ros python3-colcon-python-setup-py
  python3-colcon-package-selection python3-colcon-recursive-crawl python3-colcon-bash
  python3-ament-package python3-catkin-pkg
  python3-ament-flake8 python3-ament-pep257 python3-ament-copyright python3-ament-xmllint
  # the flake8 plugins ROS 2's ament_flake8 runs with (its package.xml exec_depends)
  python3-flake8-blind-except python3-flake8-builtins python3-flake8-class-newline
  python3-flake8-comprehensions python3-flake8-deprecated python3-flake8-docstrings
  python3-flake8-import-order python3-flake8-quotes
  # text to speech for the speech tests and benchmark (pi_vla_ros/speech/synth.py)
  espeak-ng
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "ci_deps: no apt-get; not installed: ${missing[*]} (the lint and colcon tests will skip)" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
  echo "ci_deps: not root and no sudo; not installed: ${missing[*]} (the lint and colcon tests will skip)" >&2
  exit 0
fi

echo "ci_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Only refresh the package lists when apt cannot find a candidate for what is missing.
if ! apt-get install -y -qq --no-install-recommends --simulate "${missing[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update -qq >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
