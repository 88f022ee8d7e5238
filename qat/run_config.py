"""A run's settings (YAML), validated before anything is loaded or trained."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from qat import schemes
from qat.dataset import DataConfig
from qat.models import MODELS
from qat.quant_config import QuantConfig
from qat.stream_config import StreamConfig, StreamConfigError


class RunConfigError(ValueError):
    pass


@dataclass
class TrainConfig:
    seed: int = 0
    batch_size: int = 100
    float_epochs: int = 80  # recipe: 40 -> 80 epochs with lr 1e-3 -> 3e-3 (README, "Training recipe")
    qat_epochs: int = 20
    lr: float = 3e-3
    qat_lr: float = 3e-4
    patience: int = 10  # early stopping on validation accuracy, per phase (only with select: best)
    calib_clips: int = 512
    # The small-data recipe (README, "Training recipe"): each setting was measured by
    # speaker-grouped cross-validation before it became a default.
    warmup_epochs: int = 0  # linear LR warm-up, then cosine decay to 0
    weight_decay: float = 0.0  # L2 coefficient on every kernel (Keras `l2` form), every phase
    label_smoothing: float = 0.0
    mixup: float = 0.2  # Beta(alpha, alpha); 0 = off
    # SpecAugment on features: time_masks/time_width (20 ms frames), freq_masks/freq_width (bins)
    spec_augment: dict = field(default_factory=dict)
    # Which weights a phase ends with: "last" (the epoch budget decides) or "best" (highest
    # validation accuracy; on a small validation split that selects on noise).
    select: str = "last"
    # Knowledge distillation: {alpha: 0.5, temperature: 2.0, teacher: null, teacher_seeds: null}.
    # A QAT run distils its QAT phases, from its own float model when teacher is null; a float run
    # distils its float phase and needs a teacher. teacher = the name of a finished float run in the
    # build folder, or a list of them (an ensemble: the mean of their logits); it may read other
    # features than the student (qat/teacher.py: it then computes its own from the same clips). Cross-validation maps
    # each name to that config's run on the same fold, of the seeds in teacher_seeds (default: the
    # run's own seed), and trains those first; teacher_seeds is for cross-validation only.
    distill: dict | None = None
    # A finished float run (its build folder name) to start QAT from instead of pre-training
    # again: float and quantized results then share one float model.
    init_from: str | None = None

    def __post_init__(self):
        for name in ("batch_size", "calib_clips"):
            if getattr(self, name) < 1:
                raise RunConfigError(f"train.{name} must be >= 1")
        for name in ("float_epochs", "qat_epochs", "patience"):
            if getattr(self, name) < 0:
                raise RunConfigError(f"train.{name} must be >= 0")
        if self.lr <= 0 or self.qat_lr <= 0:
            raise RunConfigError("learning rates must be > 0")
        if self.warmup_epochs < 0:
            raise RunConfigError("train.warmup_epochs must be >= 0")
        for name in ("weight_decay", "mixup"):
            if not isinstance(getattr(self, name), (int, float)) or getattr(self, name) < 0:
                raise RunConfigError(f"train.{name}={getattr(self, name)!r} must be a number >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise RunConfigError(f"train.label_smoothing={self.label_smoothing!r} must be in [0, 1)")
        if self.select not in ("last", "best"):
            raise RunConfigError(f"train.select={self.select!r}: choose 'last' or 'best'")
        known = {"time_masks", "time_width", "freq_masks", "freq_width"}
        sa = self.spec_augment or {}
        if set(sa) - known or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in sa.values()):
            raise RunConfigError(f"train.spec_augment={sa!r}: integers >= 0 for {sorted(known)}")
        if self.distill is not None:
            self.distill = _checked_distill(self.distill)


DISTILL_KEYS = ("alpha", "temperature", "teacher", "teacher_seeds")


def _checked_distill(distill: dict) -> dict:
    d = {"alpha": 0.5, "temperature": 2.0, "teacher": None, "teacher_seeds": None, **distill}
    if set(d) - set(DISTILL_KEYS):
        raise RunConfigError(f"train.distill: unknown key(s) {sorted(set(d) - set(DISTILL_KEYS))}; known: {', '.join(DISTILL_KEYS)}")
    if not 0 < d["alpha"] <= 1 or not d["temperature"] > 0:
        raise RunConfigError(f"train.distill: alpha={d['alpha']!r} must be in (0, 1], temperature={d['temperature']!r} > 0")
    names = [d["teacher"]] if isinstance(d["teacher"], str) else d["teacher"]
    if names is not None and (not isinstance(names, list) or not names
                              or any(not isinstance(n, str) or not n or "/" in n for n in names)):
        raise RunConfigError(f"train.distill.teacher={d['teacher']!r}: the name of a float run under the build "
                             "folder, or a list of such names (an ensemble)")
    seeds = d["teacher_seeds"]
    if seeds is not None:
        if names is None:
            raise RunConfigError("train.distill.teacher_seeds: name the teacher (train.distill.teacher) whose seeds these are")
        if not isinstance(seeds, list) or not seeds or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in seeds):
            raise RunConfigError(f"train.distill.teacher_seeds={seeds!r}: a non-empty list of seeds (integers >= 0)")
    return d


def teacher_names(distill: dict | None) -> list[str]:
    """The distillation teacher's run names (several: an ensemble); [] = none named."""
    teacher = (distill or {}).get("teacher")
    return [teacher] if isinstance(teacher, str) else list(teacher or [])


