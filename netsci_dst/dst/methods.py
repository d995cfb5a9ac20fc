"""Dynamic sparse training methods as readable recipes: one name, one :class:`MethodConfig` per model family.

A method is a combination of choices (initial topology, weight initialisation, removal rule, percolation, regrowth
rule, schedules, when evolution ends), not a subclass. Every field can be overridden::

    from netsci_dst.dst.methods import get_method
    cfg = get_method("chts", linkpred="CH2-L3n")                    # the MLP recipe
    cfg = get_method("chts", family="transformer")                  # the Transformer recipe

**The presets are the recipes the authors ran**, read from their released code, which differs from their papers'
text (:data:`RECIPES` names the file, lines and commit of each). ``chts`` on an MLP is the dense-to-sparse EM&S
recipe of the authors' MLP command (CSTI start at density + 5 %, hard magnitude pruning back to the target,
chain removal, soft CH3-L3 regrowth of 5 % then 2.5 % of the cells, evolution ending at 0.75 of training). The
papers' text describes a fixed-density CHTs; that is the separately named variant ``chts-paper``. Where the
authors released no command for a method on a model family (RigL and MEST on the MLP, CHT, MEST and CHTss on the
Transformer, CHTss on the MLP), the recipe is assembled from their code's options and says so in its notes.

Sources (commits as fetched on 2026-12-02):

- ``CHT-code``: biomedical-cybernetics/Cannistraci-Hebb-training @ d1677b55a42c7b10be777ea9ab64dab4bdf35626
  (mlp_and_cnn/, Transformer/, Readme.md);
- ``CHTss-code``: biomedical-cybernetics/Cannistraci-Hebb-Training-Soft-Rule- @
  1f91f316ce449024ea8ed0ef73d819c14bfdd310 (llm/, Readme.md).

New links start at weight 0 with zero optimizer state in every recipe (``regrow_init="swi"`` draws SWI values
instead); in the recipes from the authors' code a link removed and regrown by the same update keeps its weight, as
there (``readded_keep_weight``). The update interval is in optimizer steps: the MLP recipes update once per epoch,
the Transformer ones every 100 steps; trainers set it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from netsci_dst.errors import DstnetError

__all__ = ["FAMILIES", "METHODS", "RECIPES", "MethodConfig", "Recipe", "get_method", "get_recipe", "method_names"]

# the rules are registries (netsci_dst.dst.rules): a rule registered anywhere is a valid name here
from netsci_dst.dst.rules import REGROWTH_RULES, REMOVAL_RULES, _load_builtin_rules  # noqa: E402

_load_builtin_rules()
LINKPREDS = ("CH3-L3", "CH2-L3", "CH3-L3n", "CH2-L3n")
DENSITY_SCHEDULES = ("constant", "sigmoid", "cubic", "ems")
ZETA_SCHEDULES = ("constant", "cosine")
TEMPERATURE_SCHEDULES = ("linear", "delta")
DENSITY_DISTRIBUTIONS = ("uniform", "erk")
WEIGHT_INITS = ("swi", "kaiming", "keep")
SWI_FANS = ("in", "out")
REGROW_INITS = ("zero", "swi")

#: The model families with their own recipes: the paper MLP and the encoder-decoder Transformer.
FAMILIES = ("mlp", "transformer", "llm")
#: Where a recipe comes from (see :class:`Recipe`).
ORIGINS = ("code", "assembled", "paper")


@dataclass(frozen=True)
class MethodConfig:
    """Every choice of a dynamic sparse training method (ALGORITHMS.md §1-§3). Plain values only.

    Attributes:
        name: the recipe this config derives from (informational).
        sparse: False for dense training (``fc``): the engine attaches no masks.
        init_topology: initial mask generator, any name of :mod:`netsci_dst.topology` (``"er"``, ``"bsw"``,
            ``"bsf"``, ``"brf"``, ``"csti"``) or ``"auto"``: CSTI when the engine gets calibration data and the
            layer's sizes are multiples of the data's features, else BSW with ``beta = 0.25`` (the authors'
            Transformer choice), with a warning.
        init_params: keyword parameters of the generator (e.g. ``{"beta": 0.25}`` for BSW).
        density_distribution: per-layer densities, ``"uniform"`` (every sparse layer at the engine's density)
            or ``"erk"`` (Erdos-Renyi-Kernel, same overall density).
        weight_init: ``"swi"`` (sparse weight initialisation, ``sigma = gain / sqrt(D * fan)``), ``"kaiming"``
            (dense Kaiming normal ``sigma = gain / sqrt(n_in)``, then masked: the authors' ``--init_mode kaiming``
            of SET) or ``"keep"`` (the model's own initial values, masked).
        swi_gain: the SWI and Kaiming gain (``sqrt(2)`` for ReLU).
        swi_fan: SWI's fan, ``"in"`` (``D * n_in``, the paper's text) or ``"out"`` (``D * n_out``, the authors'
            code: ``sqrt(2 / ((1 - S) N / n_in))``, mlp_and_cnn/dst_scheduler.py line 825).
        update_interval: optimizer steps between topology updates.
        topology_end_fraction: topology updates happen only at steps ``< T_end = topology_end_fraction *
            total_steps`` (the authors' ``T_end``: 0.75 of training with ``--adaptive_zeta`` or ``--EM_S``, else
            the whole training). It is also the ``T_end`` of the cosine zeta and of the soft temperature.
        zeta: fraction of a layer's links removed at each update.
        zeta_schedule: ``"constant"`` or ``"cosine"`` (``zeta_t = zeta / 2 (1 + cos(pi t / T_end))``).
        removal: ``"wm"`` (smallest magnitude), ``"set"`` (sign-aware), ``"ri"`` (relative importance),
            ``"mest"`` (``|W| + lambda |grad|``) or ``"soft"`` (CHTs sampling of the links to keep).
        soft_alpha: soft removal's mix, 1 = weight magnitude, 0 = relative importance.
        temperature_schedule: the soft-removal exponent ``T``: ``"linear"`` (the released code: ``T`` rises
            linearly from ``temperature_start`` to ``temperature_end`` at ``T_end``) or ``"delta"`` (the papers'
            text: ``T = delta / (1 - delta)``, ``delta`` linear from ``delta_start`` to ``delta_end`` at ``T_end``).
        temperature_start, temperature_end: ``T`` at step 0 and at ``T_end`` for ``"linear"`` (MLP and
            Transformer code: 1 -> 3; LLM code: 1 -> 9).
        delta_start, delta_end: ``delta`` at step 0 and at ``T_end`` for ``"delta"`` (paper: 0.5 -> 0.75).
        ri_epsilon: added to every cell of ``|W|`` before RI's row and column sums (the authors' code: 1e-5,
            so a sum over ``n`` cells gains ``n * 1e-5``; the paper: 0).
        mest_lambda: the gradient weight of MEST's removal score.
        regrowth: ``"random"``, ``"gradient"`` (largest dense gradient), ``"ch_rigid"`` (top CH scores) or
            ``"ch_soft"`` (CH scores sampled without replacement).
        linkpred: the Cannistraci-Hebb rule for CH regrowth: ``"CH3-L3"``, ``"CH2-L3"`` (exact, path-based),
            ``"CH3-L3n"``, ``"CH2-L3n"`` (node-based).
        regrow_temperature: exponent on the CH scores of soft regrowth.
        regrow_init: ``"zero"`` (new links start at weight 0) or ``"swi"``.
        readded_keep_weight: a link removed and regrown by the same update keeps its weight and optimizer state
            (the authors' code zeroes only links absent before the update: ``new_connections = (mask2 == 1) &
            (current_mask == 0)``, mlp_and_cnn/dst_scheduler.py lines 636 and 797); False restarts it at 0 like
            every new link (the papers' text).
        percolation: remove inactive neurons' links after removal (the authors' ``--chain_removal``).
        early_stop: CHT's topological early stop (freeze the topology once every layer is flagged).
        early_stop_threshold: overlap ``|removed ∩ regrown| / |regrown|`` above which a layer is flagged.
        density_schedule: ``"constant"``, ``"sigmoid"`` (CHTss), ``"cubic"`` (GraNet/GMP) or ``"ems"`` (the
            authors' EM&S, :class:`~netsci_dst.dst.schedules.EMSSchedule`).
        initial_density: density at the start of a decaying schedule (sigmoid/cubic); None means constant.
        schedule_k: steepness of the sigmoid schedule.
        schedule_end_fraction: fraction of the topology updates (those before ``T_end``) over which a decay
            (sigmoid/cubic) reaches the final density; 1 reaches it at the last update.
        prune_removal: removal rule used to prune down to the scheduled density (CHTss: ``"ri"``; EM&S: the
            method's removal, ``"wm"`` for CHTs, ``"mest"`` for MEST).
        ems_extra: EM&S overshoot in density points (0.05): start at ``target + extra``, regrow ``extra`` of the
            cells per update, ``extra / 2`` after 0.6 ``T_end``, nothing at the last update.
        skip_step_on_update: skip the optimizer step of the step that triggers an update (the authors' MLP and
            LLM loops: ``if pruner(): optimizer.step()``; their Transformer loop steps anyway).
        best_after_fraction: trainers report as "best" the best test accuracy over the epochs ``e`` (0-based)
            with ``e > best_after_fraction * epochs``; 0 means every epoch (the authors' run.py line 234: 0.75
            under EM&S, so the best is taken once the density has reached its target).
    """

    name: str = "custom"
    sparse: bool = True
    init_topology: str = "er"
    init_params: dict[str, Any] = field(default_factory=dict)
    density_distribution: str = "uniform"
    weight_init: str = "swi"
    swi_gain: float = math.sqrt(2.0)
    swi_fan: str = "in"
    update_interval: int = 100
    topology_end_fraction: float = 1.0
    zeta: float = 0.3
    zeta_schedule: str = "constant"
    removal: str = "wm"
    soft_alpha: float = 1.0
    temperature_schedule: str = "linear"
    temperature_start: float = 1.0
    temperature_end: float = 3.0
    delta_start: float = 0.5
    delta_end: float = 0.75
    ri_epsilon: float = 0.0
    mest_lambda: float = 0.01
    regrowth: str = "random"
    linkpred: str = "CH3-L3"
    regrow_temperature: float = 1.0
    regrow_init: str = "zero"
    readded_keep_weight: bool = False
    percolation: bool = False
    early_stop: bool = False
    early_stop_threshold: float = 0.9
    density_schedule: str = "constant"
    initial_density: float | None = None
    schedule_k: float = 6.0
    schedule_end_fraction: float = 1.0
    prune_removal: str = "ri"
    ems_extra: float = 0.05
    skip_step_on_update: bool = False
    best_after_fraction: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "init_params", dict(self.init_params))
        _choice("removal", self.removal, tuple(REMOVAL_RULES))
        _choice("prune_removal", self.prune_removal, tuple(REMOVAL_RULES))
        _choice("regrowth", self.regrowth, tuple(REGROWTH_RULES))
        _choice("linkpred", self.linkpred, LINKPREDS)
        _choice("density_schedule", self.density_schedule, DENSITY_SCHEDULES)
        _choice("zeta_schedule", self.zeta_schedule, ZETA_SCHEDULES)
        _choice("temperature_schedule", self.temperature_schedule, TEMPERATURE_SCHEDULES)
        _choice("density_distribution", self.density_distribution, DENSITY_DISTRIBUTIONS)
        _choice("weight_init", self.weight_init, WEIGHT_INITS)
        _choice("swi_fan", self.swi_fan, SWI_FANS)
        _choice("regrow_init", self.regrow_init, REGROW_INITS)
        for name in ("sparse", "percolation", "early_stop", "skip_step_on_update", "readded_keep_weight"):
            if not isinstance(getattr(self, name), bool):
                raise DstnetError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.init_topology, str) or not self.init_topology:
            raise DstnetError(f"init_topology must be a generator name, got {self.init_topology!r}")
        if isinstance(self.update_interval, bool) or not isinstance(self.update_interval, int):
            raise DstnetError(f"update_interval must be a positive int, got {self.update_interval!r}")
        if self.update_interval < 1:
            raise DstnetError(f"update_interval must be >= 1, got {self.update_interval}")
        _unit("zeta", self.zeta, closed=True)
        _unit("topology_end_fraction", self.topology_end_fraction, closed=True, positive=True)
        _unit("schedule_end_fraction", self.schedule_end_fraction, closed=True, positive=True)
        _unit("soft_alpha", self.soft_alpha, closed=True)
        _unit("early_stop_threshold", self.early_stop_threshold, closed=True)
        _unit("best_after_fraction", self.best_after_fraction, closed=True)
        for name in ("delta_start", "delta_end"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 < value < 1.0):
                raise DstnetError(f"{name} must be in (0, 1) (temperature delta / (1 - delta)), got {value!r}")
        for name in ("swi_gain", "regrow_temperature", "schedule_k"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise DstnetError(f"{name} must be a positive number, got {value!r}")
        for name in ("temperature_start", "temperature_end", "ri_epsilon", "mest_lambda"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
                raise DstnetError(f"{name} must be a finite number >= 0, got {value!r}")
            if value < 0:
                raise DstnetError(f"{name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(self.ems_extra, (int, float)) and 0.0 <= self.ems_extra < 1.0):
            raise DstnetError(f"ems_extra must be in [0, 1), got {self.ems_extra!r}")
        if self.initial_density is not None:
            _unit("initial_density", self.initial_density, closed=True, positive=True)
        if self.density_schedule in ("sigmoid", "cubic") and self.initial_density is None:
            raise DstnetError(f"density_schedule={self.density_schedule!r} needs initial_density")

    def __hash__(self) -> int:
        values = self.to_dict()
        values["init_params"] = tuple(sorted((k, repr(v)) for k, v in self.init_params.items()))
        return hash(tuple(sorted(values.items())))

    @property
    def needs_grad(self) -> bool:
        """Whether an update needs the dense gradient of the step before it (RigL regrowth, MEST removal: what the
        rules declare, :mod:`netsci_dst.dst.rules`)."""
        rules = (REMOVAL_RULES[self.removal], REMOVAL_RULES[self.prune_removal], REGROWTH_RULES[self.regrowth])
        return self.sparse and any(rule.needs_grad for rule in rules)

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict of plain values (for checkpoints and logs)."""
        out = dataclasses.asdict(self)
        out["init_params"] = dict(self.init_params)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MethodConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`DstnetError`.

        Configs written before the recipes followed the authors' code (with ``zeta_end_fraction``) are read
        with their old meaning: topology updates until the end of training (or until the cosine's end, where
        zeta is 0 anyway), the paper's ``delta`` temperature and SWI fan-in.
        """
        values = dict(values)
        if "zeta_end_fraction" in values:
            legacy_end = values.pop("zeta_end_fraction")
            if values.get("zeta_schedule") == "cosine":
                end = legacy_end
            elif values.get("density_schedule") == "ems":  # the old EM&S ended at schedule_end_fraction
                end = values.get("schedule_end_fraction", 1.0)
            else:
                end = 1.0
            values.setdefault("topology_end_fraction", end)
            values.setdefault("temperature_schedule", "delta")
            values.setdefault("swi_fan", "in")
        return _replace(cls(), values)

    def replace(self, **overrides: Any) -> MethodConfig:
        """A copy with some fields changed (validated; unknown fields raise :class:`DstnetError`)."""
        return _replace(self, overrides)


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise DstnetError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _unit(name: str, value: Any, *, closed: bool, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if ok and positive and value == 0:
        ok = False
    if not ok:
        raise DstnetError(f"{name} must be in {'(0, 1]' if positive else '[0, 1]'}, got {value!r}")


def _replace(config: MethodConfig, overrides: dict[str, Any]) -> MethodConfig:
    known = {f.name for f in dataclasses.fields(MethodConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise DstnetError(f"unknown method option(s) {unknown}; known: {', '.join(sorted(known))}")
    return dataclasses.replace(config, **overrides)


# ----------------------------------------------------------------------------------------------------------------
# Recipes
# ----------------------------------------------------------------------------------------------------------------

CHT_CODE = "biomedical-cybernetics/Cannistraci-Hebb-training @ d1677b55a42c7b10be777ea9ab64dab4bdf35626"
CHTSS_CODE = "biomedical-cybernetics/Cannistraci-Hebb-Training-Soft-Rule- @ 1f91f316ce449024ea8ed0ef73d819c14bfdd310"


@dataclass(frozen=True)
class Recipe:
    """A named method on one model family: its config and where it comes from.

    Attributes:
        name: the name users type (``dstnet train mlp --method NAME``).
        family: ``"mlp"``, ``"transformer"`` or ``"llm"``.
        summary: one line for ``dstnet methods``.
        config: the :class:`MethodConfig`.
        source: where the recipe comes from: repository, commit, file and lines, or the paper's section.
        origin: ``"code"`` (a command or script the authors released), ``"assembled"`` (no command for this
            method on this model: built from their code's options, said in ``notes``) or ``"paper"`` (the papers'
            text, where it differs from their code).
        notes: what was assembled or chosen where the source is silent or broken.
    """

    name: str
    family: str
    summary: str
    config: MethodConfig
    source: str
    origin: str = "code"
    notes: str = ""

    def __post_init__(self) -> None:
        _choice("origin", self.origin, ORIGINS)
        _choice("family", self.family, FAMILIES)


#: The authors' MLP training loop: one update per epoch, on the last batch, whose optimizer step is skipped
#: (mlp_and_cnn/Train_and_Test.py lines 36-38).
_MLP = dict(skip_step_on_update=True, readded_keep_weight=True)
#: CSTI over all three hidden layers (``--self_correlated_sparse --dim 2``: the 784x784 input correlation tiled
#: 2x2, dst_scheduler.py lines 209-245), SWI with the code's fan-out (line 825), chain removal.
_MLP_CH = dict(_MLP, init_topology="auto", weight_init="swi", swi_fan="out", percolation=True, regrow_init="zero")
#: Transformer recipes keep the model's Xavier initialisation (``--init_mode`` is left at ``xavier``, so the
#: scheduler's reset_parameters never runs) and step the optimizer on update steps (onmt/trainer.py line 478).
_TF = dict(weight_init="keep", update_interval=100, readded_keep_weight=True)

#: EM&S (the authors' --EM_S): start at density + 0.05, prune back by the method's rule, regrow 5 % / 2.5 % / none,
#: evolution ending at 0.75 of training (zeta has no effect under EM&S).
_EMS = dict(zeta=0.0, density_schedule="ems", ems_extra=0.05, topology_end_fraction=0.75)
#: MEST with EM&S: ER start, pruning by |W| + 0.01 |grad|, random regrowth.
_MEST = dict(init_topology="er", removal="mest", prune_removal="mest", regrowth="random", **_EMS)
#: The released code's soft removal: T = 1 + 2 t / T_end, cosine zeta 0.3, evolution ending at 0.75.
_SOFT = dict(
    removal="soft",
    soft_alpha=1.0,
    temperature_schedule="linear",
    temperature_start=1.0,
    temperature_end=3.0,
    zeta=0.3,
    zeta_schedule="cosine",
    topology_end_fraction=0.75,
)
#: CHTss's sigmoid density decay from sparsity 0.5 by RI pruning (the LLM code's --granet ... s_shape), reaching
#: the target at the last update.
_SIGMOID = dict(
    density_schedule="sigmoid",
    initial_density=0.5,
    schedule_k=6.0,
    schedule_end_fraction=1.0,
    prune_removal="ri",
    ri_epsilon=1e-5,
)

#: The authors' Transformer CHTs (iwslt_CHTs.sh); CHTss on the Transformer adds the density decay to it.
#: Common to the LLM code (llm/torchrun_main.py and llm/dst_scheduler.py of CHTSS_CODE): weights as the model
#: initialises them (--init_mode xavier does nothing, dst_scheduler.py 242-243), an update every 100 steps up to
#: T_end = 0.75 of training (torchrun_main.py 847; dst_scheduler.py 587), the update step's optimizer step skipped
#: (torchrun_main.py 926-930), removed-and-regrown links keeping their weights (dst_scheduler.py 795-802), the same
#: density for every layer (234-240).
_LLM = dict(
    weight_init="keep",
    update_interval=100,
    topology_end_fraction=0.75,
    skip_step_on_update=True,
    readded_keep_weight=True,
)
#: The LLM CHTs (Readme.md lines 70-91 of CHTSS_CODE): BRF r 0.3 with uniform degrees, soft removal with
#: T = 1 -> 9 over T_end, cosine zeta 0.1, node-based CH2-L3n scores taken top-k, no chain removal.
_LLM_CHTS = MethodConfig(
    name="chts",
    init_topology="brf",
    init_params={"r": 0.3, "degree": "uniform"},
    removal="soft",
    soft_alpha=1.0,
    temperature_schedule="linear",
    temperature_start=1.0,
    temperature_end=9.0,
    zeta=0.1,
    zeta_schedule="cosine",
    regrowth="ch_rigid",
    linkpred="CH2-L3n",
    percolation=False,
    **_LLM,
)

_TF_CHTS = MethodConfig(
    name="chts",
    init_topology="bsw",
    init_params={"beta": 0.25},
    percolation=True,
    regrowth="ch_soft",
    linkpred="CH2-L3n",
    **_SOFT,
    **_TF,
)

_RECIPES: list[Recipe] = [
    # ------------------------------------------------------------------------------------------------ MLP
    Recipe(
        "fc",
        "mlp",
        "dense training (no masks)",
        MethodConfig(name="fc", sparse=False),
        f"{CHT_CODE}: mlp_and_cnn/run.py without --dst_scheduler",
    ),
    Recipe(
        "set",
        "mlp",
        "ER, Kaiming, magnitude removal (zeta 0.3), random regrowth, to the end of training",
        MethodConfig(name="set", init_topology="er", weight_init="kaiming", removal="wm", regrowth="random", **_MLP),
        f"{CHT_CODE}: Readme.md 'SET on EMNIST-MLP task' command; mlp_and_cnn/dst_scheduler.py lines 250-256 "
        "(random mask), 676-683 (magnitude), 750-768 (random regrowth), 803-806 (new links at 0); run.py lines "
        "195-198 (T_end = all epochs without --adaptive_zeta)",
        notes="Plain magnitude removal, not the original SET's sign-aware rule (removal='set' gives that).",
    ),
    Recipe(
        "rigl",
        "mlp",
        "ER, Kaiming, magnitude removal (cosine zeta 0.3), gradient regrowth, ends at 0.75",
        MethodConfig(
            name="rigl",
            init_topology="er",
            weight_init="kaiming",
            removal="wm",
            regrowth="gradient",
            zeta_schedule="cosine",
            topology_end_fraction=0.75,
            **_MLP,
        ),
        f"{CHT_CODE}: mlp_and_cnn/run.py options --regrow_method gradient --adaptive_zeta; dst_scheduler.py lines "
        "359-360 (cosine zeta), 770-787 (gradient regrowth); run.py lines 195-196 (T_end = 0.75)",
        origin="assembled",
        notes="No RigL command in the authors' Readme: the SET command with gradient regrowth and --adaptive_zeta, as "
        "RigL's paper anneals zeta to 0 at 0.75 of training.",
    ),
    Recipe(
        "mest",
        "mlp",
        "ER, Kaiming, EM&S pruning by |W| + 0.01|grad|, random regrowth, ends at 0.75",
        MethodConfig(name="mest", weight_init="kaiming", best_after_fraction=0.75, **_MEST, **_MLP),
        f"{CHT_CODE}: mlp_and_cnn/run.py options --remove_method MEST --EM_S; dst_scheduler.py lines 120-121 "
        "(start at density + 0.05), 664-665 and 684-691 (prune to the target by |W| + 0.01|grad|), 731-747 (regrow "
        "5 %, 2.5 %, none at the end), 750-768 (random regrowth); run.py line 234 (best after 0.75)",
        origin="assembled",
        notes="No MEST command in the authors' Readme: their MEST option with EM&S, as MEST's paper runs it.",
    ),
    Recipe(
        "cht",
        "mlp",
        "CSTI, SWI, magnitude removal (cosine zeta 0.3), percolation, rigid CH3-L3, early stop",
        MethodConfig(
            name="cht",
            removal="wm",
            regrowth="ch_rigid",
            linkpred="CH3-L3",
            zeta_schedule="cosine",
            topology_end_fraction=0.75,
            early_stop=True,
            early_stop_threshold=0.9,
            **_MLP_CH,
        ),
        f"{CHT_CODE}: Readme.md 'CHT on EMNIST-MLP task' command (--regrow_method CH3_L3p --chain_removal "
        "--adaptive_zeta --early_stop --self_correlated_sparse --dim 2 --init_mode swi); mlp_and_cnn/"
        "dst_scheduler.py lines 398-485 (removal, chain removal), 565-616 (CH3-L3 top-k), 626-629 (early stop)",
        notes="As released, this command stops with NotImplementedError (dst_scheduler.py lines 489-490 accept only "
        "the soft CH rules with --chain_removal); dstnet runs it with the code's rigid branch (lines 614-616). When "
        "fewer missing links than needed score above 0, that branch would regrow every missing link (the threshold "
        "is 0, lines 586-590 and 616); dstnet takes the positive ones and fills the rest at random.",
    ),
    Recipe(
        "chts",
        "mlp",
        "CSTI, SWI, EM&S (start +5 %), magnitude pruning, percolation, soft CH3-L3, ends at 0.75",
        MethodConfig(
            name="chts",
            removal="wm",
            prune_removal="wm",
            regrowth="ch_soft",
            linkpred="CH3-L3",
            best_after_fraction=0.75,
            **_EMS,
            **_MLP_CH,
        ),
        f"{CHT_CODE}: Readme.md 'CHTs on EMNIST-MLP task' command (--regrow_method CH3_L3p_soft --remove_method "
        "weight_magnitude --chain_removal --EM_S --self_correlated_sparse --dim 2 --init_mode swi --zeta 0.3); "
        "mlp_and_cnn/dst_scheduler.py lines 120-121, 408-434, 481-485, 494-516, 565-613; run.py lines 195-196, 234",
        notes="The command's --zeta 0.3 has no effect under EM&S (line 409 replaces it), hence zeta=0 here.",
    ),
    Recipe(
        "chts-paper",
        "mlp",
        "the papers' fixed-density CHTs: CSTI, soft removal (delta 0.5->0.75), percolation, soft CH3-L3",
        MethodConfig(
            name="chts-paper",
            init_topology="auto",
            weight_init="swi",
            swi_fan="in",
            removal="soft",
            soft_alpha=1.0,
            temperature_schedule="delta",
            delta_start=0.5,
            delta_end=0.75,
            percolation=True,
            regrowth="ch_soft",
            linkpred="CH3-L3",
            zeta=0.3,
        ),
        "CHTs paper (Zhang et al. 2024) sections 3.2-3.3 and CHTss paper Table 7 (fixed 99 % sparsity); "
        "ALGORITHMS.md sections 1.5-1.6 and 2.2",
        origin="paper",
        notes="What the papers' text describes: constant density, zeta 0.3 until the end of training, SWI with fan-in.",
    ),
    Recipe(
        "chtss",
        "mlp",
        "CHTs plus sigmoid density decay 0.5 -> target by RI, soft removal T 1->3, soft CH2-L3n, ends at 0.75",
        MethodConfig(
            name="chtss",
            regrowth="ch_soft",
            linkpred="CH2-L3n",
            best_after_fraction=0.75,
            **_SOFT,
            **_SIGMOID,
            **_MLP_CH,
        ),
        f"CHTss paper (arXiv 2501.19107) eq. 4 and Table 7; {CHTSS_CODE}: llm/script.sh lines 95-108 (--granet "
        "--granet_init_sparsity 0.5 --pruning_method ri --pruning_scheduler s_shape), llm/dst_scheduler.py lines "
        "604-669 (sigmoid, RI with 1e-5)",
        origin="assembled",
        notes="The authors released no MLP code for CHTss: the MLP CHTs recipe's start, percolation and SWI, the LLM "
        "code's sigmoid decay and RI pruning, the MLP code's soft removal (T = 1 + 2 t / T_end) and cosine zeta, "
        "node-based CH2-L3n (the CHTss paper's scorer; exact CH3-L3 is slow at the starting density 0.5). The "
        "decay reaches the target at the last update (the LLM code's 0.8 of training runs past its T_end = 0.75).",
    ),
    # ---------------------------------------------------------------------------------------- Transformer
    Recipe(
        "fc",
        "transformer",
        "dense training (no masks)",
        MethodConfig(name="fc", sparse=False),
        f"{CHT_CODE}: Transformer/iwslt_FC.sh",
    ),
    Recipe(
        "set",
        "transformer",
        "ER, magnitude removal (zeta 0.3), random regrowth, to the end of training",
        MethodConfig(name="set", init_topology="er", removal="wm", regrowth="random", **_TF),
        f"{CHT_CODE}: Transformer/iwslt_SET.sh lines 46-49; Transformer/dst_scheduler.py lines 200-207, 592-623, "
        "740-758; onmt/train_single.py lines 119-122 (T_end = all steps)",
    ),
    Recipe(
        "rigl",
        "transformer",
        "ER, magnitude removal (cosine zeta 0.3), gradient regrowth, ends at 0.75",
        MethodConfig(
            name="rigl",
            init_topology="er",
            removal="wm",
            regrowth="gradient",
            zeta_schedule="cosine",
            topology_end_fraction=0.75,
            **_TF,
        ),
        f"{CHT_CODE}: Transformer/iwslt_RigL.sh lines 46-49; Transformer/dst_scheduler.py lines 302-303, 714-738",
    ),
    Recipe(
        "mest",
        "transformer",
        "ER, EM&S pruning by |W| + 0.01|grad|, random regrowth, ends at 0.75",
        MethodConfig(name="mest", **_MEST, **_TF),
        f"{CHT_CODE}: Transformer/dst_scheduler.py lines 624-642 (MEST score); EM&S as in mlp_and_cnn",
        origin="assembled",
        notes="No Transformer script for MEST: the code's MEST option with the MLP code's EM&S.",
    ),
    Recipe(
        "cht",
        "transformer",
        "BSW (beta 0.25), magnitude removal (cosine zeta 0.3), percolation, rigid CH3-L3",
        MethodConfig(
            name="cht",
            init_topology="bsw",
            init_params={"beta": 0.25},
            removal="wm",
            percolation=True,
            regrowth="ch_rigid",
            linkpred="CH3-L3",
            zeta_schedule="cosine",
            topology_end_fraction=0.75,
            early_stop=True,
            **_TF,
        ),
        f"{CHT_CODE}: Transformer/iwslt_CHTs.sh with hard removal and rigid CH3-L3 (CHT paper section 4)",
        origin="assembled",
        notes="No Transformer script for CHT: the CHTs script's start and schedule with CHT's hard rules.",
    ),
    Recipe(
        "chts",
        "transformer",
        "BSW (beta 0.25), soft removal (T 1->3, cosine zeta 0.3), percolation, soft CH2-L3n, ends at 0.75",
        _TF_CHTS,
        f"{CHT_CODE}: Transformer/iwslt_CHTs.sh lines 47-51 (--regrow_method CH2_L3n_soft --chain_removal "
        "--remove_method weight_magnitude_soft --WS --ws_beta 0.25 --adaptive_zeta); Transformer/dst_scheduler.py "
        "lines 377-391 (T = 1 + 2 step / T_end), 433-437 (q/k, v->o, w1->w2 chain removal), 470-507 and 550-556 "
        "(soft CH2-L3n)",
        notes="As released the script stops at its first update (dst_scheduler.py line 560 reads args.tiedrank, which "
        "the Transformer's options do not define).",
    ),
    Recipe(
        "chtss",
        "transformer",
        "CHTs plus sigmoid density decay 0.5 -> target by RI, ends at 0.75",
        _TF_CHTS.replace(name="chtss", **_SIGMOID),
        f"CHTss paper (arXiv 2501.19107) eq. 4 and Table 2; {CHTSS_CODE}: llm/script.sh lines 95-108, "
        "llm/dst_scheduler.py lines 604-669",
        origin="assembled",
        notes="No Transformer script for CHTss: the Transformer CHTs script with the LLM code's sigmoid decay and RI "
        "pruning, reaching the target at the last update.",
    ),
]

_LLM_RECIPES: list[Recipe] = [
    Recipe(
        "fc",
        "llm",
        "dense training (no masks)",
        MethodConfig(name="fc", sparse=False),
        f"{CHTSS_CODE}: Readme.md lines 55-66 (torchrun_main.py without --dst_scheduler)",
    ),
    Recipe(
        "set",
        "llm",
        "ER, magnitude removal (zeta 0.1), random regrowth, ends at 0.75",
        MethodConfig(name="set", init_topology="er", removal="wm", regrowth="random", zeta=0.1, **_LLM),
        f"{CHTSS_CODE}: llm/torchrun_main.py lines 240-241 (--remove_method weight_magnitude --regrow_method "
        "random, the defaults), 847 (T_end); llm/dst_scheduler.py lines 552-560 (ER), 821-826, 979-989",
        origin="assembled",
        notes="No released LLM command for SET: the code's options with the CHTs commands' zeta 0.1.",
    ),
    Recipe(
        "rigl",
        "llm",
        "ER, magnitude removal (cosine zeta 0.1), gradient regrowth, ends at 0.75",
        MethodConfig(
            name="rigl",
            init_topology="er",
            removal="wm",
            regrowth="gradient",
            zeta=0.1,
            zeta_schedule="cosine",
            **_LLM,
        ),  # fmt: skip
        f"{CHTSS_CODE}: llm/dst_scheduler.py lines 468-469 and 814-815 (cosine zeta), 1008-1013 (gradient regrowth)",
        origin="assembled",
        notes="No released LLM command for RigL. Under DDP the authors' code regrows by rank 0's local gradient; "
        "dstnet uses the gradient averaged over the processes (the one every process steps with).",
    ),
    Recipe(
        "mest",
        "llm",
        "ER, EM&S pruning by |W| + 0.01|grad|, random regrowth, ends at 0.75",
        MethodConfig(name="mest", mest_lambda=0.01, **{**_MEST, **_LLM}),
        f"{CHTSS_CODE}: llm/dst_scheduler.py lines 831-838 and 863-866 (MEST score), 812-813 and 927-936 (EM&S)",
        origin="assembled",
        notes="No released LLM command for MEST: the code's --remove_method MEST --EM_S.",
    ),
    Recipe(
        "chts",
        "llm",
        "BRF (r 0.3, uniform degrees), soft removal (T 1->9, cosine zeta 0.1), CH2-L3n top-k, ends at 0.75",
        _LLM_CHTS,
        f"{CHTSS_CODE}: Readme.md lines 70-91 (--brf_r 0.3 --degree_dist uniform --remove_method "
        "weight_magnitude_soft --regrow_method CH2_L3n_soft --zeta 0.1 --adaptive_zeta --start_T 1 --end_T 9); "
        "llm/dst_scheduler.py lines 442-460 and 872-885 (soft removal), 840-843 (T), 979-989 and 1048-1078 "
        "(CH2-L3n scores, torch.topk)",
        notes="The '_soft' of CH2_L3n_soft is not read by the LLM code: regrowth is the top-k of the scores. No "
        "command turns on --chain_removal, so percolation is off (dstnet's LLaMA structure is used with --set "
        "percolation=true).",
    ),
    Recipe(
        "chtss",
        "llm",
        "CHTs plus sigmoid density decay 0.5 -> target by RI, ends at 0.75",
        _LLM_CHTS.replace(name="chtss", **_SIGMOID),
        f"{CHTSS_CODE}: Readme.md lines 97-123, llm/script.sh lines 95-108 (--granet --granet_init_sparsity 0.5 "
        "--pruning_method s_shape --k 6); llm/dst_scheduler.py lines 618-669 (sigmoid schedule, RI pruning)",
        notes="The code's sigmoid horizon (pruning_T_end, 0.8 of training) runs past its last update (0.75), so "
        "its runs end at sparsity 0.6994 for a 0.7 target; dstnet reaches the target at the last update. The "
        "code adds RI's 1e-5 to the row and column sums rather than to every entry (negligible).",
    ),
]
_RECIPES += _LLM_RECIPES

#: Every recipe, by model family and name.
RECIPES: dict[str, dict[str, Recipe]] = {family: {} for family in FAMILIES}
for _recipe in _RECIPES:
    RECIPES[_recipe.family][_recipe.name] = _recipe

#: The MLP recipes' configs by name (the default family).
METHODS: dict[str, MethodConfig] = {name: recipe.config for name, recipe in RECIPES["mlp"].items()}


def method_names(family: str = "mlp") -> list[str]:
    """The recipe names of a model family, in the order of :data:`RECIPES`."""
    return list(_family(family))


def _family(family: str) -> dict[str, Recipe]:
    if family not in RECIPES:
        raise DstnetError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")
    return RECIPES[family]


def get_recipe(method: str, family: str = "mlp") -> Recipe:
    """The :class:`Recipe` called ``method`` (case-insensitive) for a model family."""
    recipes = _family(family)
    key = method.lower() if isinstance(method, str) else method
    if key not in recipes:
        raise DstnetError(f"unknown method {method!r} for the {family} (known: {', '.join(recipes)})")
    return recipes[key]


def get_method(method: str | MethodConfig = "chts", family: str = "mlp", **overrides: Any) -> MethodConfig:
    """A recipe's config (or a given config) with fields overridden, e.g. ``get_method("rigl", zeta=0.5)``.

    ``family`` picks the model family's recipe (``"mlp"``, the default, or ``"transformer"``). Unknown names and
    options raise :class:`DstnetError` listing the known ones.
    """
    if isinstance(method, MethodConfig):
        base = method
    elif isinstance(method, str):
        base = get_recipe(method, family).config
    else:
        raise DstnetError(f"method must be a name or a MethodConfig, got {type(method).__name__}")
    return base.replace(**overrides) if overrides else base
