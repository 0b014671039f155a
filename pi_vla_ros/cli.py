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

"""``pi-vla``: the command line. ``pi-vla launch <robot> --sim`` runs the node graph without ROS 2;
``collect`` / ``train`` / ``eval`` record demonstrations through the graph, train a policy on them and measure it
closed-loop through the graph; ``recap value`` / ``recap label`` prepare Recap's advantage-conditioned training.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
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

    launch_args = {"seed": args.seed, "allow_untrained": args.allow_untrained}
    for name in ("policy", "checkpoint", "profile"):
        if getattr(args, name):
            launch_args[name] = getattr(args, name)
    if args.processes:
        if args.fast:
            raise SystemExit("--fast (lockstep simulated time) needs one process: drop --processes")
        from pi_vla_ros import processes

        print(f"pi-vla: {args.robot} graph as one process per node, closed loop in the embedded simulator for "
              f"{args.duration} s (real time)", flush=True)
        report = processes.run(args.robot, args.duration, overrides=_parse_params(args.param),
                               monitor_priority=args.monitor_priority, **launch_args)
        print(processes_summary(report))
        failed = report["stopped_by"].startswith("node exited") or any(report["exit_codes"].values())
    else:
        report = _launch_in_process(args, launch_args)
        failed = not report["ok"]   # the policy server down at the end, or no chunk at all: report["why"]
        print(summary(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
        print(f"report written to {args.report}")
    return 1 if failed else 0


def _launch_in_process(args, launch_args) -> dict:
    """The graph in this process (:class:`~pi_vla_ros.runner.GraphRunner`); SIGINT/SIGTERM end the run early and
    still print the report.
    """
    import signal

    from pi_vla_ros.runner import GraphRunner

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with GraphRunner(args.robot, realtime=not args.fast, overrides=_parse_params(args.param),
                         **launch_args) as run:
            print(f"pi-vla: {args.robot} graph running closed loop in the embedded simulator for {args.duration} s "
                  f"({'fast, simulated time' if args.fast else 'real time'})", flush=True)
            step = max(1.0, args.duration / 10)
            t = 0.0
            try:
                while t < args.duration:
                    t = min(args.duration, t + step)
                    run.spin_until(t)
                    print(f"  sim t={run.sim_time():6.2f} s  commands={run.node('pi_vla_executor').core.stats.commands}"
                          f"  chunks={len(run.node('pi_vla_policy').chunk_log)}", flush=True)
            except KeyboardInterrupt as exc:
                print(f"pi-vla: {exc or 'SIGINT'}: stopping", flush=True)
            signal.signal(signal.SIGINT, signal.SIG_IGN)   # the clean-up must finish
            return run.report()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def processes_summary(report: dict) -> str:
    ex, pol = report["executor"], report["policy"]
    return "\n".join([
        f"{report['layout']}: {report['sim_s']:.1f} s sim in {report['wall_s']:.1f} s wall, "
        f"{report['cpu_s']} CPU s ({report['cpu_s_per_sim_s']} per sim s): {report['cpu_s_by_node']}",
        f"commands on {ex['topic']}: {ex['commands_seen']} seen, {ex['rate_hz_wall']} Hz wall, interval p50 "
        f"{ex['interval_ms_wall']['p50']} p99 {ex['interval_ms_wall']['p99']} max {ex['interval_ms_wall']['max']} ms; "
        f"executor: starvation {ex['starvation_ticks']}, watchdog trips {ex['watchdog_trips']} (listener at "
        f"{report.get('monitor_priority')})",
        f"policy: {pol['chunks']} chunks, latency p50 {pol['inference_latency_ms']['p50']} p95 "
        f"{pol['inference_latency_ms']['p95']} ms",
        f"exit codes: {report['exit_codes']} (stopped by {report['stopped_by']})",
        f"task: {report['task'].get('instruction')!r} success={report['task'].get('success')}",
    ])


def cmd_bench_model(args) -> int:
    from pi_vla_ros.benchmarks import model_bench as mb

    report = mb.run(configs=args.configs, sizes=args.sizes, dtypes=args.dtypes, threads=args.threads,
                    chunks=args.chunks, warmup=args.warmup, num_steps=args.steps, device=args.device,
                    context_len=args.context_len, gemm_sizes=args.gemm_sizes)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"benchmark written to {args.out}")
    return 0


def cmd_bench_soak(args) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.benchmarks.soak import soak

    report = soak(args.robot, args.duration, kill_every_s=args.kill_every, checkpoint=args.checkpoint,
                  policy=args.policy, params=_parse_params(args.param))
    s, ex = report["soak"], report["executor"]
    print(f"soak {args.duration:.0f} s: {ex['rate_hz_wall']} Hz wall, interval p99 {ex['interval_ms_wall']['p99']} ms, "
          f"starvation {ex['starvation_ticks']}, RSS {s['rss_mb_start']:.1f} -> {s['rss_mb_end']:.1f} MB "
          f"({s['rss_growth_mb_per_hour']} MB/h), unsafe commands {s['unsafe_commands']}")
    for k in s["kills"]:
        print(f"  kill at {k['at_s']} s: holding after {k['hold_s']} s, executing again after {k['resume_s']} s")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"report written to {args.out}")
    return 0


def cmd_bench_vi(args) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.benchmarks.vi_collect import vi_bench

    vi_bench(tuple(args.profiles), args.episodes, out=args.data, voice=args.voice, seed=args.seed,
             figure=args.figure, report=args.out)
    print(f"report written to {args.out}, figure to {args.figure}")
    return 0


def cmd_bench_speech(args) -> int:
    from pi_vla_ros.benchmarks.speech_bench import speech_bench

    speech_bench(args.profile, args.split, args.utterances, args.noise_clips, args.oov, args.node, args.out,
                 args.figure)
    print(f"report written to {args.out}, figure to {args.figure}")
    return 0


def cmd_bench_flow_fit(args) -> int:
    from pi_vla_ros.benchmarks.flow_fit import run

    run(args.checkpoints, args.dataset, args.out, profile=args.profile, episodes=args.episodes, batches=args.batches,
        seed=args.seed)
    return 0


def cmd_bench_subtask(args) -> int:
    from pi_vla_ros.benchmarks.subtask_fit import run

    run(args.checkpoint, args.dataset, args.out, profile=args.profile, episodes=args.episodes, every=args.every,
        boundary_s=args.boundary_s, from_steps=not args.free_text)
    return 0


def _add_bench(sub) -> None:
    from pi_vla_ros.benchmarks.model_bench import CONFIGS, DTYPES, SIZES

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="bench", required=True)
    _add_serve(sub, bench)
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
    p = bench.add_parser("soak", help="the graph in real time for a long while (RSS growth, rate), optionally killing "
                                      "its policy server every N seconds (time to hold and to resume)")
    p.add_argument("robot", nargs="?", default="bimanual", choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of real time")
    p.add_argument("--kill-every", type=float, default=0.0, metavar="S", help="SIGKILL the policy server every S s")
    p.add_argument("--policy", default="pi06_sim")
    p.add_argument("--checkpoint", default="checkpoints/bimanual_pi06_sim")
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--out", help="write the JSON report here")
    p.set_defaults(func=cmd_bench_soak)
    p = bench.add_parser("vi", help="verbal-instruction collection in the simulator: labels within 0.2 s of when "
                                    "their line was given, subtasks done, wall time, one episode's figure")
    p.add_argument("--profiles", nargs="+", default=["ur5e", "bimanual", "mobile_manipulator"],
                   choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--episodes", type=int, default=17, help="episodes per profile")
    p.add_argument("--voice", default="typed", choices=["typed", "spoken"],
                   help="how the instructor's lines reach the robot: typed on /pi_vla/instruction, or spoken "
                        "(espeak-ng) into the speech recognizer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default="runs/bench/vi_collect", help="datasets go here (one per profile)")
    p.add_argument("--figure", default="runs/bench/vi_collect_episode.png")
    p.add_argument("--out", default="runs/bench/vi_collect.json", help="write the JSON report here")
    p.set_defaults(func=cmd_bench_vi)
    p = bench.add_parser("flow-fit", help="flow-matching error of checkpoints on a dataset by noise level (t buckets), "
                                          "on the robot's own action dims")
    p.add_argument("checkpoints", nargs="+", help="checkpoint directories")
    p.add_argument("--dataset", required=True, help="LeRobot dataset (its first --episodes episodes are used)")
    p.add_argument("--profile", help="robot profile (default: the dataset's robot_type)")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--batches", type=int, default=6, help="batches of 64 per noise level")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the JSON report here")
    p.set_defaults(func=cmd_bench_flow_fit)
    p = bench.add_parser("subtask", help="a hierarchical checkpoint's subtask predictions on a dataset's frames "
                                         "against their annotations (held-out VI episodes)")
    p.add_argument("checkpoint", help="checkpoint directory of a subtask-predicting policy (pi05_hier*)")
    p.add_argument("--dataset", required=True, help="LeRobot dataset with subtask annotations")
    p.add_argument("--profile", help="robot profile (default: the dataset's robot_type)")
    p.add_argument("--episodes", type=int, help="the first N episodes (default: all)")
    p.add_argument("--every", type=int, default=10, help="score every N-th frame of each episode")
    p.add_argument("--boundary-s", type=float, default=0.5,
                   help="frames this close to a change of annotation are reported apart")
    p.add_argument("--free-text", action="store_true",
                   help="decode the subtask as free text even when the task has several steps (the policy node's "
                        "subtask_from_steps:=false); by default it is chosen among them, as the node does")
    p.add_argument("--out", help="write the JSON report here")
    p.set_defaults(func=cmd_bench_subtask)
    p = bench.add_parser("speech", help="spoken commands: exact-subtask accuracy on synthesized utterances not used "
                                        "for tuning, false triggers on noise, latency (runs/bench/speech.json)")
    p.add_argument("--profile", default="bimanual", choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--split", default="eval", choices=["eval", "eval2", "tune"],
                   help="eval2: held out from the second tuning round (README figures); eval: the first round's")
    p.add_argument("--utterances", type=int, default=240)
    p.add_argument("--noise-clips", type=int, default=200)
    p.add_argument("--oov", type=int, default=60, help="out-of-vocabulary sentences")
    p.add_argument("--node", type=int, default=20, help="utterances played in real time through the instruction node")
    p.add_argument("--out", default="runs/bench/speech.json")
    p.add_argument("--figure", default="runs/bench/speech.png")
    p.set_defaults(func=cmd_bench_speech)


def cmd_serve(args) -> int:
    import logging

    from pi_vla_ros.core.inference import PolicySpec, warm_up
    from pi_vla_ros.serving.client import ensure_api_key, read_api_key, server_ssl_context
    from pi_vla_ros.serving.server import PolicyServer, is_loopback

    if not is_loopback(args.host) and not args.tls_cert and not args.allow_insecure_remote:   # before loading
        raise ValueError(f"refusing to serve on {args.host} without TLS: pass --tls-cert/--tls-key, bind 127.0.0.1, "
                         "or override with --allow-insecure-remote")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    name, profile = _checkpoint_policy(args.policy, args.profile)
    if args.api_key_file or os.environ.get("PI_VLA_API_KEY"):
        key, where = read_api_key(args.api_key_file, "PI_VLA_API_KEY"), args.api_key_file or "$PI_VLA_API_KEY"
    else:
        key, created = ensure_api_key(_DEFAULT_KEY_FILE)
        where = _DEFAULT_KEY_FILE
        if created:
            print(f"pi-vla serve: new API key (stored in {where}, mode 0600): {key}\n  clients send the header "
                  f"'Authorization: Api-Key <key>' (openpi: WebsocketClientPolicy(host, port, api_key=...); the "
                  f"policy node: remote_api_key_file or $PI_VLA_API_KEY)", flush=True)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    tls = server_ssl_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    policy, prof = PolicySpec(name, profile, args.policy, False, args.device, args.seed, args.threads).load()
    warm_up(policy, prof)   # first-call costs before the first client; a non-finite policy never serves
    server = PolicyServer(policy, prof, api_key=key, host=args.host, port=args.port, ssl_context=tls,
                          allow_insecure_remote=args.allow_insecure_remote,
                          max_frame_bytes=int(args.max_frame_mb * 2**20), rate_hz=args.rate, burst=args.burst,
                          max_clients=args.max_clients)
    print(f"pi-vla serve: {name} for {profile} (checkpoint {args.policy}) on {server.url} (API key from {where})",
          flush=True)
    import signal

    def stop(signum, _frame):   # SIGTERM (systemd, docker stop) as Ctrl-C: close connections, exit 0
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


_DEFAULT_KEY_FILE = "~/.config/pi_vla_ros/api_key"


def _checkpoint_policy(checkpoint: str, profile: str | None) -> tuple[str, str]:
    """(registry name, profile) of a checkpoint directory; the profile by default is the one of config/ whose action
    joints are the checkpoint's action names.
    """
    from pi_vla_ros.profiles import load_profile

    config = json.loads((Path(checkpoint) / "config.json").read_text()).get("config", {})
    if profile:
        return config["name"], profile
    matches = [p for p in ("ur5e", "bimanual", "mobile_manipulator")
               if list(load_profile(p).action_names) == list(config.get("action_names", []))]
    if len(matches) != 1:
        raise ValueError(f"{checkpoint}: pass --profile (the action names match {matches or 'no shipped profile'})")
    return config["name"], matches[0]


def cmd_bench_serve(args) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from pi_vla_ros.benchmarks.serve_bench import run

    report = run(args.checkpoint, args.profile, requests=args.requests, warmup=args.warmup, delay_ms=args.delay_ms,
                 episodes=args.episodes, seed=args.seed, base_latency_s=args.base_latency,
                 execute_steps=args.execute_steps, baseline=not args.no_baseline, plot=args.figure,
                 image_encoding=args.image_encoding)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"report written to {args.out}, figure to {args.figure}")
    return 0


def _add_serve(sub, bench) -> None:
    p = sub.add_parser("serve", help="serve a policy over openpi's websocket protocol (API key, TLS, loopback by "
                                     "default): openpi clients and the policy node's inference_mode remote use it")
    p.add_argument("--policy", required=True, metavar="CKPT", help="checkpoint directory")
    p.add_argument("--profile", help="robot profile (default: the shipped profile whose joints the checkpoint acts "
                                     "on)")
    p.add_argument("--host", default="127.0.0.1", help="bind address; beyond loopback TLS is required")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", default="", help=f"file with the API key (default: $PI_VLA_API_KEY, else "
                                                      f"{_DEFAULT_KEY_FILE}, created with a new key at first start)")
    p.add_argument("--tls-cert", default="", help="PEM certificate (chain): serve wss://")
    p.add_argument("--tls-key", default="", help="PEM private key of --tls-cert")
    p.add_argument("--allow-insecure-remote", action="store_true",
                   help="bind beyond loopback without TLS (the key and observations cross the network in clear)")
    p.add_argument("--max-frame-mb", type=float, default=16.0, help="largest request accepted")
    p.add_argument("--rate", type=float, default=30.0, help="requests per second per connection (token bucket)")
    p.add_argument("--burst", type=int, default=30)
    p.add_argument("--max-clients", type=int, default=8)
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:N)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true", help="log every request's timing")
    p.set_defaults(func=cmd_serve)
    p = bench.add_parser("serve", help="loopback round trip over local inference, bytes raw vs JPEG, closed-loop "
                                       "success served with an added network delay, RTC on vs off")
    p.add_argument("--checkpoint", default="checkpoints/bimanual_pi06_sim")
    p.add_argument("--profile", default="bimanual")
    p.add_argument("--requests", type=int, default=100, help="timed requests per mode (0: skip)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--delay-ms", type=float, default=100.0, help="round-trip delay the proxy adds")
    p.add_argument("--episodes", type=int, default=20, help="closed-loop episodes per condition (0: skip)")
    p.add_argument("--seed", type=int, default=100000)
    p.add_argument("--base-latency", type=float, default=0.1, help="simulated inference latency without network")
    p.add_argument("--execute-steps", type=int, default=35)
    p.add_argument("--no-baseline", action="store_true", help="skip the local (no network) evaluation")
    p.add_argument("--image-encoding", choices=["raw", "jpeg"], default="raw", help="closed loop: how images go")
    p.add_argument("--figure", default="docs/images/serve_bench.png")
    p.add_argument("--out", default="runs/bench/serve.json")
    p.set_defaults(func=cmd_bench_serve)


def _env_for_graph() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")


def cmd_collect(args) -> int:
    _env_for_graph()
    from pi_vla_ros.data.collect import collect

    if (args.takeover_after is not None or args.takeover_on_miss is not None) and not args.policy:
        raise ValueError("--takeover-after / --takeover-on-miss correct a policy's rollouts: give --policy")
    summary = collect(args.profile, args.out, args.episodes, seed=args.seed, expert=args.expert,
                      keep_bags=not args.no_bags, progress=not args.no_progress, policy=args.policy,
                      params=_parse_params(args.param), takeover_after_s=args.takeover_after,
                      takeover_on_miss_s=args.takeover_on_miss,
                      video_codec=args.video_codec, subtask_format=args.subtask_format, vi=args.vi,
                      vi_style=args.vi_style, voice=args.voice, fumble_p=args.fumble)
    if args.report:
        Path(args.report).write_text(json.dumps(summary, indent=2))
    if args.vi:
        v = summary["vi"]
        print(f"VI: {v['subtasks_done']}/{v['subtasks']} subtasks done; subtask labels within {v['tolerance_s']} s of "
              f"their line: {v['labels_within']}/{v['subtask_labels']}; events: {v['events_within']}/{v['events']}")
    return 0


def cmd_convert(args) -> int:
    from pi_vla_ros.data.rosbag import bag_to_lerobot

    for bag in args.bags:
        episode = bag_to_lerobot(bag, args.profile, args.out, task=args.task, vcodec=args.video_codec,
                                 subtask_format=args.subtask_format, **({"subtask_success": True} if args.vi else {}))
        print(f"{bag} -> episode {episode} of {args.out}")
    return 0


def _name_map(pairs: list[str], flag: str = "--camera-map") -> dict[str, str] | None:
    """Repeated ``FLAG DATASET_NAME=PROFILE_NAME`` -> {dataset name: profile name}."""
    out = {}
    for pair in pairs:
        src, eq, dst = pair.partition("=")
        if not eq or not src or src in out:
            raise SystemExit(f"{flag} {pair!r}: expected DATASET_NAME=PROFILE_NAME, each dataset name once")
        out[src] = dst
    return out or None


def _add_name_maps(p) -> None:
    """--camera-map / --joint-map: read a dataset whose camera or joint names are not the profile's."""
    p.add_argument("--camera-map", action="append", default=[], metavar="DATASET_CAMERA=PROFILE_CAMERA",
                   help="train the profile camera on this dataset camera, e.g. --camera-map front=cam_high "
                        "(DATASET_CAMERA= leaves it out); unmapped cameras must carry the profile's names")
    p.add_argument("--joint-map", action="append", default=[], metavar="DATASET_NAME=PROFILE_JOINT",
                   help="state/action name of the dataset -> profile joint, where names differ by more than order "
                        "and LeRobot's .pos suffix, e.g. --joint-map shoulder_pan=shoulder_pan_joint")


