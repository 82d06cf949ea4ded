"""Is the synthetic night physiologically faithful? Hypnogram statistics, PSG signatures, and an outside stager.

Prints, against reference ranges from docs/physiology.md and the AASM manual:
1. whole-night hypnogram statistics of ``--nights`` generated 8 h nights per proportions preset;
2. per-stage relative band powers on C4-M1, spindle and K-complex densities in N2, the slow-wave
   fraction of N3 (F4-M1), and the generation time of one 8 h night (128 Hz, 6 channels);
3. the simulated human scorers (``datamodules.generator.scorer``, the default labels): counted
   two-scorer agreement per stage against the AASM programme's (W 84 %, N1 63 %, N2 85 %, N3 67 %,
   REM 91 %), kappa of a second scorer and of the latent stages against scorer 0;
4. if YASA is installed, its pre-trained automatic stager run on ``--yasa-nights`` nights per preset
   (C4-M1 alone, with EOG, with EMG, with both): Cohen's kappa and accuracy twice, against the
   latent stages (the bar: kappa >= 0.85 with C4-M1 alone) and against scorer 0's hypnogram, where an
   automatic stager lands against a human (YASA's validation: kappa about 0.8, accuracy about 87 %).

Run: ``python benchmarks/psg_quality.py --nights 20``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.generator.detectors import (  # noqa: E402
    detect_k_complexes,
    detect_spindles,
    relative_band_powers,
    slow_wave_fraction,
)
from datamodules.generator.eeg import DEFAULT_CHANNEL_TYPES, DEFAULT_CHANNELS, scoring_cues, simulate_psg  # noqa: E402
from datamodules.generator.hypnogram import PROPORTIONS_PRESETS, STAGE_NAMES, hypnogram_stats, simulate_hypnogram  # noqa: E402
from datamodules.generator.scorer import AASM_AGREEMENT, score_night  # noqa: E402
from datamodules.generator.subjects import draw_subject, subject_rng  # noqa: E402

EPOCHS_8H = 960
FS = 128.0
EPOCH_S = 30.0
W, N1, N2, N3, REM = range(5)
# Reference ranges for a healthy adult night in bed (docs/physiology.md and the sleep literature).
REFERENCE = {
    "total_sleep_time_min": "360-470 (healthy)",
    "sleep_onset_latency_min": "5-30 (healthy)",
    "rem_latency_min": "60-120",
    "num_cycles": "4-5 (3-6)",
    "n3_first_third_min": "> last third",
    "n3_last_third_min": "~0-10",
    "waso_min": "5-15 % of sleep period (healthy)",
    "num_awakenings": "5-15 (healthy)",
}
BAND_REFERENCE = "delta highest in N3, alpha in W, sigma in N2, theta high in N1/REM"
YASA_CONFIGS = {"C4-M1": {}, "C4-M1+EOG": {"eog_name": "EOG"}, "C4-M1+EMG": {"emg_name": "EMG"},
                "C4-M1+EOG+EMG": {"eog_name": "EOG", "emg_name": "EMG"}}  # fmt: skip


def make_night(seed: int, subject: int, preset: str) -> np.ndarray:
    return simulate_hypnogram(EPOCHS_8H, draw_subject(seed, subject), subject_rng(seed, subject, 1), preset)


def make_psg(seed: int, subject: int, labels: np.ndarray) -> np.ndarray:
    return simulate_psg(labels, draw_subject(seed, subject), subject_rng(seed, subject, 2), sample_rate=FS)


def scorer_reading(seed: int, subject: int, labels: np.ndarray, scorer: int) -> np.ndarray:
    """Simulated scorer ``scorer``'s hypnogram of the night whose PSG :func:`make_psg` draws."""
    cues = scoring_cues(labels, subject_rng(seed, subject, 2), sample_rate=FS)
    return score_night(labels, np.random.default_rng([seed, subject, 0x5C0, scorer]), cues=cues)


