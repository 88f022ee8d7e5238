"""A sweep file (configs/sweeps/*.yaml) and the runs it stands for.

    folds: 5                  # K of the speaker-grouped cross-validation (qat.cv)
    seeds: [0, 1, 2]
    only_folds: [0, 1]        # optional: score only these folds (a screen, not a CV result)
    runs:
      - configs/gsc/dscnn_float.yaml
      - configs/experiments/*.yaml                      # a glob, relative to the repository
      - {config: configs/gsc/ffn_float.yaml, det: true} # det: also a DET curve (streaming models)
      - {config: configs/gsc/dscnn_linear4.yaml, set: {train.mixup: 0.0}, tag: nomix}
    compare:                  # optional: paired differences, A - B on the same folds and seeds
      mixup: [gsc_dscnn_linear4, gsc_dscnn_linear4_nomix]   # <name>[_<tag>] of two configs above

Every run comes from a committed config under configs/; `set:` overrides settings of that entry
(it needs a `tag:`, so the variant's runs do not mix with the config's). Each entry is expanded
by qat.cv.plan into (config, seed, fold) runs, the float runs a quantized config starts from
(`train.init_from`) included; runs shared by several entries (one float run, many QAT schemes)
are trained once.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qat.cv import CONFIG_DIR, plan, to_train, train_one, upstream
from qat.run_config import RunConfigError

REPO = CONFIG_DIR.parent
SWEEP_DIR = CONFIG_DIR / "sweeps"
KEYS = {"folds", "seeds", "only_folds", "runs", "compare"}
ENTRY_KEYS = {"config", "set", "tag", "det"}


class SweepError(RunConfigError):
    pass


@dataclass
class Entry:
    config: Path
    overrides: dict = field(default_factory=dict)
    tag: str | None = None
    det: bool = False


@dataclass
class Sweep:
    path: Path
    folds: int
    seeds: list[int]
    only_folds: list[int] | None
    entries: list[Entry]
    compare: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (A, B), CV names


@dataclass
class Plan:
    """What a sweep trains: stages of runs (a run depends only on runs of earlier stages) and the
    runs of each reported config, keyed by its CV name (<name>[_<tag>]_k<K>)."""
    stages: list[list[dict]]
    groups: dict[str, list[dict]]
    det: set[str]


def _int_list(value, what: str, path: Path) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise SweepError(f"{path}: {what}: {value!r} is not a non-empty list of integers")
    if len(set(value)) != len(value):
        raise SweepError(f"{path}: {what}: {value!r} lists a value twice")
    return value


def _configs(pattern: str, path: Path) -> list[Path]:
    """The committed run configs a sweep entry names (a path or a glob, relative to the repository)."""
    found = sorted(Path(p).resolve() for p in glob.glob(str(REPO / pattern)))
    if not found:
        raise SweepError(f"{path}: {pattern!r} names no config file (paths are relative to {REPO})")
    for p in found:
        if CONFIG_DIR not in p.parents or SWEEP_DIR in p.parents or p.suffix != ".yaml":
            raise SweepError(f"{path}: {p} is not a run config under {CONFIG_DIR} (sweeps run committed configs only)")
    return found


def load(path: str | Path) -> Sweep:
    path = Path(path)
    if not path.exists():
        raise SweepError(f"{path}: no such sweep file (see {SWEEP_DIR})")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict) or set(data) - KEYS or "runs" not in data:
        raise SweepError(f"{path}: a sweep is a mapping with keys {sorted(KEYS)} ('runs' required)")
    folds = data.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise SweepError(f"{path}: folds: {folds!r} must be an integer >= 2")
    seeds = _int_list(data.get("seeds", [0]), "seeds", path)
    only = data.get("only_folds")
    if only is not None:
        only = _int_list(only, "only_folds", path)
        if not all(0 <= k < folds for k in only):
            raise SweepError(f"{path}: only_folds {only}: folds are 0 .. {folds - 1}")
    if not isinstance(data["runs"], list) or not data["runs"]:
        raise SweepError(f"{path}: runs: a non-empty list of config paths (or globs) or {{config: ..., set: ..., tag: ...}}")
    entries = []
    for item in data["runs"]:
        item = {"config": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - ENTRY_KEYS or not isinstance(item.get("config"), str):
            raise SweepError(f"{path}: run entry {item!r}: a path, or a mapping with keys {sorted(ENTRY_KEYS)} ('config' required)")
        overrides = item.get("set") or {}
        if not isinstance(overrides, dict):
            raise SweepError(f"{path}: {item['config']}: set: a mapping of setting -> value")
        if overrides and not item.get("tag"):
            raise SweepError(f"{path}: {item['config']}: set: changes the recipe; give the variant a tag:")
        for config in _configs(item["config"], path):
            entries.append(Entry(config, dict(overrides), item.get("tag"), bool(item.get("det", False))))
    return Sweep(path, folds, seeds, only, entries, _comparisons(data.get("compare"), folds, path))


def _comparisons(value, folds: int, path: Path) -> dict[str, tuple[str, str]]:
    """compare: {label: [A, B]} with A, B the <name>[_<tag>] of two of the sweep's configs."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(isinstance(n, str) for n in v) and v[0] != v[1]
            for v in value.values()):
        raise SweepError(f"{path}: compare: a mapping label -> [A, B], two different config names "
                         "(<name>[_<tag>] of entries of this sweep)")
    return {str(label): tuple(f"{n}_k{folds}" for n in pair) for label, pair in value.items()}