def cmd_train(args) -> int:
    from pi_vla_ros.training.trainer import TrainConfig, train

    cfg = TrainConfig(policy=args.policy, dataset=args.dataset, out=args.out, profile=args.profile or "",
                      steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                      warmup_steps=args.warmup_steps, ema_decay=args.ema, precision=args.precision,
                      gradient_checkpointing=args.gradient_checkpointing, freeze_vlm=not args.train_vlm,
                      cache_prefix=not args.no_cache, only_success=not args.include_failures,
                      skip_superseded=not args.keep_superseded, skip_corrected=not args.keep_corrected,
                      save_every=args.save_every, seed=args.seed, threads=args.threads, device=args.device,
                      resume=args.resume, max_minutes=args.max_minutes, progress=not args.no_progress,
                      overrides={k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)} or None,
                      augment_shift=args.augment_shift, init=args.init or "", advantages=args.advantages or "",
                      advantage_dropout=args.advantage_dropout, target_clip=args.target_clip,
                      loss_alpha=args.loss_alpha, knowledge_insulation=not args.no_insulation, stage=args.stage,
                      camera_map=_name_map(args.camera_map), joint_map=_name_map(args.joint_map, "--joint-map"))
    summary = train(cfg)
    print(json.dumps({k: v for k, v in summary.items()}, indent=1))
    return 0