def kappa(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Cohen's kappa and accuracy of two label sequences (torchmetrics)."""
    import torch
    from torchmetrics.functional.classification import multiclass_cohen_kappa

    x, y = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    return float(multiclass_cohen_kappa(x, y, num_classes=5)), float((x == y).double().mean())


def report_scorers(nights: int, seed: int) -> None:
    for preset in PROPORTIONS_PRESETS:
        alike, counts = np.zeros(5), np.zeros(5)
        latent, first, second = [], [], []
        for subject in range(nights):
            labels = make_night(seed, subject, preset)
            one, two = scorer_reading(seed, subject, labels, 0), scorer_reading(seed, subject, labels, 1)
            same = one == two
            alike += np.bincount(labels, weights=same, minlength=5)
            counts += np.bincount(labels, minlength=5)
            latent.append(labels), first.append(one), second.append(two)
        latent_all, first_all, second_all = (np.concatenate(x) for x in (latent, first, second))
        print(f"\n== simulated scorers: preset {preset!r}, {nights} nights of 8 h ==")
        rates = alike / np.maximum(counts, 1)
        print("  two-scorer agreement: " + ", ".join(f"{STAGE_NAMES[i]} {rates[i]:.3f} (AASM {AASM_AGREEMENT[i]:.3f})"
                                                      for i in range(5)) + f"; all {float((first_all == second_all).mean()):.3f} (AASM 0.826)")
        k, acc = kappa(second_all, first_all)
        print(f"  scorer 1 vs scorer 0: kappa {k:.3f}, accuracy {acc:.3f}   (the programme: kappa 0.76)")
        k, acc = kappa(latent_all, first_all)
        print(f"  latent stages vs scorer 0: kappa {k:.3f}, accuracy {acc:.3f}   (a perfect reader's ceiling)")


def report_hypnograms(nights: int, seed: int) -> None:
    for preset, target in PROPORTIONS_PRESETS.items():
        stats = [hypnogram_stats(make_night(seed, s, preset)) for s in range(nights)]
        print(f"\n== hypnograms: preset {preset!r}, {nights} nights of 8 h ==")
        props = np.array([[s["proportions"][name] for name in STAGE_NAMES] for s in stats])
        for i, name in enumerate(STAGE_NAMES):
            print(f"  {name:>3}: {props[:, i].mean():6.3f} [{props[:, i].min():.3f}, {props[:, i].max():.3f}]"
                  f"   target {target[i]:.3f}")
        for key, ref in REFERENCE.items():
            v = np.array([s[key] for s in stats], dtype=float)
            print(f"  {key:<24} {np.nanmean(v):7.1f} [{np.nanmin(v):6.1f}, {np.nanmax(v):6.1f}]   ref {ref}")
        first = np.mean([s["rem_period_min"][0] for s in stats if s["rem_period_min"]])
        last = np.mean([s["rem_period_min"][-1] for s in stats if s["rem_period_min"]])
        print(f"  REM period first/last min {first:5.1f} / {last:5.1f}   ref ~5-10 / 20-40")


def report_signals(nights: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    print(f"\n== PSG signatures: {nights} healthy 8 h nights at {FS:g} Hz ==")
    out, seconds = [], []
    for s in range(nights):
        labels = make_night(seed, s, "healthy")
        start = time.perf_counter()
        x = make_psg(seed, s, labels)
        seconds.append(time.perf_counter() - start)
        out.append((labels, x))
    labels = np.concatenate([lab for lab, _ in out])
    c4 = np.concatenate([x[0].reshape(-1, int(EPOCH_S * FS)) for _, x in out])
    bands = relative_band_powers(c4, FS)
    std = c4.std(axis=1) * 1e6
    print(f"  relative band power on C4-M1 (ref: {BAND_REFERENCE}); SD in uV (ref: N2 ~29, N3 ~20-30)")
    print("  stage  " + "  ".join(f"{b:>6}" for b in bands) + "   SD uV")
    for st, name in enumerate(STAGE_NAMES):
        m = labels == st
        print(f"  {name:>5}  " + "  ".join(f"{v[m].mean():6.3f}" for v in bands.values()) + f"   {std[m].mean():5.1f}")
    spindles, kcs, n2_min, swf = 0, 0, 0.0, {W: [], N2: [], N3: []}
    for lab, x in out:
        on, _ = detect_spindles(x[0], FS)
        spindles += int(np.sum(lab[(on // EPOCH_S).astype(int)] == N2))
        kc = detect_k_complexes(x[2], FS)
        kcs += int(np.sum(lab[(kc // EPOCH_S).astype(int)] == N2))
        n2_min += np.sum(lab == N2) * EPOCH_S / 60.0
        frontal = x[2].reshape(-1, int(EPOCH_S * FS))
        for st in swf:
            swf[st] += [slow_wave_fraction(e, FS) for e in frontal[lab == st][:100]]
    print(f"  spindles per min of N2 (C4-M1): {spindles / n2_min:5.2f}   ref 2-7")
    print(f"  K-complexes per min of N2 (F4-M1): {kcs / n2_min:5.2f}   ref 1-3")
    print("  slow-wave fraction (F4-M1, >= 75 uV p-p 0.5-2 Hz): "
          + ", ".join(f"{STAGE_NAMES[st]} {np.mean(v):.3f}" for st, v in swf.items()) + "   ref N3 >= 0.2, N2 < 0.2")
    print(f"  generation time per 8 h night (6 channels, {FS:g} Hz): {np.mean(seconds):.2f} s "
          f"[{min(seconds):.2f}, {max(seconds):.2f}]")
    return out


def report_yasa(nights: int, seed: int) -> None:
    try:
        import mne
        import yasa
    except ImportError:
        print("\n(yasa not installed: skipping the outside stager; pip install yasa==0.8.1)")
        return
    warnings.filterwarnings("ignore")
    for preset in PROPORTIONS_PRESETS:
        truth: list[np.ndarray] = []
        scored: list[np.ndarray] = []
        pred: dict[str, list[np.ndarray]] = {c: [] for c in YASA_CONFIGS}
        for s in range(nights):
            subject = 1000 + s  # subjects not used for tuning
            labels = make_night(seed, subject, preset)
            x = make_psg(seed, subject, labels)
            truth.append(labels)
            scored.append(scorer_reading(seed, subject, labels, 0))
            info = mne.create_info(list(DEFAULT_CHANNELS), FS, list(DEFAULT_CHANNEL_TYPES))
            raw = mne.io.RawArray(x.astype(np.float64), info, verbose=False)
            for name, extra in YASA_CONFIGS.items():
                staged = yasa.SleepStaging(raw, eeg_name="C4-M1", **extra).predict()
                pred[name].append(np.asarray(staged.as_int()))  # 0..4 = W, N1, N2, N3, R
        for reference, against, aim in (("latent stages", truth, "AIM: kappa >= 0.85 with C4-M1"),
                                         ("scorer 0's hypnogram", scored, "YASA vs humans: kappa ~0.8, accuracy ~87 %")):  # fmt: skip
            print(f"\n== YASA {yasa.__version__} automatic staging vs the {reference}: preset {preset!r}, "
                  f"{nights} nights of 8 h ({aim}) ==")
            for name in YASA_CONFIGS:
                t, p = np.concatenate(against), np.concatenate(pred[name])
                per_night = [kappa(a, b)[0] for a, b in zip(against, pred[name], strict=True)]
                k, acc = kappa(p, t)
                print(f"  {name:<14} kappa {k:.3f}  accuracy {acc:.3f}   per-night kappa [{min(per_night):.3f}, {max(per_night):.3f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=20, help="nights per preset for hypnogram statistics")
    parser.add_argument("--psg-nights", type=int, default=3, help="nights whose PSG signatures are measured")
    parser.add_argument("--yasa-nights", type=int, default=3, help="nights per preset staged by YASA (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    report_hypnograms(args.nights, args.seed)
    report_signals(args.psg_nights, args.seed)
    report_scorers(args.nights, args.seed)
    if args.yasa_nights > 0:
        report_yasa(args.yasa_nights, args.seed)


if __name__ == "__main__":
    main()
