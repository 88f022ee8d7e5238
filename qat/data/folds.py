"""Speaker-grouped K-fold cross-validation over a whole dataset (every clip scored once, by a
model that never heard its speaker).

The pool is every clip the raw archive's three lists give (keywords, the sampled `_unknown_`
words and the `_silence_` slices). Speakers are dealt to folds largest first, each to the fold
with the fewest clips so far, after a seeded shuffle; `_silence_` slices (no speaker) are dealt
one by one. Inside the training folds a few speakers are held out as the validation split, so
early stopping or best-epoch selection never looks at the fold being scored.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from qat.data.clips import ClipRef


class FoldError(ValueError):
    pass


def assign_folds(refs: list[ClipRef], folds: int, seed: int = 0) -> np.ndarray:
    """Fold index per clip; all clips of one speaker share a fold."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(refs):
        # a clip without a speaker (a silence slice) is a group of its own
        groups[ref.speaker if ref.speaker and ref.speaker != "silence" else f"#clip{i}"].append(i)
    speakers = [g for g in groups if not g.startswith("#clip")]
    if folds < 2:
        raise FoldError(f"data.folds={folds}: cross-validation needs at least 2 folds")
    if folds > len(speakers):
        raise FoldError(f"data.folds={folds} is more than the {len(speakers)} speakers in the data: "
                        f"choose at most {len(speakers)} folds")
    order = list(groups)
    np.random.default_rng(seed).shuffle(order)
    order.sort(key=lambda g: -len(groups[g]))  # stable: ties keep the shuffled order
    fold_of = np.empty(len(refs), np.int64)
    sizes = np.zeros(folds, np.int64)
    speakers_in = np.zeros(folds, np.int64)
    for g in order:
        # fewest clips first; among equals, fewest speakers (so every fold gets speakers)
        k = int(np.lexsort((speakers_in, sizes))[0])
        fold_of[groups[g]] = k
        sizes[k] += len(groups[g])
        speakers_in[k] += not g.startswith("#clip")
    return fold_of


def fold_splits(refs: list[ClipRef], folds: int, fold: int, seed: int = 0,
                validation_percent: float = 5.0) -> dict[str, list[int]]:
    """Indices into `refs` for train / validation / test of one fold."""
    if not 0 <= fold < folds:
        raise FoldError(f"data.fold={fold}: choose 0 .. {folds - 1} for data.folds={folds}")
    fold_of = assign_folds(refs, folds, seed)
    test = [i for i in range(len(refs)) if fold_of[i] == fold]
    rest = [i for i in range(len(refs)) if fold_of[i] != fold]
    # validation: whole speakers from the training folds, about validation_percent of their clips
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for i in rest:
        by_speaker[refs[i].speaker or f"#clip{i}"].append(i)
    names = sorted(by_speaker)
    np.random.default_rng([seed, fold]).shuffle(names)
    want = len(rest) * validation_percent / 100
    validation: list[int] = []
    for name in names:
        if len(validation) >= want:
            break
        if name == "silence":
            continue
        validation += by_speaker[name]
    held = set(validation)
    # a few silence slices in validation too, so every class is watched
    silence = [i for i in rest if refs[i].speaker in ("", "silence")]
    held.update(silence[: max(1, int(len(silence) * validation_percent / 100))] if silence else [])
    return {"train": [i for i in rest if i not in held], "validation": sorted(held), "test": test}
