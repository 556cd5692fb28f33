"""Object knowledge read from the ``bddl`` package's generated data.

BEHAVIOR-1K ships, per WordNet synset, the abilities an object has (openable, toggleable,
heatSource, ...) with their parameters, and a mass per object category. This module is the one
place that reads those files; everything else asks it.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import bddl

DATA_DIR = Path(bddl.__file__).parent / "generated_data"
ACTIVITY_DIR = Path(bddl.__file__).parent / "activity_definitions"


@functools.cache
def _ability_params() -> dict[str, dict[str, dict]]:
    with open(DATA_DIR / "propagated_annots_params.json") as f:
        return json.load(f)


@functools.cache
def _masses() -> dict[str, float]:
    masses: dict[str, float] = {}
    with open(DATA_DIR / "category_mapping.csv", newline="") as f:
        for row in csv.DictReader(f):
            raw = (row.get("mass (auto)") or "").replace(",", "")
            try:
                mass = float(raw)
            except ValueError:
                continue
            # Several categories share a synset: keep the median-ish first sensible value.
            masses.setdefault(row["synset"], mass)
    return masses


@functools.cache
def _synset_rows() -> dict[str, dict[str, str]]:
    with open(DATA_DIR / "synsets.csv", newline="") as f:
        return {row["synset"]: row for row in csv.DictReader(f)}


def known_synsets() -> list[str]:
    """Every synset in BEHAVIOR's knowledge base (``synsets.csv``)."""
    return list(_synset_rows())


@functools.cache
def room_types() -> tuple[str, ...]:
    """Room types BEHAVIOR scenes use (``allowed_room_types.csv``) plus the garden."""
    with open(DATA_DIR / "allowed_room_types.csv", newline="") as f:
        rows = [r[0].strip() for r in csv.reader(f)][1:]
    return tuple(sorted({r for r in rows if r} | {"garden", "living_room", "bedroom"}))


def synset_of(instance: str) -> str:
    """``apple_pie.n.01_1`` -> ``apple_pie.n.01``."""
    head, _, _ = instance.rpartition("_")
    return head if ".n." in head else instance


def category_of(synset: str) -> str:
    """``apple_pie.n.01`` -> ``apple_pie``; ``can__of__soda.n.01`` -> ``can_of_soda``."""
    return synset.split(".")[0].replace("__", "_")


@dataclass(frozen=True)
class SynsetInfo:
    """What ethogym knows about one synset."""

    synset: str
    abilities: frozenset[str]
    params: dict[str, dict] = field(hash=False, compare=False)
    mass: float
    known: bool

    @property
    def category(self) -> str:
        return category_of(self.synset)

    def has(self, ability: str) -> bool:
        return ability in self.abilities

    @property
    def is_substance(self) -> bool:
        return "substance" in self.abilities or "physicalSubstance" in self.abilities

    @property
    def is_visual_substance(self) -> bool:
        return "visualSubstance" in self.abilities


@functools.cache
def synset_info(synset: str) -> SynsetInfo:
    """Abilities, ability parameters and mass of ``synset``; unknown synsets get an empty record."""
    params = _ability_params().get(synset)
    known = params is not None or synset in _synset_rows()
    params = {k: (v or {}) for k, v in (params or {}).items()}
    mass = _masses().get(synset, 1.0)
    return SynsetInfo(synset, frozenset(params), params, float(mass), known)


@functools.cache
def removable_substances(tool_synset: str) -> dict[str, list]:
    """Substances a particleRemover tool removes, mapped to the conditions it needs (``[]`` = none)."""
    info = synset_info(tool_synset)
    conditions = info.params.get("particleRemover", {}).get("conditions", {}) or {}
    return {k: v for k, v in conditions.items() if v is not None}


def activity_path(activity: str, instance: int = 0) -> Path:
    return ACTIVITY_DIR / activity / f"problem{instance}.bddl"


@functools.cache
def all_activities() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in ACTIVITY_DIR.iterdir() if p.is_dir()))
