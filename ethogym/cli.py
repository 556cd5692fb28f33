"""The ``ethogym`` command line: list environments, play a policy, time the simulator, run the demo."""

from __future__ import annotations

import difflib
import functools
import json
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import typer
import yaml
from rich.markup import escape
from rich.table import Table

import ethogym
import ethogym.policies
from ethogym.benchmarks.cli import bench_app
from ethogym.benchmarks.episode import record_episode, run_episode
from ethogym.benchmarks.video import VIDEO_SUFFIXES
from ethogym.console import check_output, console
from ethogym.console import fail as _fail
from ethogym.errors import EthogymError
from ethogym.policies.llm_backends import valid_text
from ethogym.policies.train import train_command

app = typer.Typer(
    name="ethogym",
    help="Embodied behaviour benchmark: household, social and adversarial tasks on PyBullet.",
    no_args_is_help=True,
    add_completion=False,
)

DEMO_SUITE = "quick"
DEMO_POLICIES = ("random", "oracle")
DEMO_WORKERS = 2
DEMO_VIDEO = "all"
DEMO_VIDEO_LIMIT = 1  # one review video per (policy, task): recording costs ~25x an episode


def parse_options(pairs: list[str], option: str = "'--option' / '-o'") -> dict[str, Any]:
    """Turn ``key=value`` strings into a dict; values are parsed as YAML scalars. ``option`` names the
    command-line option the pairs came from, for its errors."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint=option)
        try:
            options[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            message = f"cannot parse the value of {key!r}: {exc}"
            raise typer.BadParameter(message, param_hint=option) from exc
    return options


#: What each command that takes ``-o/--option`` does about the render mode instead of an option.
RENDER_ADVICE = {
    "play": "'ethogym play' sets it, with --render human to watch live or --video PATH to record",
    "perf": "'ethogym perf' times rendering itself (rgb_array frames at 128x128)",
    "train": "'ethogym train' renders nothing (it trains on observations)",
}


def parse_env_options(pairs: list[str], command: str = "play") -> dict[str, Any]:
    """``parse_options`` for ``-o/--option`` (gym.make kwargs): the render mode follows from the
    command's own flags, so an option that sets it would clash with them."""
    options = parse_options(pairs)
    if "render_mode" in options:
        _fail(f"render_mode is not an --option: {RENDER_ADVICE[command]}")
    return options


def _registered_ids() -> list[str]:
    return sorted(env_id for env_id in gym.registry if env_id.startswith("ethogym/"))


def _bare_id(env_id: str) -> str:
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def check_env_id(env_id: str) -> None:
    """A one-line error (exit code 2) naming the closest registered ids when ``env_id`` is unknown."""
    bare_id = _bare_id(env_id)
    if bare_id not in gym.registry:
        matches = difflib.get_close_matches(bare_id, _registered_ids() or list(gym.registry), n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(matches)}?" if matches else " Run 'ethogym list' for the ids."
        _fail(f"Unknown environment {env_id!r}.{hint}")
    check_ethogym_id(env_id)


def check_ethogym_id(env_id: str) -> None:
    """A one-line error (exit code 2) for another package's id such as CartPole-v1: ethogym's policies
    and episode summaries read its own envs' state, so such an env would crash them mid-episode."""
    if not _bare_id(env_id).startswith("ethogym/"):
        _fail(f"{env_id!r} is not an ethogym environment; ethogym runs its own ids only: see 'ethogym list'")


def check_seed(seed: int) -> None:
    """A one-line error (exit code 2) for a negative seed, which Gymnasium rejects only inside reset."""
    if seed < 0:
        _fail(f"--seed must be 0 or more, got {seed}; pass a non-negative integer such as --seed 0")


def check_video_path(video: Path, overwrite: bool) -> None:
    """One-line errors (exit code 2) for a ``--video`` path the H.264 writer cannot produce, before the
    episode runs (FFmpeg would only refuse it at the first frame)."""
    check_output(video, "--video", example="episode.mp4", overwrite=overwrite)
    if video.suffix.lower() not in VIDEO_SUFFIXES:
        got = f"{video.suffix!r}" if video.suffix else "no extension"
        _fail(
            f"--video {video} has {got}; the H.264 video is written as {', '.join(VIDEO_SUFFIXES)}: "
            f"use e.g. --video {video.with_suffix('.mp4')}"
        )


def make_env(env_id: str, render_mode: str | None = None, **options: Any) -> gym.Env:
    """``gym.make`` with one-line errors (exit code 2) for unknown ids and rejected options."""
    check_env_id(env_id)
    try:
        return gym.make(env_id, render_mode=render_mode, **options)
    except (ValueError, KeyError, TypeError, ImportError) as exc:  # ImportError: a bad 'module:' prefix
        _fail(f"cannot create {env_id}: {type(exc).__name__}: {exc}")