def cmd_recap_value(args) -> int:
    from pi_vla_ros.profiles import load_profile
    from pi_vla_ros.training.data import dataset_profile
    from pi_vla_ros.training.recap import RecapConfig, train_value

    profile = args.profile or dataset_profile(args.dataset)
    recap = RecapConfig.for_profile(load_profile(profile), fail_penalty=args.fail_penalty)
    train_value(args.dataset, args.out, profile=profile, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                seed=args.seed, threads=args.threads, recap=recap, progress=not args.no_progress,
                camera_map=_name_map(args.camera_map), joint_map=_name_map(args.joint_map, "--joint-map"))
    return 0


def cmd_recap_label(args) -> int:
    from pi_vla_ros.training.recap import label_advantages

    human = [e for part in (args.human_episodes or "").split(",") if part
             for e in (range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1))]
    summary = label_advantages(args.dataset, args.value, args.out, positive_fraction=args.positive_fraction,
                               human_episodes=human, progress=not args.no_progress,
                               log_fn=lambda m: print(m, file=sys.stderr), camera_map=_name_map(args.camera_map),
                               joint_map=_name_map(args.joint_map, "--joint-map"))
    print(json.dumps(summary, indent=1))
    return 0


def cmd_compare(args) -> int:
    from pi_vla_ros.evaluation.compare import compare, table

    rows = compare(args.reports, args.label, args.out)
    print(table(rows))
    if args.out:
        print(f"chart: {args.out}")
    return 0


