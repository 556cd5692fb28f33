"""Trained stable-baselines3 models as ethogym policies.

A model trained by ``ethogym train`` is an ordinary SB3 zip with one extra member, ``ethogym.json``,
that records what the model needs at run time: the algorithm class, the env id and options it was
trained on, and whether the ``done`` skill was hidden from it. ``SB3Policy.load(path)`` reads both, so
``make_policy("sb3:PATH", env)`` and the benchmark runner can roll it out like the oracle.

torch and stable-baselines3 are imported only when a model is loaded or trained, so ``import ethogym``
stays light.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import shlex
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml

from ethogym.errors import ConfigError, EthogymError

from .base import action_mask, checked_seed, require_env

METADATA_MEMBER = "ethogym.json"
"""Extra zip member with ethogym's run-time metadata; SB3's loader reads only ``data`` and ``*.pth``."""

CHECKPOINTS_DIR = Path(__file__).parent / "checkpoints"
CHECKPOINTS_INDEX = CHECKPOINTS_DIR / "checkpoints.yml"


class CheckpointError(EthogymError, ValueError):
    """A model file is missing, is not an SB3 zip, or does not fit the environment."""


@dataclass(frozen=True)
class AlgoSpec:
    """One trainable algorithm: where its class lives and which action spaces it accepts."""

    module: str
    cls: str
    spaces: tuple[str, ...]  # "discrete" (skills mode) and / or "box" (continuous mode)
    masked: bool = False  # reads action masks (sb3-contrib MaskablePPO)

    def load_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.cls)


ALGOS: dict[str, AlgoSpec] = {
    "ppo": AlgoSpec("stable_baselines3", "PPO", ("discrete", "box")),
    "maskable_ppo": AlgoSpec("sb3_contrib", "MaskablePPO", ("discrete",), masked=True),
    "sac": AlgoSpec("stable_baselines3", "SAC", ("box",)),
    "dqn": AlgoSpec("stable_baselines3", "DQN", ("discrete",)),
}


def space_kind(space: gym.Space) -> str:
    """``"discrete"`` for skills mode, ``"box"`` for continuous control; anything else is rejected."""
    if isinstance(space, gym.spaces.Discrete):
        return "discrete"
    if isinstance(space, gym.spaces.Box):
        return "box"
    raise ConfigError(f"SB3 policies need a Discrete or Box action space, got {space}")


def check_algo_fits(algo: str, spec: AlgoSpec, action_space: gym.Space, env_id: str) -> None:
    """Raise a ConfigError naming the fix when ``algo`` cannot act in ``action_space``."""
    kind = space_kind(action_space)
    if kind in spec.spaces:
        return
    if kind == "discrete":
        raise ConfigError(
            f"--algo {algo} needs continuous actions but {env_id} is in skills mode (Discrete "
            f"{action_space.n}); add --option control_mode=continuous, or use maskable_ppo, ppo or dqn "
            f"for skills"
        )
    raise ConfigError(
        f"--algo {algo} needs skills mode (Discrete actions) but {env_id} has continuous actions "
        f"{action_space}; add --option control_mode=skills, or use ppo or sac for continuous control"
    )


class HideDoneSkill(gym.Wrapper):
    """Removes the ``done`` skill from ``action_masks()`` while another skill is admissible.

    Success ends an episode by itself (``terminate_on_success``), so an agent never needs ``done``;
    hiding it keeps early random exploration from ending episodes with a false completion claim,
    the same choice the random baseline makes. ``done_index`` is stored with the model so the policy
    applies the same mask at run time.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.done_index = done_skill_index(env)

    def action_masks(self) -> np.ndarray:
        return hide_done(self.env.unwrapped.action_masks(), self.done_index)


def done_skill_index(env: gym.Env) -> int:
    """Index of the ``done`` skill in a skills-mode env's table."""
    table = getattr(env.unwrapped, "table", None)
    if table is None or ("done", None) not in table.index:
        raise ConfigError(f"{env.unwrapped} has no 'done' skill; hiding it needs a skills-mode ethogym env")
    return int(table.index[("done", None)])


def hide_done(mask: Any, done_index: int | None) -> np.ndarray:
    """``mask`` with ``done`` cleared, unless nothing else would be left admissible."""
    mask = np.asarray(mask, dtype=bool).copy()
    if done_index is not None and mask.sum() > int(mask[done_index]):
        mask[done_index] = False
    return mask