def make_policy(name: str, env: gym.Env) -> Any:
    """``ethogym.policies.make_policy`` with a one-line error (exit code 2) for an unknown policy."""
    try:
        return ethogym.policies.make_policy(name, env)
    except (ValueError, KeyError) as exc:
        _fail(f"cannot create policy {name!r}: {exc}")


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"ethogym {ethogym.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Embodied behaviour benchmark: household, social and adversarial tasks on PyBullet."""


@app.command("list")
def list_envs() -> None:
    """List every registered environment id with its one-line description."""
    from ethogym.registration import ENV_INFO, PARALLEL_ENVS

    table = Table(title=f"ethogym environments ({len(ENV_INFO)})")
    table.add_column("id", no_wrap=True, style="cyan")
    table.add_column("description", overflow="fold")
    for env_id in sorted(ENV_INFO):
        two = "; two learners: ethogym.make_parallel(id)" if env_id in PARALLEL_ENVS else ""
        table.add_row(env_id, ENV_INFO[env_id] + two)
    console.print(table)


@app.command()
def play(
    env_id: str = typer.Argument(..., help="Environment id, e.g. ethogym/Household-PickingUpTrash-v0."),
    policy: str = typer.Option(
        "oracle", "--policy", help="Policy spec: oracle, random, noop, sb3:PATH, llm:... (see README)."
    ),
    seed: int = typer.Option(0, "--seed", help="Episode seed (0 or more)."),
    video: Path | None = typer.Option(
        None, "--video", help=f"Write an annotated H.264 video here ({', '.join(VIDEO_SUFFIXES)})."
    ),
    render: str | None = typer.Option(
        None, "--render", help="'human': watch the episode live in PyBullet's window (needs a display)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing video file."),
    max_steps: int | None = typer.Option(None, "--max-steps", min=0, help="Stop after this many steps."),
    option: list[str] = typer.Option(
        [], "--option", "-o", help="Env constructor option key=value (repeatable), e.g. control_mode=skills."
    ),
    llm_base_url: str | None = typer.Option(
        None,
        "--llm-base-url",
        help="With --policy llm: OpenAI-compatible base URL, e.g. http://localhost:8000/v1.",
    ),
    llm_model: str | None = typer.Option(None, "--llm-model", help="With --policy llm: the model name."),
    llm_api_key_env: str | None = typer.Option(
        None, "--llm-api-key-env", help="With --policy llm: the env variable holding the API key."
    ),
) -> None:
    """Play one episode of a policy and print its summary, optionally recording a video."""
    from ethogym.policies.llm import llm_spec

    try:
        policy = llm_spec(policy, llm_base_url, llm_model, llm_api_key_env)
    except ValueError as exc:
        _fail(str(exc))
    options = parse_env_options(option)
    if render not in (None, "human"):
        _fail(f"--render takes 'human' (a live window), got {render!r}; to keep frames use --video out.mp4")
    if render == "human" and video is not None:
        _fail("--render human and --video do not combine: the video needs rgb_array frames; pick one")
    check_seed(seed)
    if video is not None:
        check_video_path(video, overwrite)
    env = make_env(env_id, render_mode=render or ("rgb_array" if video else None), **options)
    video_existed = video is not None and video.exists()
    try:
        agent = make_policy(policy, env)
        # A model runs on whatever env and options it is given: say when they are not its training's.
        if isinstance(agent, ethogym.policies.SB3Policy) and (differs := agent.not_as_trained(env, policy)):
            console.print(f"[bold yellow]warning:[/] {escape(differs)}", soft_wrap=True)
        if video is not None:
            header = f"{env_id}  policy={policy}  seed={seed}"
            result = record_episode(
                env, agent, seed, video, header=header, max_steps=max_steps, overwrite=overwrite
            )
        else:
            result = run_episode(env, agent, seed, max_steps=max_steps)
    except EthogymError as exc:  # the env or policy refused something mid-episode (a probe, strict_actions)
        note = ""
        if video is not None and video.is_file():
            if video_existed:  # --overwrite: the file is the user's, even half-rewritten
                note = f"; {video} is incomplete"
            else:
                video.unlink()
                note = "; the partial video was removed"
        _fail(f"the episode stopped: {type(exc).__name__}: {valid_text(str(exc))}{note}")
    finally:
        env.close()

    table = Table(title=f"{env_id}  policy={policy}  seed={seed}", show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value")
    table.add_row("steps", str(result["steps"]))
    table.add_row("success", "[green]yes[/]" if result["is_success"] else "[red]no[/]")
    table.add_row("progress", f"{result['progress']:.2f}")
    table.add_row("return", f"{result['return']:.2f}")
    table.add_row("cost", f"{result['cost']:.2f}")
    table.add_row("wall time", f"{result['wall_time_s']:.2f} s")
    if video is not None:
        table.add_row("video", escape(f"{result['video']} ({result['frames']} frames)"))
    console.print(table)
    policy_metrics = agent.episode_metrics() if hasattr(agent, "episode_metrics") else None
    if policy_metrics:
        metrics_table = Table(title="policy metrics", show_header=False)
        metrics_table.add_column("measure", style="bold")
        metrics_table.add_column("value")
        for key, value in policy_metrics.items():
            text = f"{value:.3f}" if isinstance(value, float) else escape(valid_text(str(value)))
            metrics_table.add_row(key, text)
        console.print(metrics_table)


@app.command()
def perf(
    quick: bool = typer.Option(True, "--quick/--full", help="Short timing run, or the full one."),
    envs: list[str] | None = typer.Option(None, "--envs", help="Time only this env id (repeatable)."),
    json_path: Path | None = typer.Option(
        None, "--json", help='Also write {"envs": rows, "runner": row} as JSON here.'
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --json file."),
    runner: bool = typer.Option(
        True, "--runner/--no-runner", help="Also time the benchmark runner with 1 and 2 workers."
    ),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="Env option key=value for every timed env (repeatable), e.g. ethics_content=false.",
    ),
) -> None:
    """Time reset and step throughput of the environments, and the benchmark runner's scaling."""
    from ethogym.benchmarks import perf as perf_bench

    for env_id in envs or ():
        check_env_id(env_id)
    if json_path is not None:
        check_output(json_path, "--json", example="perf.json", overwrite=overwrite)
    options = parse_env_options(option, "perf")
    why = perf_bench.FIXED_OPTIONS
    fixed = sorted(set(options) & set(why))
    if fixed:
        _fail(
            "; ".join(f"{key} is not an --option of 'ethogym perf' ({why[key]})" for key in fixed)
            + "; leave it out"
        )
    try:
        rows = perf_bench.run(quick=quick, env_ids=list(envs) if envs else None, options=options)
    except (EthogymError, ValueError, KeyError, TypeError, ImportError, gym.error.Error) as exc:
        _fail(f"cannot time the environments: {type(exc).__name__}: {exc}")
    perf_bench.print_report(rows)
    if not runner:
        _write_perf_json(json_path, {"envs": rows, "runner": None})
        return
    # The env timings are kept if the runner's timing fails or is stopped.
    _write_perf_json(json_path, {"envs": rows, "runner": None}, "the env timings; the runner's follow")
    console.print(perf_bench.runner_plan(quick))
    try:
        runner_row = perf_bench.run_runner(quick=quick)
    except (EthogymError, ValueError, OSError) as exc:
        _fail(f"cannot time the runner: {type(exc).__name__}: {exc}; the env timings are printed above")
    perf_bench.print_runner_report(runner_row, console)
    _write_perf_json(json_path, {"envs": rows, "runner": runner_row})


def _write_perf_json(path: Path | None, payload: dict, what: str = "") -> None:
    if path is None:
        return
    try:  # checked before the run; this catches what no check can (a disk that filled up meanwhile)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    except OSError as exc:
        _fail(f"cannot write --json {path}: {exc.strerror or exc}; the timings are printed above")
    console.print(f"wrote {escape(str(path))}" + (f" ({what})" if what else ""))


@app.command()
def demo(
    out: Path = typer.Option(
        Path("demo_out"), "--out", help="Folder for the results store, videos and leaderboard."
    ),
    workers: int = typer.Option(DEMO_WORKERS, "--workers", min=1, help="Worker processes."),
) -> None:
    """Run the quick suite for random and oracle, then write the leaderboard and review videos."""
    from ethogym.benchmarks.cli import run_and_print, write_report
    from ethogym.benchmarks.suite import load_suite

    check_output(out, "--out", folder=True)
    started = time.perf_counter()
    db = out / "ethogym.db"
    run_and_print(
        load_suite(DEMO_SUITE),
        list(DEMO_POLICIES),
        db,
        workers=workers,
        video=DEMO_VIDEO,
        video_limit=DEMO_VIDEO_LIMIT,
    )
    write_report(db, out / "report", suite=DEMO_SUITE)
    console.print(f"videos: {escape(str(out / 'videos'))}")
    console.print(f"results store: {escape(str(db))} (ethogym bench export --db {escape(str(db))})")
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s")


# ``train_command`` after the checks that need no env, so bad input fails at once rather than after the
# env is built and timed; wraps() keeps its options and help, which typer reads from the signature.
@functools.wraps(train_command)
def train(**kwargs: Any) -> None:
    check_ethogym_id(kwargs["env_id"])  # train names unknown ids itself, with the closest matches
    check_seed(kwargs["seed"])
    check_output(kwargs["out"], "--out", folder=True)
    train_command(**kwargs)


# --- subcommands that live with their subsystem (each module adds its own line here) -------------
app.add_typer(bench_app, name="bench")
app.command("train")(train)


if __name__ == "__main__":
    app()