def cmd_eval(args) -> int:
    _env_for_graph()
    from pi_vla_ros.evaluation.closed_loop import evaluate

    modes = (("_swapped", args.swap_instruction), ("_multistep", args.multi_step and not args.hierarchical),
             ("_hier", args.hierarchical), ("_override", args.override_next))
    out_dir = args.out or (str(Path(args.policy) / ("eval" + "".join(m for m, on in modes if on)))
                           if args.policy != "expert" else None)
    report = evaluate(args.profile, args.policy, args.episodes, seed=args.seed, checkpoint=args.checkpoint,
                      swap_instruction=args.swap_instruction, out_dir=out_dir, media_episodes=args.media_episodes,
                      progress=not args.no_progress, params=_parse_params(args.param), multi_step=args.multi_step,
                      hierarchical=args.hierarchical or args.override_next, override_next=args.override_next,
                      override_at_s=args.override_at)
    summary = {k: v for k, v in report.items() if k != "per_episode"}
    print(json.dumps(summary, indent=1))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 0


def cmd_import_lerobot(args) -> int:
    from pi_vla_ros.policies.pi0.lerobot import import_lerobot
    from pi_vla_ros.profiles import load_profile

    profile = load_profile(args.profile)
    policy = import_lerobot(args.checkpoint, profile, args.out, tokenizer=args.tokenizer,
                            camera_map=_name_map(args.camera_map))
    cfg = policy.config
    print(json.dumps({"out": args.out, "policy": cfg.name, "norm_mode": cfg.norm_mode, "horizon": cfg.horizon,
                      "image_slots": list(cfg.image_keys), "action_names": list(cfg.action_names)}, indent=1))
    return 0


