"""``pi-vla``: the command line. ``pi-vla launch <robot> --sim`` runs the node graph without ROS 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml


def _parse_params(items: list[str]) -> dict[str, dict]:
    """``node.param=value`` (value parsed as YAML) -> {node: {param: value}}."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot:
            raise SystemExit(f"--param expects node.param=value, got {item!r}")
        out.setdefault(node if node.startswith("pi_vla_") else f"pi_vla_{node}", {})[param] = yaml.safe_load(value)
    return out


def cmd_launch(args) -> int:
    if not args.sim:
        raise SystemExit("without --sim there is no robot here: on a real robot use "
                         f"`ros2 launch pi_vla_ros {args.robot}.launch.py`")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.report import summary
    from pi_vla_ros.runner import GraphRunner

    launch_args = {"seed": args.seed, "allow_untrained": args.allow_untrained}
    for name in ("policy", "checkpoint", "profile"):
        if getattr(args, name):
            launch_args[name] = getattr(args, name)
    with GraphRunner(args.robot, realtime=not args.fast, overrides=_parse_params(args.param), **launch_args) as run:
        print(f"pi-vla: {args.robot} graph running closed loop in the embedded simulator for {args.duration} s "
              f"({'fast, simulated time' if args.fast else 'real time'})", flush=True)
        step = max(1.0, args.duration / 10)
        t = 0.0
        while t < args.duration:
            t = min(args.duration, t + step)
            run.spin_until(t)
            print(f"  sim t={run.sim_time():6.2f} s  commands={run.node('pi_vla_executor').core.stats.commands}"
                  f"  chunks={len(run.node('pi_vla_policy').chunk_log)}", flush=True)
        report = run.report()
    print(summary(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
        print(f"report written to {args.report}")
    return 0


def cmd_bench_model(args) -> int:
    from pi_vla_ros.benchmarks import model_bench as mb

    report = mb.run(configs=args.configs, sizes=args.sizes, dtypes=args.dtypes, threads=args.threads,
                    chunks=args.chunks, warmup=args.warmup, num_steps=args.steps, device=args.device,
                    context_len=args.context_len, gemm_sizes=args.gemm_sizes)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"benchmark written to {args.out}")
    return 0


def _add_bench(sub) -> None:
    from pi_vla_ros.benchmarks.model_bench import CONFIGS, DTYPES, SIZES

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    p = bench.add_parser("model", help="chunk latency, FLOPs, GFLOP/s vs this machine's GEMM peak, memory")
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--sizes", nargs="+", choices=SIZES, default=list(SIZES),
                   help="full-size models are skipped when memory is short")
    p.add_argument("--dtypes", nargs="+", choices=list(DTYPES), default=list(DTYPES))
    p.add_argument("--threads", nargs="+", type=int, help="CPU thread counts (default: torch's)")
    p.add_argument("--chunks", type=int, default=20, help="timed chunks per model (after --warmup)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="denoising steps per chunk")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--context-len", type=int, help="context tokens for pi06-expert (default: tiny 144, full 256)")
    p.add_argument("--gemm-sizes", nargs="+", type=int, default=[1024, 2048], help="square GEMMs for the peak")
    p.add_argument("--out", help="write the JSON report here")
    p.set_defaults(func=cmd_bench_model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pi-vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("launch", help="run a robot's node graph in-process (no ROS 2 needed)")
    p.add_argument("robot", choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--sim", action="store_true", help="close the loop through the embedded MuJoCo simulator")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of simulated time")
    p.add_argument("--report", help="write the run report (JSON) here")
    p.add_argument("--fast", action="store_true", help="simulated time, as fast as possible, deterministic")
    p.add_argument("--policy", help="policy config name")
    p.add_argument("--checkpoint", help="policy checkpoint directory")
    p.add_argument("--allow-untrained", action="store_true", help="run a policy with random weights")
    p.add_argument("--profile", help="robot profile YAML overriding config/<robot>.yaml")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.set_defaults(func=cmd_launch)
    _add_bench(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