def cv_name(run: dict) -> str:
    """The CV name of a (config, seed, fold) run: gsc_dscnn_float_k5 of gsc_dscnn_float_k5_s0_f3."""
    return run["name"].rsplit("_s", 1)[0]


def expand(sweep: Sweep, data: str | None) -> Plan:
    """Every run of the sweep, through qat.cv.plan (which checks each run before anything trains)."""
    stages: list[list[dict]] = []
    seen: dict[str, dict] = {}
    groups: dict[str, list[dict]] = {}
    det = set()
    for entry in sweep.entries:
        config_stages = plan(entry.config, entry.overrides, entry.tag, sweep.folds, sweep.seeds, data, sweep.only_folds)
        # a run's stage is its depth below the runs it needs (qat.cv.by_depth): the same in every entry
        stages += [[] for _ in range(len(config_stages) - len(stages))]
        for level, stage in enumerate(config_stages):
            for run in stage:
                if run["name"] in seen:
                    if seen[run["name"]] != run:
                        raise SweepError(f"{sweep.path}: two entries make run {run['name']} with different settings; "
                                         "tell them apart with tag:")
                    continue
                seen[run["name"]] = run
                stages[level].append(run)
                groups.setdefault(cv_name(run), []).append(run)
        if entry.det:
            det.add(cv_name(config_stages[-1][0]))
    for label, pair in sweep.compare.items():
        for name in pair:
            if name not in groups:
                raise SweepError(f"{sweep.path}: compare {label!r}: {name.rsplit('_k', 1)[0]!r} is not a config of "
                                 "this sweep (its configs: " + ", ".join(g.rsplit("_k", 1)[0] for g in groups) + ")")
    return Plan([s for s in stages if s], groups, det)


def schedule(stages: list[list[dict]], build_dir: Path, submit) -> dict:
    """Hands every unfinished run to `submit(run, parents)` in stage order; `parents` lists what
    `submit` returned for the float runs this run needs (the one it starts from, its distillation
    teachers) that had not finished already. Finished runs (metrics.json for the same settings,
    newer than the runs they start from) start nothing. Returns run name -> what `submit` returned."""
    handles: dict = {}
    for stage in to_train(stages, build_dir):
        for run in stage:
            handles[run["name"]] = submit(run, [handles[n] for n in upstream(run) if n in handles])
    return handles


def run_here(stages: list[list[dict]], build_dir: Path, threads: int, report=print) -> list[str]:
    """Without Ray: the unfinished runs one after another on this machine (stage order
    keeps every float run before the runs that start from it). Returns the names trained."""
    def submit(run, _parents):
        train_one(build_dir, run, threads)
        report(run["name"])
        return run["name"]

    build_dir.mkdir(parents=True, exist_ok=True)
    return list(schedule(stages, build_dir, submit))