def _add_import(sub) -> None:
    p = sub.add_parser("import", help="convert another framework's checkpoint into a pi_vla_ros checkpoint")
    isub = p.add_subparsers(dest="import_command", required=True)
    lr = isub.add_parser("lerobot", help="a LeRobot pi0 / pi05 checkpoint (save_pretrained directory) for a profile")
    lr.add_argument("checkpoint", help="LeRobot's pretrained_model directory (config.json, model.safetensors, "
                                       "policy_preprocessor.json, ...)")
    lr.add_argument("--profile", required=True, help="robot profile the policy drives")
    lr.add_argument("--tokenizer", required=True,
                    help="LOCAL directory with the prompt tokenizer (PaliGemma's, as LeRobot uses)")
    lr.add_argument("--out", required=True, help="pi_vla_ros checkpoint directory to write")
    lr.add_argument("--camera-map", action="append", default=[], metavar="LEROBOT_CAMERA=PROFILE_CAMERA",
                    help="e.g. --camera-map front=cam_high; unmapped cameras must carry the profile's names")
    lr.set_defaults(func=cmd_import_lerobot)


def _add_learning(sub) -> None:
    """collect / train / eval."""
    p = sub.add_parser("collect", help="record demonstrations (or a policy's rollouts) through the node graph into a "
                                       "LeRobot dataset")
    p.add_argument("--profile", required=True, help="robot profile (ur5e, bimanual, mobile_manipulator or a YAML)")
    p.add_argument("--expert", default="scripted", choices=["scripted"], help="who drives the robot")
    p.add_argument("--policy", help="a checkpoint directory: record this policy's own rollouts instead of the expert")
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="node parameter for policy rollouts, e.g. policy.execute_steps=16")
    p.add_argument("--takeover-after", type=float, metavar="S",
                   help="policy rollouts: the scripted expert corrects episodes not finished after S seconds")
    p.add_argument("--takeover-on-miss", type=float, metavar="S",
                   help="policy rollouts: the scripted expert corrects as soon as a gripper has been closed on nothing "
                        "for S seconds (a missed grasp; e.g. 0.4)")
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--out", required=True, help="dataset directory (created, or appended to)")
    p.add_argument("--seed", type=int, default=0, help="episode i uses seed + i")
    p.add_argument("--no-bags", action="store_true", help="delete each episode's MCAP bag after conversion")
    p.add_argument("--report", help="write the collection summary (JSON) here")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--video-codec", choices=["av1", "h264"],
                   help="camera video codec (default: AV1 when PyAV has SVT-AV1, as LeRobot records; appending "
                        "to an existing dataset uses its codec)")
    p.add_argument("--subtask-format", choices=["language", "index"], default="language",
                   help="a new dataset's subtask annotations: LeRobot's language columns (its main branch), or "
                        "subtask_index + meta/subtasks.parquet, which released LeRobot (0.4.x) opens")
    p.add_argument("--vi", action="store_true",
                   help="verbal-instruction collection: the multi-step task, a scripted instructor gives the subtasks "
                        "(and next, success/fail), the expert (or --policy) follows them; per-frame subtask labels, "
                        "language events and per-subtask success in the dataset")
    p.add_argument("--vi-style", default="", choices=["", "steps", "queue"],
                   help="the instructor: one subtask at a time (steps), the whole task then 'next' (queue); '' draws "
                        "per episode")
    p.add_argument("--voice", default="typed", choices=["typed", "spoken"],
                   help="how the instructor's lines reach the robot: typed on /pi_vla/instruction, or spoken "
                        "(espeak-ng) into the speech recognizer")
    p.add_argument("--fumble", type=_probability, default=0.0, metavar="P",
                   help="expert demos: with probability P a subtask's first grasp is off across the fingers, so the "
                        "episode shows the miss and the expert's retry (recovery data)")
    p.set_defaults(func=cmd_collect)
    p = sub.add_parser("convert", help="rosbag2 bags recorded on a robot (one episode each, e.g. by pi_vla_recorder) "
                                       "-> episodes appended to a LeRobot dataset")
    p.add_argument("bags", nargs="+", help="bag directories, one episode each, in order")
    p.add_argument("--profile", required=True, help="robot profile the bags were recorded on")
    p.add_argument("--out", required=True, help="dataset directory (created, or appended to)")
    p.add_argument("--task", help="the episodes' task (default: the first language in each bag)")
    p.add_argument("--vi", action="store_true", help="a new dataset declares next.subtask_success (from the "
                                                     "person's 'success' marks)")
    p.add_argument("--video-codec", choices=["av1", "h264"])
    p.add_argument("--subtask-format", choices=["language", "index"], default="language")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("train", help="train a policy on a LeRobot dataset (flow matching)")
    p.add_argument("--policy", required=True, help="registry name, e.g. pi06_sim, pi06_tiny, pi0_tiny, pi05_tiny")
    p.add_argument("--dataset", required=True)
    p.add_argument("--out", required=True, help="checkpoint directory (loadable with --checkpoint)")
    p.add_argument("--profile", help="robot profile (default: the dataset's robot_type)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=200)
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the weights (0: off)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="auto: bf16 autocast on CUDA and on CPUs with native bf16")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--train-vlm", action="store_true", help="pi0/pi05: also train the VLM (default: expert only)")
    p.add_argument("--no-cache", action="store_true", help="pi06: run the frozen VLM in every step")
    p.add_argument("--loss-alpha", type=float, default=10.0, help="π0.5 recipe: loss = CE + ALPHA * flow")
    p.add_argument("--no-insulation", action="store_true",
                   help="π0.5 recipe: let the flow loss reach the VLM (no knowledge insulation)")
    p.add_argument("--stage", default="post", choices=["pre", "post"],
                   help="π0.5 recipe: pre = next-token loss only (text + FAST tokens), post = CE + alpha * flow")
    p.add_argument("--include-failures", action="store_true", help="also train on unsuccessful episodes")
    p.add_argument("--keep-corrected", action="store_true",
                   help="also draw samples from a corrected rollout's frames before the correction took over (the "
                        "policy's own mistake); by default only the correction is learned")
    p.add_argument("--keep-superseded", action="store_true",
                   help="also draw samples from superseded attempts (frames of a subtask that was started again "
                        "later in its episode, e.g. a missed grasp before the retry); by default only the retry "
                        "is learned")
    p.add_argument("--save-every", type=int, default=0, help="checkpoint every N steps (0: at the end)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this many minutes")
    p.add_argument("--augment-shift", type=int, default=0, metavar="PX",
                   help="random image shifts of up to +-PX pixels (training-time augmentation)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a policy config field, e.g. --set obs_width=32 --set expert.depth=2")
    p.add_argument("--init", metavar="CKPT", help="fine-tune from this checkpoint (weights, norm stats, tokenizer)")
    p.add_argument("--advantages", metavar="LABELS", help="Recap: train advantage-conditioned on every episode with "
                                                          "these labels (pi-vla recap label)")
    p.add_argument("--advantage-dropout", type=float, default=0.3, help="Recap: P(no indicator in a prompt)")
    p.add_argument("--target-clip", type=float, default=5.0,
                   help="clamp normalized action targets to +-this (0: off); matters when fine-tuning with --init")
    _add_name_maps(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("recap", help="Recap (pi*0.6): value function and advantage labels for a dataset")
    rsub = p.add_subparsers(dest="recap_command", required=True)
    v = rsub.add_parser("value", help="train the distributional value function on every episode")
    v.add_argument("--dataset", required=True)
    v.add_argument("--out", required=True, help="value checkpoint directory")
    v.add_argument("--profile", default="", help="default: the dataset's robot_type")
    v.add_argument("--steps", type=int, default=1500)
    v.add_argument("--batch-size", type=int, default=64)
    v.add_argument("--lr", type=float, default=1e-3)
    v.add_argument("--fail-penalty", type=float, default=0.5, help="C_fail, in units of the longest episode")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--threads", type=int, default=1)
    _add_name_maps(v)
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(func=cmd_recap_value)
    lab = rsub.add_parser("label", help="per-frame advantages and the positive/negative indicator (parquet)")
    lab.add_argument("--dataset", required=True)
    lab.add_argument("--value", required=True, help="value checkpoint directory")
    lab.add_argument("--out", required=True, help="labels file (.parquet)")
    lab.add_argument("--positive-fraction", type=float, help="default: the value checkpoint's (0.4)")
    lab.add_argument("--human-episodes", metavar="A-B,C", help="episodes a person drove throughout (teleoperated "
                                                               "demonstrations): always positive, like corrections")
    _add_name_maps(lab)
    lab.add_argument("--no-progress", action="store_true")
    lab.set_defaults(func=cmd_recap_label)

    p = sub.add_parser("eval", help="closed-loop episodes through the node graph in the simulator")
    p.add_argument("--profile", required=True)
    p.add_argument("--policy", required=True, help="checkpoint directory, or 'expert' for the scripted expert")
    p.add_argument("--checkpoint", help="checkpoint directory when --policy is a registry name")
    p.add_argument("--episodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=100000, help="episode i uses seed + i (keep clear of training seeds)")
    p.add_argument("--swap-instruction", action="store_true", help="name the other cube than the seed would")
    p.add_argument("--multi-step", action="store_true", help="the pick_place_sequence task: every cube into the bowl "
                   "in the order the instruction names them; reports subtasks done")
    p.add_argument("--hierarchical", action="store_true", help="implies --multi-step; a policy that predicts subtasks "
                   "(e.g. pi05_hier_sim) gets the whole instruction as its task (/pi_vla/task); reports subtask "
                   "accuracy per 0.02 s frame against the expert's annotations, in total and by source")
    p.add_argument("--override-next", action="store_true", help="implies --hierarchical; at --override-at a person "
                   "names the next subtask (typed on /pi_vla/instruction), says 'clear' once it is done; reports how "
                   "often the policy followed and whether every cube still reached the bowl")
    p.add_argument("--override-at", type=float, default=1.0, help="--override-next: seconds into the episode")
    p.add_argument("--out", help="directory for eval.json and the images (default: <checkpoint>/eval[_swapped]"
                   "[_multistep|_hier][_override])")
    p.add_argument("--media-episodes", type=int, default=2, help="camera strips and joint plots for the first N")
    p.add_argument("--report", help="also write the full report (JSON) here")
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("compare", help="evaluation reports side by side: success with its 95%% interval, a chart")
    p.add_argument("reports", nargs="+", help="reports written by `pi-vla eval --report`")
    p.add_argument("--label", action="append", default=[], help="a name per report, in order (default: checkpoint)")
    p.add_argument("--out", help="bar chart (PNG) here")
    p.set_defaults(func=cmd_compare)


def cmd_teleop(args) -> int:
    if not args.sim:
        raise SystemExit("without --sim there is no robot here: on a real robot use `ros2 launch pi_vla_ros "
                         f"{args.robot}.launch.py teleop:={args.mode}` (and `ros2 run pi_vla_ros "
                         "pi_vla_keyboard_teleop`)")
    from pi_vla_ros import teleop_session

    overrides = _parse_params(args.param)
    if args.arm:
        overrides.setdefault("pi_vla_teleop", {})["twist_arm"] = args.arm
    launch_args = {"seed": args.seed} | {k: getattr(args, k) for k in ("policy", "checkpoint") if getattr(args, k)}
    report = teleop_session.run(args.robot, args.mode, duration=args.duration, overrides=overrides, **launch_args)
    print(json.dumps(report, indent=1))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 0


def _add_teleop(sub) -> None:
    p = sub.add_parser("teleop", help="drive the simulated robot from this terminal's keyboard, in real time")
    p.add_argument("robot", choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--sim", action="store_true", help="the embedded MuJoCo simulator (required: no robot here)")
    p.add_argument("--mode", choices=["twist", "leader"], default="twist",
                   help="twist: the keyboard moves a TCP; leader: leader arms' joint states (no keyboard)")
    p.add_argument("--arm", help="the arm the keyboard drives (a name in the profile's sim.arms; default the first)")
    p.add_argument("--duration", type=float, default=float("inf"),
                   help="seconds of simulated time (default: until x or Ctrl-C)")
    p.add_argument("--policy", help="also run this policy config: it has the robot whenever the person gives it back")
    p.add_argument("--checkpoint", help="policy checkpoint directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--report", help="write the session's counters (JSON) here")
    p.set_defaults(func=cmd_teleop)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not a probability (0-1)")
    return value


def _priority(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 99:
        raise argparse.ArgumentTypeError(f"{value} is not a SCHED_FIFO priority (0-99; 0: normal scheduling)")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pi-vla", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("launch", help="run a robot's node graph on rclpy (without launch_ros)")
    p.add_argument("robot", choices=["ur5e", "bimanual", "mobile_manipulator"])
    p.add_argument("--sim", action="store_true", help="close the loop through the embedded MuJoCo simulator")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of simulated time")
    p.add_argument("--report", help="write the run report (JSON) here")
    p.add_argument("--fast", action="store_true", help="simulated time, as fast as possible, deterministic")
    p.add_argument("--processes", action="store_true",
                   help="one process per node (their console scripts), as ros2 launch starts them")
    p.add_argument("--monitor-priority", type=_priority, default=40, metavar="0-99",
                   help="--processes: SCHED_FIFO priority of the measuring listener, as a controller manager's "
                        "(0: normal scheduling)")
    p.add_argument("--policy", help="policy config name")
    p.add_argument("--checkpoint", help="policy checkpoint directory")
    p.add_argument("--allow-untrained", action="store_true", help="run a policy with random weights")
    p.add_argument("--profile", help="robot profile YAML overriding config/<robot>.yaml")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--param", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.set_defaults(func=cmd_launch)
    _add_bench(sub)
    _add_teleop(sub)
    _add_learning(sub)
    _add_import(sub)
    args = parser.parse_args(argv)
    if hasattr(signal, "SIGUSR1") and sys.__stderr__ is not None:
        # `kill -USR1 <pid>` prints every thread's stack: what a stuck run is waiting on (the real stderr: a
        # captured sys.stderr, as under pytest, has no file descriptor)
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)
    try:
        return args.func(args)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        # a wrong path, a bad value, a node that would not start: one line and a non-zero exit, not a traceback
        # (PI_VLA_TRACEBACK=1 shows the traceback for debugging)
        if os.environ.get("PI_VLA_TRACEBACK"):
            raise
        print(f"pi-vla {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