# --- checkpoints ----------------------------------------------------------------------------------
def shipped_checkpoints() -> dict[str, dict[str, Any]]:
    """The trained models shipped with ethogym, by name (``policies/checkpoints/checkpoints.yml``)."""
    if not CHECKPOINTS_INDEX.exists():
        return {}
    entries = yaml.safe_load(CHECKPOINTS_INDEX.read_text()) or {}
    return {name: dict(entry) for name, entry in entries.items()}


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A model path: an existing file, or the name of a shipped checkpoint (``checkpoints.yml``)."""
    if not isinstance(path_or_name, str | Path):
        names = ", ".join(sorted(shipped_checkpoints())) or "none"
        raise CheckpointError(
            f"a model is named by its path (a string or Path), got {path_or_name!r:.80}; pass the path of "
            f"a model.zip written by 'ethogym train', or a shipped checkpoint name ({names})"
        )
    path = Path(path_or_name).expanduser()
    if path.is_file():
        return path
    shipped = shipped_checkpoints()
    name = str(path_or_name)
    if name in shipped:
        return CHECKPOINTS_DIR / shipped[name]["file"]
    zipped = path.with_name(path.name + ".zip")
    if not path.suffix and zipped.is_file():  # as SB3's own load() does: model.save("x") wrote x.zip
        return zipped
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; pass the model file inside it, e.g. {path / 'model.zip'}")
    names = ", ".join(sorted(shipped)) or "none"
    raise CheckpointError(
        f"no model file at {path}; pass the path of a model.zip written by 'ethogym train', "
        f"or a shipped checkpoint name ({names})"
    )


def option_flags(options: Mapping[str, Any]) -> str:
    """``options`` as the ``-o key=value`` flags that ``ethogym play`` and ``train`` read back to the same
    values (YAML scalars: ``-o ethics_content=false -o skill_execution=teleport``)."""
    return " ".join(f"-o {shlex.quote(f'{key}={option_text(value)}')}" for key, value in options.items())


def option_text(value: Any) -> str:
    """An option's value as ``-o`` writes it: YAML that parses back to ``value``."""
    if isinstance(value, str):
        try:
            same = (yaml.safe_load(value) if value.strip() else "") == value
        except yaml.YAMLError:
            same = False
        return value if same else json.dumps(value)  # "true", "12", "a: b": quoted to stay a string
    return json.dumps(value, default=str)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """ethogym's metadata stored in a model zip (empty for a plain SB3 zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "data" not in names:
                raise CheckpointError(
                    f"cannot load {path} as a stable-baselines3 model: the zip has no 'data' member "
                    f"(it holds {', '.join(names[:5]) or 'nothing'}); pass a model.zip written by "
                    f"'ethogym train' or model.save()"
                )
            if METADATA_MEMBER not in names:
                return {}
            return json.loads(archive.read(METADATA_MEMBER))
    except zipfile.BadZipFile:
        raise CheckpointError(
            f"{path} is not a zip file, so not a stable-baselines3 model; it may be truncated or "
            f"corrupt: retrain it with 'ethogym train' or copy it again"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: the {METADATA_MEMBER} member is not valid JSON ({exc})") from None
    except OSError as exc:  # unreadable file or disk error: the zip module's text is the OS's
        raise CheckpointError(
            f"cannot read {path}: {exc.strerror or exc}; check that the file is readable and copy it again "
            f"if it is damaged"
        ) from None


def save_model(model: Any, path: str | Path, metadata: Mapping[str, Any]) -> Path:
    """``model.save(path)`` plus ``metadata`` as the zip's ``ethogym.json`` member."""
    path = Path(path)
    if path.suffix != ".zip":
        raise ConfigError(f"model files end in .zip, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed over it: a run stopped mid-save (Ctrl-C during a
    # checkpoint) leaves the previous file whole, never a cut zip.
    partial = path.with_name(f".{path.stem}.partial.zip")
    try:
        model.save(partial)
        with zipfile.ZipFile(partial, "a") as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(dict(metadata), indent=2, sort_keys=True))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def load_model(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Load an SB3 model and its ethogym metadata; the class comes from the metadata.

    A plain SB3 zip without metadata is loaded with the class its saved policy class points to
    (MaskablePPO, DQN, SAC, else PPO), falling back to the others.
    """
    path = resolve_checkpoint(path)
    metadata = read_metadata(path)
    if metadata.get("model_class"):
        module, _, cls_name = metadata["model_class"].partition(":")
        candidates = [AlgoSpec(module, cls_name, ())]
    else:
        guess = ALGOS[_guess_algo(path)]
        candidates = [guess, *(spec for spec in ALGOS.values() if spec is not guess)]
    errors = []
    for spec in candidates:
        try:
            model = spec.load_class().load(path, device="cpu")
        except (ImportError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} needs {spec.module}.{spec.cls}, which cannot be imported: {exc}; "
                f"install the rl extra: pip install 'ethogym[rl]'"
            ) from exc
        except (pickle.UnpicklingError, EOFError) as exc:
            # A damaged weights member: every class would read the same bytes, so name it at once.
            # (torch's own text is long and suggests weights_only=False, which a broken file never needs.)
            raise CheckpointError(
                f"{path} is damaged: its weights (*.pth) do not unpickle ({type(exc).__name__}); it may be "
                f"truncated or corrupt: retrain it with 'ethogym train' or copy it again"
            ) from None
        except OSError as exc:
            raise CheckpointError(
                f"cannot read {path}: {exc.strerror or exc}; check that the file is readable and copy it "
                f"again if it is damaged"
            ) from None
        except (ValueError, KeyError, RuntimeError, TypeError, AssertionError, zipfile.BadZipFile) as exc:
            errors.append(f"{spec.cls}: {type(exc).__name__}: {exc}")
            continue
        return model, metadata
    raise CheckpointError(f"cannot load {path} as a stable-baselines3 model ({'; '.join(errors)})")


def _guess_algo(path: Path) -> str:
    """The algorithm of a plain SB3 zip, from the module of its saved policy class."""
    try:
        with zipfile.ZipFile(path) as archive:
            data = json.loads(archive.read("data"))
        module = str(data.get("policy_class", {}).get("__module__", ""))
    except (KeyError, ValueError, AttributeError):
        return "ppo"
    for marker, algo in (("maskable", "maskable_ppo"), (".dqn.", "dqn"), (".sac.", "sac")):
        if marker in module:
            return algo
    return "ppo"


# --- the policy -----------------------------------------------------------------------------------
class SB3Policy:
    """A trained SB3 model acting in an ethogym env, with the same protocol as oracle and random.

    With a MaskablePPO model, ``act`` passes ``info["action_mask"]`` (minus ``done`` when the model was
    trained with it hidden) so the model only picks admissible skills. ``deterministic`` takes the
    most likely action, which makes episodes reproducible from the seed alone.
    """

    def __init__(
        self, model: Any, metadata: Mapping[str, Any] | None = None, deterministic: bool = True
    ) -> None:
        if not callable(getattr(model, "predict", None)) or not hasattr(model, "action_space"):
            raise ConfigError(
                f"SB3Policy wraps a stable-baselines3 model, got {model!r:.80}; load one with "
                "SB3Policy.load('path/to/model.zip') or make_policy('sb3:PATH', env)"
            )
        self.model = model
        self.metadata = dict(metadata or {})
        self.deterministic = deterministic
        self.masked = bool(self.metadata.get("masked", type(model).__name__ == "MaskablePPO"))
        done_index = self.metadata.get("done_index")
        hidden = self.metadata.get("hide_done") and done_index is not None
        self.done_index = int(done_index) if hidden else None
        self.action_space = model.action_space

    @classmethod
    def load(cls, path: str | Path, env: gym.Env | None = None, deterministic: bool = True) -> SB3Policy:
        """Load a model written by ``ethogym train`` (or a shipped checkpoint name).

        With ``env``, the model's observation and action spaces are checked against it.
        """
        model, metadata = load_model(path)
        policy = cls(model, metadata, deterministic=deterministic)
        if env is not None:
            policy.check_env(env, source=str(path))
        return policy

    @property
    def env_id(self) -> str | None:
        """The env id the model was trained on (None for a plain SB3 zip)."""
        return self.metadata.get("env_id")

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The gym.make options the model was trained with, e.g. ``{"skill_execution": "teleport"}``."""
        return dict(self.metadata.get("env_kwargs") or {})

    def differences(self, env: gym.Env, ignore: Collection[str] = ()) -> list[str]:
        """How ``env`` differs from the env id and options the model was trained with, one phrase per
        difference (``skill_execution=physical (trained with teleport)``), options in ``ignore`` left
        out; empty for a plain SB3 zip.

        Compared are the options set on either side: one the other side leaves out has the env's
        default there (values an env derives itself, such as its activity, are not compared).
        """
        if self.env_id is None:
            return []
        found = []
        here = env.spec.id if env.spec is not None else None
        if here is not None and here.split(":", 1)[-1] != self.env_id.split(":", 1)[-1]:
            found.append(f"env {here} (trained on {self.env_id})")
        config = getattr(env.unwrapped, "config", None)
        defaults = getattr(type(env.unwrapped), "default_config", None)
        if not isinstance(config, Mapping) or not callable(defaults):
            return found
        # env.spec.kwargs holds the id's registered kwargs plus the options this env was made with.
        registered = (gym.registry.get(here) if here else None) or env.spec
        base = {**defaults(), **(registered.kwargs if registered else {})}
        made_with = {
            key
            for key, value in (env.spec.kwargs if env.spec else {}).items()
            if base.get(key, value) != value
        }
        for key in sorted((set(self.env_kwargs) | made_with) & set(config) - set(ignore)):
            trained = self.env_kwargs.get(key, base.get(key))
            if trained != config[key]:
                found.append(f"{key}={option_text(config[key])} (trained with {option_text(trained)})")
        return found

    def not_as_trained(self, env: gym.Env, spec: str = "sb3:PATH") -> str | None:
        """One line naming how ``env`` differs from the env id and options the model was trained
        with, and the ``ethogym play`` command that matches them; None when nothing differs."""
        found = self.differences(env)
        if not found:
            return None
        return (
            f"{spec} runs with {', '.join(found)}; to play it as trained: ethogym play {self.env_id} "
            f"--policy {shlex.quote(spec)} {option_flags(self.env_kwargs)}"
        ).strip()

    def check_env(self, env: gym.Env, source: str = "the model") -> None:
        """Raise a CheckpointError when ``env``'s spaces differ from the model's."""
        require_env(env, "SB3Policy")
        trained_on = f" (trained on {self.env_id})" if self.env_id else ""
        fix = "evaluate it on the env id and options it was trained on"
        if self.env_id:  # the flags themselves, ready to paste
            fix += f": {self.env_id} {option_flags(self.env_kwargs) or '(no -o options)'}"
        here = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        model_obs, env_obs = self.model.observation_space, env.observation_space
        same_obs = type(model_obs) is type(env_obs) and model_obs.shape == env_obs.shape
        if not same_obs:
            raise CheckpointError(
                f"{source}{trained_on} observes {model_obs} but {here} gives {env_obs}; {fix}"
            )
        if self.model.action_space != env.action_space:
            raise CheckpointError(
                f"{source}{trained_on} acts in {self.model.action_space} but {here} takes "
                f"{env.action_space}; {fix}"
            )

    def reset(self, seed: int | None = None) -> None:
        seed = checked_seed(seed, "SB3Policy.reset()")
        if not self.deterministic and seed is not None:
            self.model.set_random_seed(seed)

    def act(self, obs: Any, info: Mapping[str, Any]) -> Any:
        kwargs = {}
        if self.masked:
            mask = action_mask(info, self.action_space.n, "SB3Policy.act()")
            if mask is None:
                raise CheckpointError(
                    "this MaskablePPO model needs info['action_mask']; run it in skills mode "
                    "(control_mode='skills')"
                )
            kwargs["action_masks"] = hide_done(mask, self.done_index)
        action, _ = self.model.predict(obs, deterministic=self.deterministic, **kwargs)
        if isinstance(self.action_space, gym.spaces.Discrete):
            return int(np.asarray(action).reshape(-1)[0])
        action = np.asarray(action, dtype=self.action_space.dtype).reshape(self.action_space.shape)
        return np.clip(action, self.action_space.low, self.action_space.high)


def sb3_policy_factory(env: gym.Env, path: str) -> SB3Policy:
    """``make_policy("sb3:PATH", env)``: PATH is a model zip or a shipped checkpoint name."""
    return SB3Policy.load(path, env=env)
