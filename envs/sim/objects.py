"""Objects built from primitive shape templates, one per BDDL synset.

Every BEHAVIOR synset can be built: a table of categories gives a template and a size; unknown
categories fall back on their abilities (openable furniture -> cabinet with a door, fillable ->
open bin, furniture -> box) and on their mass (a small box of household density).
Each body's local +x axis is its front: doors and open sides face +x.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pybullet

from .knowledge import SynsetInfo, category_of, synset_info
from .world import GROUP_DOOR, GROUP_DYNAMIC, GROUP_STATIC, World, quaternion_yaw, yaw_quaternion

WALL = 0.03  # shell thickness of containers, m
MIN_SIDE_WALL = 0.01  # m: the side walls of a container narrower than 30 cm are a tenth of its width
FRONT_CLEARANCE = 0.05  # m kept free behind a container's open front or door (bins open at the top)
INSIDE_PAD = 0.01  # m kept between a thing in a container and its walls and the shelf above it
UNDER_TEMPLATES = ("table",)  # templates with room underneath: ``under`` holds only below these

# category -> (template, (depth x, width y, height z)) in metres.
TEMPLATES: dict[str, tuple[str, tuple[float, float, float]]] = {
    # furniture
    "table": ("table", (0.8, 1.2, 0.75)),
    "desk": ("table", (0.7, 1.3, 0.75)),
    "coffee_table": ("table", (0.6, 1.0, 0.45)),
    "console_table": ("table", (0.45, 1.1, 0.8)),
    "countertop": ("box", (0.6, 1.6, 0.9)),
    "bed": ("box", (2.0, 1.5, 0.5)),
    "sofa": ("box", (0.9, 2.0, 0.8)),
    "armchair": ("box", (0.8, 0.8, 0.8)),
    "chair": ("box", (0.5, 0.5, 0.9)),
    "bench": ("box", (0.4, 1.4, 0.45)),
    "bookcase": ("shelf", (0.4, 1.0, 1.2)),
    "shelf": ("shelf", (0.35, 1.0, 1.1)),
    "wardrobe": ("cabinet", (0.6, 1.0, 1.6)),
    "cabinet": ("cabinet", (0.5, 0.8, 0.9)),
    "electric_refrigerator": ("cabinet", (0.6, 0.8, 1.6)),
    "oven": ("cabinet", (0.6, 0.7, 0.9)),
    "microwave": ("cabinet", (0.4, 0.5, 0.3)),
    "dishwasher": ("cabinet", (0.6, 0.6, 0.85)),
    "washer": ("cabinet", (0.6, 0.6, 0.85)),
    "clothes_dryer": ("cabinet", (0.6, 0.6, 0.85)),
    "stove": ("box", (0.6, 0.7, 0.9)),
    "sink": ("box", (0.6, 0.8, 0.9)),
    "toilet": ("box", (0.7, 0.4, 0.45)),
    "bathtub": ("box", (0.8, 1.7, 0.5)),
    "floor_lamp": ("cylinder", (0.3, 0.3, 1.5)),
    "television_receiver": ("box", (0.15, 1.0, 0.6)),
    # small objects
    "printer": ("box", (0.4, 0.45, 0.25)),
    "book": ("box", (0.22, 0.16, 0.04)),
    "hardback": ("box", (0.24, 0.17, 0.04)),
    "notebook": ("box", (0.22, 0.16, 0.02)),
    "sandal": ("box", (0.28, 0.10, 0.05)),
    "shoe": ("box", (0.30, 0.11, 0.10)),
    "can_of_soda": ("cylinder", (0.066, 0.066, 0.12)),
    "water_bottle": ("cylinder", (0.07, 0.07, 0.22)),
    "bottle": ("cylinder", (0.07, 0.07, 0.25)),
    "ashcan": ("bin", (0.35, 0.35, 0.45)),
    "wastebasket": ("bin", (0.3, 0.3, 0.35)),
    "bucket": ("bin", (0.3, 0.3, 0.3)),
    "basket": ("bin", (0.4, 0.3, 0.25)),
    "bowl": ("bin", (0.22, 0.22, 0.12)),
    "apple_pie": ("cylinder", (0.24, 0.24, 0.05)),
    "pie": ("cylinder", (0.24, 0.24, 0.05)),
    "rag": ("box", (0.25, 0.25, 0.01)),
    "towel": ("box", (0.3, 0.3, 0.02)),
    "dishtowel": ("box", (0.25, 0.25, 0.01)),
    "sponge": ("box", (0.1, 0.07, 0.04)),
    "mug": ("cylinder", (0.09, 0.09, 0.10)),
    "cup": ("cylinder", (0.08, 0.08, 0.10)),
    "vase": ("cylinder", (0.12, 0.12, 0.30)),
    "plate": ("cylinder", (0.29, 0.29, 0.02)),  # a dinner plate takes a whole pie
    "apple": ("sphere", (0.08, 0.08, 0.08)),
    "orange": ("sphere", (0.08, 0.08, 0.08)),
    "ball": ("sphere", (0.2, 0.2, 0.2)),
    "laptop": ("box", (0.25, 0.35, 0.03)),
    "remote_control": ("box", (0.18, 0.05, 0.02)),
    "pen": ("cylinder", (0.012, 0.012, 0.14)),
    "pencil": ("cylinder", (0.01, 0.01, 0.18)),
    "knife": ("box", (0.25, 0.03, 0.02)),
    "carving_knife": ("box", (0.3, 0.04, 0.02)),
    "teddy": ("box", (0.2, 0.15, 0.3)),
    "pillow": ("box", (0.4, 0.6, 0.12)),
    "jar": ("cylinder", (0.1, 0.1, 0.15)),
    # paper lies flat, folded to go into the cartons, bins and racks BEHAVIOR files it in
    "newspaper": ("box", (0.20, 0.14, 0.02)),
    "magazine": ("box", (0.21, 0.15, 0.01)),
    "document": ("box", (0.21, 0.15, 0.01)),
    "folder": ("box", (0.22, 0.16, 0.02)),
    "mail": ("box", (0.22, 0.11, 0.01)),
    "envelope": ("box", (0.22, 0.11, 0.01)),
    "letter": ("box", (0.22, 0.11, 0.01)),
}

#: Like TEMPLATES, for these exact categories only (a tea_bag is no bag, a license_plate no platter):
#: supports and containers whose mass alone would make them too small for what BEHAVIOR puts on or
#: in them.
EXACT_TEMPLATES: dict[str, tuple[str, tuple[float, float, float]]] = {
    "platter": ("cylinder", (0.28, 0.28, 0.03)),
    "tray": ("box", (0.34, 0.24, 0.02)),
    "cookie_sheet": ("box", (0.34, 0.24, 0.02)),
    "chopping_board": ("box", (0.34, 0.24, 0.02)),
    "sack": ("bin", (0.30, 0.22, 0.30)),
    "bag": ("bin", (0.36, 0.30, 0.30)),
    "backpack": ("bin", (0.29, 0.20, 0.40)),
    "carton": ("bin", (0.34, 0.26, 0.26)),
    "hamper": ("bin", (0.45, 0.35, 0.55)),
    "tupperware": ("bin", (0.30, 0.22, 0.14)),  # a family-size box: BEHAVIOR stores whole meals in one
    "packing_box": ("bin", (0.45, 0.35, 0.35)),
    "ironing_board": ("box", (1.10, 0.35, 0.85)),
    "mattress": ("box", (1.90, 0.90, 0.20)),
    "magazine_rack": ("bin", (0.40, 0.30, 0.35)),
    "pot_plant": ("cylinder", (0.35, 0.35, 0.60)),  # set on shelves and floors, not built as furniture
    # paved ground and a shop counter: BEHAVIOR sets a picnic, an ashcan, a printer and a computer on
    # them, which a generic piece of furniture (0.6 x 1.0 m, 0.8 m tall) has no room for
    "driveway": ("box", (1.0, 2.4, 0.04)),
    "checkout": ("box", (0.6, 1.4, 0.9)),
}

#: Ground built by the scene, not by the factory: an instance stands for its room's floor slab.
FLOOR_SYNSETS = {"floor.n.01", "lawn.n.01"}
# The templates with an inside: open at the top, open at the front (+x), shelves inside.
SHELLS = {"bin": (True, False, 0), "shelf": (False, True, 1), "cabinet": (False, True, 0)}
CONTAINER_TEMPLATES = tuple(SHELLS)
FREEZE_AT = 0.0  # C: frozen at or below (BEHAVIOR's temperature model)
HOT_AT = 40.0  # C: hot at or above


def label_of(instance: str) -> str:
    """Readable name for texts and skills: ``apple_pie.n.01_1`` -> ``apple_pie_1``."""
    synset, _, index = instance.rpartition("_")
    if ".n." not in synset:
        return instance
    suffix = "extra" if index == "*" else index
    return f"{category_of(synset)}_{suffix}"


def color_of(category: str) -> tuple[float, float, float, float]:
    digest = hashlib.md5(category.encode()).digest()
    r, g, b = (0.25 + 0.6 * digest[i] / 255.0 for i in range(3))
    return (r, g, b, 1.0)


@dataclass
class SimObject:
    """A BDDL object instance in the simulator, with its symbolic states."""

    name: str
    synset: str
    label: str
    info: SynsetInfo
    body: int
    template: str
    size: np.ndarray
    static: bool
    mass: float
    room: str | None = None
    door_joint: int | None = None
    # Interior box in the local frame (lo, hi) for containers, and the local z of each surface
    # objects can rest on inside it.
    interior: tuple[np.ndarray, np.ndarray] | None = None
    shelves: tuple[float, ...] = ()
    # symbolic states
    toggled_on: bool = False
    symbolic_open: bool = False
    temperature: float = 20.0
    cooked: bool = False
    broken: bool = False
    sliced: bool = False
    covered: dict[str, float] = field(default_factory=dict)
    saturated: set[str] = field(default_factory=set)
    owner: str | None = None

    # --- abilities -------------------------------------------------------------------------------
    def has(self, ability: str) -> bool:
        return ability in self.info.abilities

    @property
    def openable(self) -> bool:
        return self.has("openable")

    @property
    def is_container(self) -> bool:
        return self.interior is not None

    @property
    def graspable(self) -> bool:
        return not self.static

    def compartments(self) -> dict[float, float]:
        """Each shelf level inside this container mapped to the free height above it (up to the next
        shelf)."""
        top = float(self.interior[1][2])
        levels = sorted(float(z) for z in self.shelves)
        out = {}
        for z in levels:
            above = [h for h in levels if h > z + 1e-6]
            out[z] = (min(top, above[0] - 0.03) if above else top) - z
        return out

    def headroom(self, height: float) -> float:
        """The free height a thing ``height`` tall needs above what it rests on in this container:
        all of it under a shelf or lid, its centre below a bin's open rim (what ``inside`` asks),
        ``INSIDE_PAD`` added."""
        return (height / 2 if self.template == "bin" else height) + INSIDE_PAD

    def placing_room(self) -> tuple[np.ndarray, np.ndarray]:
        """The part of the interior (local frame) things are set down in: all of a bin's, and a box
        open at the front (+x) or behind a door keeps ``FRONT_CLEARANCE`` free there."""
        lo, hi = (np.array(v, dtype=float) for v in self.interior)
        if self.template != "bin":
            hi[0] -= FRONT_CLEARANCE
        return lo, hi

    # --- thermal states (BEHAVIOR's temperature model) -------------------------------------------
    @property
    def frozen(self) -> bool:
        return self.has("freezable") and self.temperature <= FREEZE_AT

    @property
    def hot(self) -> bool:
        return self.has("heatable") and self.temperature >= HOT_AT

    @property
    def cook_temperature(self) -> float:
        return cook_temperature(self.info)


class Substance:
    """An abstract substance (dust, stain): it has no body, objects are covered with it."""

    def __init__(self, name: str, synset: str) -> None:
        self.name = name
        self.synset = synset
        self.label = label_of(name)
        self.info = synset_info(synset)


def cook_temperature(info: SynsetInfo) -> float:
    """The temperature (C) at which a cookable synset becomes cooked (bddl data, else 70)."""
    return float(info.params.get("cookable", {}).get("cook_temperature", 70.0))


def resolve_template(info: SynsetInfo, container: bool = False) -> tuple[str, np.ndarray]:
    """Template name and full size for a synset. A template with no inside (a cup, a box, a toaster)
    becomes an open-top bin of the same size when the task puts things inside it (``container``) or
    it is a heat or cold source that acts only on what is inside it."""
    template, size = _template(info)
    works_inside = any(
        info.params.get(kind, {}).get("requires_inside", 0) for kind in ("heatSource", "coldSource")
    )
    if (container or works_inside) and template not in CONTAINER_TEMPLATES:
        template = "bin"
    return template, size


def _template(info: SynsetInfo) -> tuple[str, np.ndarray]:
    category = info.category
    exact = TEMPLATES.get(category) or EXACT_TEMPLATES.get(category)
    if exact is not None:
        template, size = exact
        return template, np.array(size)
    # A "bottle_of_gin" or a "wine_bottle" is shaped as a bottle: the known category it names.
    for known in (category.split("_of_")[0], category.split("_")[-1]):
        if known in TEMPLATES:
            template, size = TEMPLATES[known]
            return template, np.array(size)
    furniture = info.has("sceneObject")
    if furniture and info.has("openable"):
        return "cabinet", np.array((0.5, 0.8, 0.9))
    if furniture and info.has("fillable"):
        return "shelf", np.array((0.4, 1.0, 1.1))
    if furniture:
        return "box", np.array((0.6, 1.0, 0.8))
    side = float(np.clip((max(info.mass, 0.02) / 400.0) ** (1.0 / 3.0), 0.05, 0.45))
    if info.has("fillable"):
        return "bin", np.array((side * 1.4, side * 1.4, side))
    return "box", np.array((side * 1.3, side, side * 0.8))


def shell(
    size: np.ndarray, open_top: bool, open_front: bool, shelves: int = 0
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray], tuple[float, ...]]:
    """The walls of a container of ``size`` as (half extents, local centre) boxes, its interior box
    (local frame) and the local z of each surface inside it that things rest on."""
    d, w, h = size
    t = WALL
    s = min(WALL, max(MIN_SIDE_WALL, min(d, w) / 10))  # side walls
    parts = [
        (np.array([d / 2, w / 2, t / 2]), np.array([0, 0, -h / 2 + t / 2])),  # bottom
        (np.array([s / 2, w / 2, h / 2]), np.array([-d / 2 + s / 2, 0, 0])),  # back
        (np.array([d / 2, s / 2, h / 2]), np.array([0, w / 2 - s / 2, 0])),  # left
        (np.array([d / 2, s / 2, h / 2]), np.array([0, -w / 2 + s / 2, 0])),  # right
    ]
    if not open_top:
        parts.append((np.array([d / 2, w / 2, t / 2]), np.array([0, 0, h / 2 - t / 2])))
    if not open_front:
        parts.append((np.array([s / 2, w / 2, h / 2]), np.array([d / 2 - s / 2, 0, 0])))
    levels = [-h / 2 + t]
    for k in range(1, shelves + 1):
        z = -h / 2 + k * h / (shelves + 1)
        parts.append((np.array([d / 2 - s, w / 2 - s, t / 2]), np.array([s / 2, 0, z])))
        levels.append(z + t / 2)
    interior = (
        np.array([-d / 2 + s, -w / 2 + s, -h / 2 + t]),
        np.array([d / 2 - (s if not open_front else 0.0), w / 2 - s, h / 2 - (0 if open_top else t)]),
    )
    return parts, interior, tuple(levels)


def container_inside(
    template: str, size: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[float, ...]]:
    """The interior box and shelf levels a container template of ``size`` is built with."""
    _, interior, levels = shell(np.asarray(size, dtype=float), *SHELLS[template])
    return interior, levels


def dims(size: np.ndarray) -> str:
    """Extents as ``0.40 x 0.30 x 0.20 m``."""
    return " x ".join(f"{float(v):.2f}" for v in size) + " m"


def room_inside(box: SimObject) -> str:
    """The room ``box`` has for things, in words: its placing room, and the most height on a shelf."""
    lo, hi = box.placing_room()
    return f"room inside {dims(hi - lo)}, {max(box.compartments().values()):.2f} m high between shelves"


def turned_extents(half: np.ndarray, yaw: float) -> tuple[float, float]:
    """Half widths along x and y of a footprint with half sides ``half`` turned by ``yaw``."""
    c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
    return c * half[0] + s * half[1], s * half[0] + c * half[1]


def fit_margins(
    half: np.ndarray, pad: float, room: np.ndarray, base_yaw: float, yaw: float
) -> tuple[float, float] | bool | None:
    """How far from the edges of a ``room`` (x, y widths) an object of half sizes ``half`` keeps its
    centre, ``pad`` added. One that fits whichever way it turns keeps its longest half side on both
    axes; one that fits only one way round (at ``base_yaw`` or a right angle to it) keeps its
    extents at ``yaw``, or the try is lost (False) when ``yaw`` is the other way round. None when
    it fits neither way."""
    reach = max(half[0], half[1]) + pad
    if room[0] >= 2 * reach and room[1] >= 2 * reach:
        return reach, reach

    if square_margins(half, pad, room, base_yaw) is None and (
        square_margins(half, pad, room, base_yaw + math.pi / 2) is None
    ):
        return None
    return square_margins(half, pad, room, yaw) or False


def square_margins(half: np.ndarray, pad: float, room: np.ndarray, turn: float) -> tuple[float, float] | None:
    """How far from the edges of a ``room`` (x, y widths) an object of half sizes ``half``, turned by
    ``turn``, keeps its centre, ``pad`` added; None when it does not fit that way round."""
    ex, ey = (e + pad for e in turned_extents(half, turn))
    return (ex, ey) if room[0] >= 2 * ex and room[1] >= 2 * ey else None


def uniform_between(
    rng: np.random.Generator, lo: float, hi: float, size: int | None = None
) -> float | np.ndarray:
    """``rng.uniform(lo, hi)``, where a span that rounding left a hair below zero (a thing exactly as
    wide as its room) counts as zero wide rather than raising."""
    return rng.uniform(lo, max(lo, hi), size)


def resting_span(lo: float, hi: float, reach: float) -> tuple[float, float]:
    """The centres along one axis of a top from ``lo`` to ``hi`` where a thing reaching ``reach``
    from its centre rests: whole on the top, or on a top too narrow for that, overhanging with its
    centre over the top's middle half (where it rests steadily; ``ontop`` asks for the centre over
    the top)."""
    if hi - lo >= 2 * reach:
        return lo + reach, max(lo + reach, hi - reach)  # rounding may leave an exact fit a hair short
    mid, quarter = (lo + hi) / 2, (hi - lo) / 4
    return mid - quarter, mid + quarter


def fits_inside(obj: SimObject, box: SimObject) -> bool:
    """Could ``obj``, upright as built, go inside ``box`` at all: turned either way round, on some
    shelf, ``INSIDE_PAD`` clear of the walls and of the shelf above (in a bin open at the top, its
    centre below the rim). The rule the ``place_in`` skill keeps."""
    lo, hi = box.placing_room()
    if fit_margins(obj.size[:2] / 2, INSIDE_PAD, hi[:2] - lo[:2], 0.0, 0.0) is None:
        return False
    return max(box.compartments().values()) >= box.headroom(obj.size[2])


class ObjectFactory:
    """Builds SimObjects in a World from their synsets."""

    def __init__(self, world: World) -> None:
        self.world = world

    def build(
        self,
        name: str,
        synset: str,
        room: str | None = None,
        static: bool | None = None,
        container: bool = False,
        size: np.ndarray | None = None,
    ) -> SimObject:
        """Build ``name`` of ``synset`` (``container``: see ``resolve_template``), at its template's
        size unless ``size`` is given (a container grown for its load)."""
        info = synset_info(synset)
        template, default = resolve_template(info, container)
        size = default if size is None else np.asarray(size, dtype=float)
        is_static = info.has("sceneObject") if static is None else static
        mass = 0.0 if is_static else float(np.clip(info.mass, 0.02, 30.0))
        color = color_of(info.category)
        builder = getattr(self, f"_build_{template}")
        body, extra = builder(size, mass, color)
        obj = SimObject(
            name=name,
            synset=synset,
            label=label_of(name),
            info=info,
            body=body,
            template=template,
            size=size,
            static=is_static,
            mass=mass,
            room=room,
            **extra,
        )
        group = GROUP_STATIC if is_static else GROUP_DYNAMIC
        self.world.set_group(body, group)
        if obj.door_joint is not None:
            self.world.set_group(body, GROUP_DOOR, link=obj.door_joint)
        if not is_static:
            self.world.client.changeDynamics(
                body,
                -1,
                lateralFriction=0.8,
                rollingFriction=0.001,
                spinningFriction=0.001,
                linearDamping=0.1,
                angularDamping=0.1,
                # Props at rest sleep (PyBullet multibodies never do unless enabled) and wake when
                # something awake touches them: most of the physics time otherwise goes to still props.
                activationState=pybullet.ACTIVATION_STATE_ENABLE_SLEEPING,
            )
        return obj

    # --- primitive bodies ------------------------------------------------------------------------
    def _compound(self, parts: list[tuple[np.ndarray, np.ndarray]], mass: float, color) -> int:
        """A body made of boxes: ``parts`` are (half extents, local centre)."""
        col, vis = self._box_shapes(parts, color)
        return self.world.client.createMultiBody(mass, col, vis, basePosition=[0, 0, -50])

    def _box_shapes(self, parts: list[tuple[np.ndarray, np.ndarray]], color) -> tuple[int, int]:
        """Collision and visual shape arrays for boxes ``(half extents, local centre)``."""
        c = self.world.client
        halves = [list(map(float, h)) for h, _ in parts]
        centres = [list(map(float, p)) for _, p in parts]
        col = c.createCollisionShapeArray(
            shapeTypes=[pybullet.GEOM_BOX] * len(parts), halfExtents=halves, collisionFramePositions=centres
        )
        vis = c.createVisualShapeArray(
            shapeTypes=[pybullet.GEOM_BOX] * len(parts),
            halfExtents=halves,
            visualFramePositions=centres,
            rgbaColors=[color] * len(parts),
        )
        return col, vis

    def _build_box(self, size, mass, color):
        return self._compound([(size / 2, np.zeros(3))], mass, color), {}

    def _build_cylinder(self, size, mass, color):
        c = self.world.client
        radius, height = float(size[0]) / 2, float(size[2])
        col = c.createCollisionShape(pybullet.GEOM_CYLINDER, radius=radius, height=height)
        vis = c.createVisualShape(pybullet.GEOM_CYLINDER, radius=radius, length=height, rgbaColor=color)
        return c.createMultiBody(mass, col, vis, basePosition=[0, 0, -50]), {}

    def _build_sphere(self, size, mass, color):
        c = self.world.client
        radius = float(size[0]) / 2
        col = c.createCollisionShape(pybullet.GEOM_SPHERE, radius=radius)
        vis = c.createVisualShape(pybullet.GEOM_SPHERE, radius=radius, rgbaColor=color)
        return c.createMultiBody(mass, col, vis, basePosition=[0, 0, -50]), {}

    def _build_table(self, size, mass, color):
        d, w, h = size
        top = 0.04
        leg = 0.05
        parts = [(np.array([d / 2, w / 2, top / 2]), np.array([0, 0, h / 2 - top / 2]))]
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(
                    (
                        np.array([leg / 2, leg / 2, (h - top) / 2]),
                        np.array([sx * (d / 2 - leg), sy * (w / 2 - leg), -top / 2]),
                    )
                )
        return self._compound(parts, mass, color), {}

    def _build_bin(self, size, mass, color):
        parts, interior, levels = shell(size, *SHELLS["bin"])
        return self._compound(parts, mass, color), {"interior": interior, "shelves": levels}

    def _build_shelf(self, size, mass, color):
        parts, interior, levels = shell(size, *SHELLS["shelf"])
        return self._compound(parts, mass, color), {"interior": interior, "shelves": levels}

    def _build_cabinet(self, size, mass, color):
        """A shell open at the front, closed by a door hinged on its left edge (joint 0)."""
        c = self.world.client
        parts, interior, levels = shell(size, *SHELLS["cabinet"])
        d, w, h = size
        col, vis = self._box_shapes(parts, color)
        door_half = [WALL / 2, w / 2 - 0.005, h / 2 - 0.005]
        door_col = c.createCollisionShape(
            pybullet.GEOM_BOX, halfExtents=door_half, collisionFramePosition=[0, -w / 2, 0]
        )
        shade = tuple(0.8 * v for v in color[:3]) + (1.0,)
        door_vis = c.createVisualShape(
            pybullet.GEOM_BOX, halfExtents=door_half, visualFramePosition=[0, -w / 2, 0], rgbaColor=shade
        )
        body = c.createMultiBody(
            baseMass=0,
            baseCollisionShapeIndex=col,
            baseVisualShapeIndex=vis,
            basePosition=[0, 0, -50],
            linkMasses=[2.0],
            linkCollisionShapeIndices=[door_col],
            linkVisualShapeIndices=[door_vis],
            linkPositions=[[d / 2 + WALL / 2, w / 2, 0]],
            linkOrientations=[[0, 0, 0, 1]],
            linkInertialFramePositions=[[0, -w / 2, 0]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]],
            linkParentIndices=[0],
            linkJointTypes=[pybullet.JOINT_REVOLUTE],
            linkJointAxis=[[0, 0, 1]],
        )
        c.changeDynamics(
            body, 0, jointLowerLimit=0.0, jointUpperLimit=1.9, linearDamping=0.5, angularDamping=0.5
        )
        c.setJointMotorControl2(body, 0, pybullet.POSITION_CONTROL, targetPosition=0.0, force=200.0)
        return body, {"interior": interior, "shelves": levels, "door_joint": 0}


# --- pose helpers shared by predicates, sampler and skills -------------------------------------------


def place(world: World, obj: SimObject, xyz, yaw: float = 0.0) -> None:
    world.client.resetBasePositionAndOrientation(obj.body, list(map(float, xyz)), yaw_quaternion(yaw))
    world.client.resetBaseVelocity(obj.body, [0, 0, 0], [0, 0, 0])
    world.edits += 1


def pose(world: World, obj: SimObject) -> tuple[np.ndarray, float]:
    pos, orn = world.client.getBasePositionAndOrientation(obj.body)
    return np.asarray(pos), quaternion_yaw(orn)


def to_local(world: World, obj: SimObject, point) -> np.ndarray:
    pos, orn = world.client.getBasePositionAndOrientation(obj.body)
    inv_pos, inv_orn = world.client.invertTransform(pos, orn)
    local, _ = world.client.multiplyTransforms(inv_pos, inv_orn, list(map(float, point)), [0, 0, 0, 1])
    return np.asarray(local)


def to_world(world: World, obj: SimObject, local) -> np.ndarray:
    pos, orn = world.client.getBasePositionAndOrientation(obj.body)
    point, _ = world.client.multiplyTransforms(pos, orn, list(map(float, local)), [0, 0, 0, 1])
    return np.asarray(point)


def packed_spots(
    world: World,
    box: SimObject,
    rng: np.random.Generator,
    extent: np.ndarray,
    footprint: np.ndarray,
    bottom: float,
    needs: float,
    contents: list[tuple[np.ndarray, np.ndarray]],
    tries: int = 150,
) -> list[np.ndarray]:
    """Centres (world) for a thing inside ``box``, best first, ``tries`` drawn at once: a shelf, a
    spot on it ``extent`` (x, y in the box's frame) clear of the walls, then what the spot rests on.

    The thing rests on the shelf or on ``contents`` (world boxes) under its ``footprint`` (half widths
    on the world axes), its centre ``bottom`` above that, and is kept only where the shelf above
    leaves it ``needs`` (``SimObject.headroom``). Spots are ordered from one corner, on the shelf
    before on top of what is there, so what comes next still finds room."""
    lo, hi = box.placing_room()
    levels, rooms = (np.array(v) for v in zip(*box.compartments().items(), strict=True))
    shelf = rng.integers(len(levels), size=tries)
    local = np.column_stack(
        (
            uniform_between(rng, lo[0] + extent[0], hi[0] - extent[0], size=tries),
            uniform_between(rng, lo[1] + extent[1], hi[1] - extent[1], size=tries),
            levels[shelf],
        )
    )
    c = world.client
    pos, orn = c.getBasePositionAndOrientation(box.body)
    centres = local @ np.array(c.getMatrixFromQuaternion(orn)).reshape(3, 3).T + pos
    floor, room = centres[:, 2].copy(), rooms[shelf]
    rest = floor.copy()
    for olo, ohi in contents:
        under = (
            np.all(olo[:2] < centres[:, :2] + footprint, axis=1)
            & np.all(ohi[:2] > centres[:, :2] - footprint, axis=1)
            & (floor - 0.02 < ohi[2])
            & (ohi[2] < floor + room)
        )
        rest = np.where(under, np.maximum(rest, ohi[2]), rest)
    centres[:, 2] = rest + bottom
    keep = rest - floor + needs <= room
    order = np.lexsort(((local[:, 0] - lo[0]) + (local[:, 1] - lo[1]), np.round(rest - floor, 3)))
    return [centres[k] for k in order if keep[k]]


SNUG_GAP = 0.004  # m left between things packed side by side (more than the checks' overlap tolerance)


def local_box(world: World, box: SimObject, obj: SimObject) -> tuple[np.ndarray, np.ndarray]:
    """The box (lo, hi) ``obj`` takes up in ``box``'s frame: exact for a thing square with it."""
    c = world.client
    pos, orn = c.getBasePositionAndOrientation(obj.body)
    bpos, born = c.getBasePositionAndOrientation(box.body)
    inv_pos, inv_orn = c.invertTransform(bpos, born)
    centre, rel = c.multiplyTransforms(inv_pos, inv_orn, pos, orn)
    turned = np.abs(np.array(c.getMatrixFromQuaternion(rel)).reshape(3, 3)) @ (obj.size / 2)
    return np.asarray(centre) - turned, np.asarray(centre) + turned


def snug_spots(
    world: World,
    box: SimObject,
    extent: np.ndarray,
    bottom: float,
    needs: float,
    contents: list[tuple[np.ndarray, np.ndarray]],
) -> list[np.ndarray]:
    """Centres (world) for a thing square with ``box``, each pressed against a wall or against what
    is already inside (``contents``, boxes in ``box``'s frame from ``local_box``), lowest and nearest
    one corner first: they fill a container from its corners, where random spots (``packed_spots``)
    leave gaps that no later thing fits in. ``extent`` (x, y in the box's frame) is the thing's half
    widths plus ``INSIDE_PAD``; ``bottom`` and ``needs`` are as for ``packed_spots``."""
    lo, hi = box.placing_room()
    half = extent - INSIDE_PAD
    spots = []
    for level, room in box.compartments().items():
        here = [(clo, chi) for clo, chi in contents if level - 0.02 < chi[2] < level + room]
        axes = []
        for k in (0, 1):
            edges = [lo[k] + extent[k], hi[k] - extent[k]]
            for clo, chi in here:
                edges += [chi[k] + half[k] + SNUG_GAP, clo[k] - half[k] - SNUG_GAP]
            axes.append(
                sorted(
                    {round(e, 4) for e in edges if lo[k] + extent[k] - 1e-9 <= e <= hi[k] - extent[k] + 1e-9}
                )
            )
        for x in axes[0]:
            for y in axes[1]:
                under = [
                    (clo, chi)
                    for clo, chi in here
                    if clo[0] < x + half[0] - 1e-4
                    and chi[0] > x - half[0] + 1e-4
                    and clo[1] < y + half[1] - 1e-4
                    and chi[1] > y - half[1] + 1e-4
                ]
                rest = max([level, *(float(chi[2]) for _, chi in under)])
                # Raised onto what is inside only with its centre over the top it rests on (it tips
                # off a sliver).
                steady = rest == level or any(
                    float(chi[2]) == rest and clo[0] <= x <= chi[0] and clo[1] <= y <= chi[1]
                    for clo, chi in under
                )
                if steady and rest - level + needs <= room:
                    spots.append((round(rest - level, 3), x - lo[0] + y - lo[1], (x, y, rest + bottom)))
    spots.sort(key=lambda spot: spot[:2])
    return [to_world(world, box, local) for *_, local in spots]


def door_hinge(world: World, obj: SimObject) -> np.ndarray:
    """Where ``obj``'s door turns (world): its front corner at local +y. Closed, the door runs from
    there along -y; it opens outwards, towards +x."""
    return to_world(world, obj, (obj.size[0] / 2, obj.size[1] / 2, 0.0))


SWING_MARGIN = 0.1  # m kept between a door's swing and a thing set in its way (so the door still opens)


@dataclass(frozen=True)
class DoorSwing:
    """The floor a container's hinged door sweeps as it opens: the quarter disc of the door's width
    about its hinge (``door_hinge``), in front of the closed door, on the side it runs along; up
    to the container's ``top``."""

    hinge: tuple[float, float]
    front: tuple[float, float]  # the direction the closed door faces
    along: tuple[float, float]  # the direction it runs from the hinge
    width: float
    top: float  # world z

    def meets(self, x: float, y: float, radius: float) -> bool:
        """Would a thing of ``radius`` standing at (x, y) be in the door's way (within SWING_MARGIN)?"""
        ox, oy = x - self.hinge[0], y - self.hinge[1]
        return (
            ox * self.front[0] + oy * self.front[1] > -radius
            and ox * self.along[0] + oy * self.along[1] > -radius
            and math.hypot(ox, oy) < self.width + radius + SWING_MARGIN
        )


def door_swing(world: World, obj: SimObject) -> DoorSwing:
    """Where the door of ``obj`` (a container with ``door_joint``) swings."""
    _, yaw = pose(world, obj)
    c, s = math.cos(yaw), math.sin(yaw)
    hinge = door_hinge(world, obj)
    top = float(world.client.getAABB(obj.body)[1][2])
    return DoorSwing((float(hinge[0]), float(hinge[1])), (c, s), (s, -c), float(obj.size[1]), top)


def door_angle(world: World, obj: SimObject) -> float:
    if obj.door_joint is None:
        return 0.0
    return float(world.client.getJointState(obj.body, obj.door_joint)[0])


def set_door(world: World, obj: SimObject, angle: float, instant: bool = False) -> None:
    """Drive the door motor toward ``angle``; ``instant`` also sets the joint there."""
    if obj.door_joint is None:
        obj.symbolic_open = angle > 0.3
        return
    c = world.client
    if instant:
        c.resetJointState(obj.body, obj.door_joint, angle, 0.0)
    c.setJointMotorControl2(
        obj.body, obj.door_joint, pybullet.POSITION_CONTROL, targetPosition=angle, force=200.0
    )