@dataclass
class RunConfig:
    name: str
    model: str = "dscnn"
    model_args: dict = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    quant: QuantConfig | None = None
    scheme: str = "linear"  # QAT recipe, see qat/schemes/
    scheme_args: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    # Hardware settings read by hw/ (backend, io_type, strategy, reuse_factor, precision_overrides);
    # carried through training untouched so one file describes the whole flow.
    hls: dict = field(default_factory=dict)
    # The always-on IP: decision rate, smoothing, threshold and refractory of the keyword detector.
    stream: StreamConfig = field(default_factory=StreamConfig)

    def __post_init__(self):
        try:
            if self.quant is not None:
                schemes.get(self.scheme).validate(self.scheme_args, self.quant)
            else:
                schemes.get(self.scheme)
        except ValueError as exc:
            raise RunConfigError(str(exc)) from exc
        if self.model not in MODELS:
            raise RunConfigError(f"model={self.model!r}: choose one of {sorted(MODELS)}")
        self.feature_spec()  # data.features must fit the model's kind of input
        if not self.name or "/" in self.name:
            raise RunConfigError(f"name={self.name!r}: a non-empty run name without '/'")

    def feature_spec(self):
        """What the model reads (qat.features.FeatureSpec): its kind with the run's data.features."""
        from qat.features import FeatureError, FeatureSpec
        from qat.models import feature_kind

        try:
            return FeatureSpec.of(feature_kind(self.model), self.data.features)
        except FeatureError as exc:
            raise RunConfigError(str(exc)) from None

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        data = dict(data)
        known = {f.name for f in fields(cls)}
        if set(data) - known:
            raise RunConfigError(f"unknown setting(s) {sorted(set(data) - known)}; known: {sorted(known)}")
        if "name" not in data:
            raise RunConfigError("a run config needs a `name` (the folder under build/)")
        train = dict(data.pop("train", None) or {})
        if set(train) - {f.name for f in fields(TrainConfig)}:
            raise RunConfigError(f"unknown train setting(s) {sorted(set(train) - {f.name for f in fields(TrainConfig)})}")
        try:
            stream = StreamConfig.from_dict(data.pop("stream", None))
        except StreamConfigError as exc:
            raise RunConfigError(str(exc)) from None
        return cls(data=DataConfig.from_dict(data.pop("data", None)), quant=QuantConfig.from_dict(data.pop("quant", None)),
                   train=TrainConfig(**train), stream=stream, **data)

    @classmethod
    def load(cls, path: str | Path, overrides: dict | None = None) -> "RunConfig":
        path = Path(path)
        if not path.exists():
            raise RunConfigError(f"{path}: no such config file (see configs/ for examples)")
        data = yaml.safe_load(path.read_text()) or {}
        for dotted, value in (overrides or {}).items():
            _set_dotted(data, dotted, value)
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["data"] = self.data.to_dict()
        out["quant"] = self.quant.to_dict() if self.quant else None
        out["stream"] = self.stream.to_dict()
        return out

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    def can_start_from(self, parent: "RunConfig") -> bool:
        """Whether `parent` (a float run's config) trains the same model on the same data as this run,
        so QAT may start from its weights (`train.init_from`). Where the dataset lies on disk
        (data.path, --data or $KWS_GSC_DIR) is not a data setting."""
        same_data = lambda d: {k: v for k, v in d.to_dict().items() if k != "path"}  # noqa: E731
        return (self.model, self.model_args, same_data(self.data)) == (parent.model, parent.model_args, same_data(parent.data))


def stamp_path(run_dir: Path) -> Path:
    """Where a run records the settings it was trained with (written when it starts or resumes)."""
    return Path(run_dir) / "ckpt" / "run_config.yaml"


def _set_dotted(data: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        if not isinstance(data.get(k), dict):
            data[k] = {}
        data = data[k]
    data[keys[-1]] = copy.deepcopy(value)  # a later `a.b.c` override must not edit the caller's `a.b`


def parse_override(text: str) -> tuple[str, object]:
    """`train.float_epochs=5` → ("train.float_epochs", 5); values are parsed as YAML."""
    if "=" not in text:
        raise RunConfigError(f"override {text!r}: expected key.path=value")
    key, value = text.split("=", 1)
    parsed = yaml.safe_load(value)
    if isinstance(parsed, str):
        try:  # YAML 1.1 reads `1e-4` (no dot) as a string; a user means the number
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed
