"""The evaluation report: tables (markdown + CSV) and figures (PNG) from scored test spectra.

Input: for each input case a scored table (one row per spectrum: ``type``, ``true_<layer>``,
every classifier's ``<cls>``/``<cls>_std``, the hierarchy's ``decision``/``path``, SNID's
``<cls>_snid``; optional ``tag`` (gold/bronze) and ``num_snid`` columns).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ccsnscore.evaluation.comparison import layer_comparison
from ccsnscore.evaluation.metrics import (
    binary_roc,
    class_metrics,
    confidence_cut_summary,
    confusion_with_ambiguous,
    overall_accuracy,
    recall_by_phase,
    tns_breakdown,
    wilson_interval,
)
from ccsnscore.evaluation.plots import (
    new_figure,
    plot_confusion,
    plot_confusion_grid,
    plot_reliability,
    plot_roc,
    plot_score_histograms,
)
from ccsnscore.inference.decisions import AMBIGUOUS, CONFIDENT_MAX_STD, CONFIDENT_MIN_SCORE, decide

MIN_SCORE = {"gold": CONFIDENT_MIN_SCORE, "bronze": 0.9}
"""The confidence cut on the score: the paper's for gold spectra, stricter for bronze ones."""
MAX_STD = CONFIDENT_MAX_STD
PHASE_EDGES = (-5.0, 0.0, 10.0, 30.0)
"""Phase bins of the recall-by-phase tables: young spectra (before -5 d) apart, as they are the hardest."""
METRIC_COLUMNS = [
    "n",
    "TP",
    "FP",
    "FN",
    "TN",
    "n_ambiguous",
    "F1",
    "precision",
    "precision_lo",
    "precision_hi",
    "TPR",
    "TPR_lo",
    "TPR_hi",
    "FPR",
    "FPR_lo",
    "FPR_hi",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
]


class Report:
    """Collects markdown sections, tables and figures in a folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        (folder / "figures").mkdir(parents=True, exist_ok=True)
        (folder / "tables").mkdir(exist_ok=True)
        self.lines: list[str] = []

    def text(self, *lines: str) -> None:
        self.lines.extend(lines)
        self.lines.append("")

    def table(self, frame: pd.DataFrame, name: str, floatfmt: str = ".3f", index: bool = True) -> None:
        frame.to_csv(self.folder / "tables" / f"{name}.csv", index=index)
        self.text(frame.to_markdown(floatfmt=floatfmt, index=index), f"*(tables/{name}.csv)*")

    def figure(self, fig, name: str, caption: str) -> None:
        fig.savefig(self.folder / "figures" / f"{name}.png", dpi=110, bbox_inches="tight")
        self.text(f"![{caption}](figures/{name}.png)")

    def write(self) -> Path:
        path = self.folder / "report.md"
        path.write_text("\n".join(self.lines))
        return path


def _layer_decision(scored: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    return decide(scored[[c for cls in classes for c in (cls, f"{cls}_std")]], classes)


def _classes(scored: pd.DataFrame, info: dict, layer: str) -> list[str] | None:
    classes = list(info["layers"].get(layer, {}))
    if not classes or any(c not in scored for c in classes):
        return None
    return classes


def layer_section(
    report: Report,
    scored: pd.DataFrame,
    info: dict,
    layer: str,
    case: str,
    merge: dict | None = None,
    title: str | None = None,
) -> pd.DataFrame | None:
    """Confusion matrix, confidence cut and metrics of one layer's parallel classifiers, on the
    spectra whose true class belongs to that layer. ``merge`` maps classes onto others (Ic-BL->Ic)."""
    classes = _classes(scored, info, layer)
    if classes is None:
        return None
    rows = scored[scored[f"true_{layer}"] != ""]
    if rows.empty:
        return None
    decision = _layer_decision(rows, classes)
    true, called = rows[f"true_{layer}"].to_numpy(object), decision["decision"].to_numpy(object)
    shown = classes
    if merge:
        true = np.array([merge.get(t, t) for t in true], dtype=object)
        called = np.array([merge.get(c, c) for c in called], dtype=object)
        shown = [c for c in classes if c not in merge]
    name = f"{layer}_{case}" + ("_merged" if merge else "")
    report.text(f"### {title or layer} — case {case} ({len(rows)} spectra)")
    confusion = confusion_with_ambiguous(true, called, shown)
    acc = overall_accuracy(true, called, shown)
    report.table(confusion, f"confusion_{name}", floatfmt=".0f")
    report.text(
        f"Accuracy {acc['accuracy']:.3f} (68% interval {acc['accuracy_lo']:.3f}-{acc['accuracy_hi']:.3f}; "
        "ambiguous counted as wrong)."
    )
    report.figure(
        plot_confusion(confusion, title=f"{layer} {case}", footer=f"accuracy {acc['accuracy']:.3f}"),
        f"confusion_{name}",
        f"{layer} confusion matrix, case {case}",
    )
    min_score = np.where(
        rows.get("tag", pd.Series("", index=rows.index)).astype(str).str.lower() == "bronze",
        MIN_SCORE["bronze"],
        MIN_SCORE["gold"],
    )
    cut = confidence_cut_summary(
        true, called, decision["score"], decision["score_std"], shown, min_score=min_score, max_std=MAX_STD
    )
    report.text(
        f"After the confidence cuts (P > {MIN_SCORE['gold']}, {MIN_SCORE['bronze']} for bronze; "
        f"P_unc < {MAX_STD}): "
        f"{cut.n_pass} of {cut.n_total} pass ({cut.pass_fraction:.1%})."
    )
    report.table(cut.confusion, f"confusion_cut_{name}", floatfmt=".0f")
    report.figure(
        plot_confusion(
            cut.confusion,
            title=f"{layer} {case}, P>{MIN_SCORE['gold']}, unc<{MAX_STD}",
            footer=f"pass {cut.pass_fraction:.1%}",
        ),
        f"confusion_cut_{name}",
        "after confidence cuts",
    )
    if "phase" in rows and rows["phase"].notna().any():
        report.text(
            "Recall by phase (days from maximum light; ambiguous counted as wrong; `_lo`/`_hi`: 68% intervals):"
        )
        report.table(
            recall_by_phase(true, called, rows["phase"].to_numpy(float), shown, PHASE_EDGES),
            f"recall_by_phase_{name}",
            index=False,
        )
    metrics = class_metrics(true, called, shown)[METRIC_COLUMNS]
    counts = ["n", "TP", "FP", "FN", "TN", "n_ambiguous"]
    metrics[counts] = metrics[counts].astype(int)
    report.table(metrics, f"metrics_{name}")
    return metrics.assign(case=case, layer=layer + ("_merged" if merge else ""))


def roc_section(report: Report, scored: pd.DataFrame, info: dict, layer: str, case: str) -> pd.DataFrame | None:
    """One ROC figure per layer (every classifier; SNID's curve dashed, on the spectra whose
    headers give it), one figure of score histograms, and a table of AUCs."""
    classes = _classes(scored, info, layer)
    if classes is None:
        return None
    rows = scored[scored[f"true_{layer}"] != ""]
    tags = rows["tag"].astype(str).str.lower().to_numpy() if "tag" in rows else None
    curves, aucs, snid = {}, [], None
    fig = new_figure(4.2 * len(classes), 3.6)
    axes = fig.subplots(1, len(classes), squeeze=False)[0]
    for ax, cls in zip(axes, classes):
        y, s = (rows[f"true_{layer}"] == cls).to_numpy(int), rows[cls].to_numpy()
        curves[cls] = (y, s)
        snid_col = f"{cls}_snid"
        with_snid = rows[snid_col].notna().to_numpy() if snid_col in rows else np.zeros(len(rows), bool)
        has_snid = with_snid.any()
        if has_snid and snid is None:
            snid = (y[with_snid], rows.loc[with_snid, snid_col].to_numpy())
            snid_label = f"SNID {cls} ({with_snid.sum()} spectra)"
        aucs.append(
            {
                "classifier": cls,
                "n": len(y),
                "positives": int(y.sum()),
                "AUC": binary_roc(y, s)[2],
                "n_with_snid": int(with_snid.sum()),
                "AUC_on_snid_spectra": binary_roc(y[with_snid], s[with_snid])[2] if has_snid else np.nan,
                "AUC_snid": binary_roc(y[with_snid], rows.loc[with_snid, snid_col].to_numpy())[2]
                if has_snid
                else np.nan,
            }
        )
        sets = (
            {t: (y[tags == t], s[tags == t]) for t in ("gold", "bronze") if (tags == t).any()}
            if tags is not None
            else {"": (y, s)}
        )
        plot_score_histograms(sets, title=cls, ax=ax)
    report.figure(
        plot_roc(curves, snid=snid, snid_label=snid_label if snid else "SNID", title=f"{layer}, case {case}"),
        f"roc_{layer}_{case}",
        f"ROC {layer}",
    )
    report.figure(fig, f"hist_{layer}_{case}", f"score histograms {layer}")
    table = pd.DataFrame(aucs).set_index("classifier")
    report.table(table, f"auc_{layer}_{case}")
    return table.assign(case=case, layer=layer)


def _tree_baseline_note(info: dict, layer: str) -> str:
    """How the layer's tree baseline read the spectrum, where the evaluation recorded it."""
    window = (info.get("tree_windows") or {}).get(layer)
    if window is None:
        return ""
    spectrum = f"the flux and the flux minus its {window}-pixel running mean" if window else "the flux"
    return f"; tree baseline: gradient-boosted trees fitted on the layer's non-test rows, reading {spectrum}"


def comparison_section(report: Report, scored: pd.DataFrame, info: dict, layer: str, case: str) -> pd.DataFrame | None:
    """The networks (MC dropout and dropout off), the tree baseline and SNID on the same spectra,
    with 68% intervals (Wilson for accuracy, bootstrap for AUC), and the reliability diagram."""
    classes = _classes(scored, info, layer)
    if classes is None:
        return None
    rows = scored[scored[f"true_{layer}"] != ""]
    if rows.empty:
        return None
    table = layer_comparison(rows, layer, classes)
    report.text(
        f"Scorers of {layer} on the same {len(rows)} spectra (accuracy counts ambiguous as wrong; "
        f"confident: score > {CONFIDENT_MIN_SCORE} and std < {CONFIDENT_MAX_STD}, which only MC dropout "
        "can pass with a non-zero spread; `_lo`/`_hi`: 68% intervals" + _tree_baseline_note(info, layer) + "):"
    )
    report.table(table, f"comparison_{layer}_{case}")
    curves = {c: ((rows[f"true_{layer}"] == c).to_numpy(int), rows[c].to_numpy()) for c in classes}
    report.figure(
        plot_reliability(curves, title=f"{layer}, case {case}: MC-dropout means"),
        f"reliability_{layer}_{case}",
        f"reliability diagram {layer}",
    )
    return table.assign(layer=layer, case=case)


GATE_TARGETS = {"Ia": ("stopped", 0.95), "CC": ("let through", 0.95), "other": ("stopped", 0.90)}
"""Goals of the gate: the share of each true class stopped (any decision but CC) or let through."""


def gate_section(report: Report, scored: pd.DataFrame, info: dict, case: str) -> pd.DataFrame | None:
    """Layer 0 as the hierarchy used it: per true class, the share let through to layer 1 (decided
    ``CC``) and stopped (``Ia``, ``other`` or ambiguous), with Wilson 68% intervals."""
    if "layer0_decision" not in scored or "true_layer0" not in scored:
        return None
    rows = scored[scored["true_layer0"] != ""]
    decision = rows["layer0_decision"].replace("", AMBIGUOUS)
    out = []
    for cls, group in rows.groupby("true_layer0"):
        called = decision.loc[group.index]
        through = int((called == "CC").sum())
        n = len(group)
        lo, hi = wilson_interval(through, n)
        out.append(
            {
                "true class": cls,
                "n": n,
                **{f"decided {d}": int((called == d).sum()) for d in ("Ia", "CC", "other", AMBIGUOUS)},
                "let through": through / n,
                "let through_lo": float(lo),
                "let through_hi": float(hi),
                "stopped": 1 - through / n,
                "goal": f"{GATE_TARGETS[cls][0]} >= {GATE_TARGETS[cls][1]:.0%}" if cls in GATE_TARGETS else "",
            }
        )
    table = pd.DataFrame(out).set_index("true class")
    report.text(
        f"### The gate — case {case} ({len(rows)} spectra)",
        "Layer 0 decides Ia, core collapse (CC) or other; only CC spectra go on to layer 1 (an "
        "ambiguous gate stops the spectrum).",
    )
    report.table(table, f"gate_{case}")
    return table.assign(case=case)


def hierarchy_section(report: Report, scored: pd.DataFrame, info: dict, case: str) -> None:
    """End-to-end: the hierarchy's final decision against the true subtype (or H-rich/H-poor)."""
    if "true_layer1" not in scored:
        return
    rows = scored[scored["true_layer1"] != ""]
    sub = np.where(rows.get("true_layer2a", "") != "", rows.get("true_layer2a", ""), rows.get("true_layer2b", ""))
    true = np.where(sub != "", sub, rows["true_layer1"]).astype(object)
    classes = [c for layer in ("layer2a", "layer2b") for c in info["layers"].get(layer, {})] + ["Hrich", "Hpoor"]
    if "layer0" in info["layers"]:
        classes += [c for c in info["layers"]["layer0"] if c not in classes]
    report.text(
        f"### Whole hierarchy — case {case} ({len(rows)} CC spectra)",
        "Final decision of the hierarchy (the gate, layer 1, then layer 2a/2b); `Hrich`/`Hpoor` "
        "when layer 2 was ambiguous, `CC` when layer 1 was. Rows: true subtype (or layer-1 class "
        "when the subtype is none of layer 2's).",
    )
    confusion = confusion_with_ambiguous(true, rows["decision"].to_numpy(object), classes)
    report.table(confusion.loc[[c for c in classes if c in set(true)]], f"confusion_hierarchy_{case}", floatfmt=".0f")
    report.table(rows["path"].value_counts().rename("spectra").to_frame().head(20), f"paths_{case}", floatfmt=".0f")


def tns_section(report: Report, scored: pd.DataFrame, case: str) -> None:
    if "num_snid" not in scored or "phase" not in scored:
        return
    rows = scored[scored["true_layer1"] != ""]
    decision = _layer_decision(rows, ["Hrich", "Hpoor"])
    table = pd.DataFrame(
        {
            "phase": rows["phase"],
            "num_snid": rows["num_snid"],
            "true": rows["true_layer1"],
            "decision": decision["decision"],
            "score": decision["score"],
            "score_std": decision["score_std"],
        }
    )
    report.text(f"### TNS reporting criteria (section 6) — case {case}")
    report.table(tns_breakdown(table, ["Hrich", "Hpoor"], phase_edges=(10.0,)), f"tns_{case}", index=False)


def write_report(scored: dict[str, pd.DataFrame], folder: Path, infos: dict, command: str = "") -> Path:
    """Write ``report.md``, ``figures/*.png``, ``tables/*.csv`` and ``scores_<case>.csv`` into ``folder``."""
    folder = Path(folder)
    report = Report(folder)
    first = next(iter(infos.values()))
    report.text(
        "# ccsnscore evaluation report",
        f"- created: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}",
        f"- command: `{command}`",
        f"- dataset: `{Path(str(first.get('data_root'))).name}` (fingerprint {first.get('dataset_fingerprint')})",
        f"- input cases: {', '.join(scored)}",
        "- scores: mean and standard deviation of 100 Monte-Carlo-dropout passes per classifier; "
        "a layer's decision is its top classifier unless the top two overlap within the sum of "
        "their standard deviations (`Ambi`).",
        "- metrics (table 3 of the paper): ambiguous counted as FN for TPR and as TN for FPR; "
        "`_lo`/`_hi` are Wilson 68% interval bounds.",
    )
    all_metrics, all_aucs, comparisons, gates = [], [], [], []
    for case, table in scored.items():
        table.to_csv(folder / f"scores_{case}.csv", index=False)
        info = infos[case]
        report.text(
            f"## Input case {case}",
            f"Scores: `scores_{case}.csv` ({len(table)} spectra).",
            "Test spectra per type:",
            table["type"].value_counts().rename("spectra").to_frame().T.to_markdown(),
        )
        m = layer_section(report, table, info, "layer1", case, title="Layer 1: H-rich vs H-poor")
        all_metrics.append(m)
        comparisons.append(comparison_section(report, table, info, "layer1", case))
        all_aucs.append(roc_section(report, table, info, "layer1", case))
        if "tag" in table:
            for tag in ("gold", "bronze"):
                part = table[table["tag"].astype(str).str.lower() == tag]
                if len(part):
                    all_metrics.append(
                        layer_section(report, part, info, "layer1", f"{case}-{tag}", title=f"Layer 1 ({tag})")
                    )
        for layer, title in (("layer2a", "Layer 2a: II / IIb-H / IIn"), ("layer2b", "Layer 2b: Ib / Ic / Ic-BL")):
            all_metrics.append(layer_section(report, table, info, layer, case, title=title))
            comparisons.append(comparison_section(report, table, info, layer, case))
            all_aucs.append(roc_section(report, table, info, layer, case))
        all_metrics.append(
            layer_section(
                report,
                table,
                info,
                "layer2b",
                case,
                merge={"Ic-BL": "Ic"},
                title="Layer 2b: Ib vs Ic (Ic-BL merged into Ic)",
            )
        )
        title0 = "Layer 0: " + " / ".join(info["layers"].get("layer0", {}))
        all_metrics.append(layer_section(report, table, info, "layer0", case, title=title0))
        comparisons.append(comparison_section(report, table, info, "layer0", case))
        all_aucs.append(roc_section(report, table, info, "layer0", case))
        gates.append(gate_section(report, table, info, case))
        hierarchy_section(report, table, info, case)
        tns_section(report, table, case)
    metrics = [m for m in all_metrics if m is not None]
    if len(scored) > 1 and metrics:
        report.text("## Input cases side by side")
        summary = pd.concat(metrics).reset_index(names="class")
        report.table(
            summary[summary["layer"] == "layer1"][
                [
                    "case",
                    "class",
                    "n",
                    "F1",
                    "precision",
                    "TPR",
                    "TPR_lo",
                    "TPR_hi",
                    "FPR",
                    "FPR_lo",
                    "FPR_hi",
                    "accuracy",
                ]
            ],
            "cases_layer1",
            index=False,
        )
        grids = {}
        for case, table in scored.items():
            rows = table[table["true_layer1"] != ""]
            decision = _layer_decision(rows, ["Hrich", "Hpoor"])
            grids[case] = confusion_with_ambiguous(rows["true_layer1"], decision["decision"], ["Hrich", "Hpoor"])
        report.figure(
            plot_confusion_grid(grids, title="Layer 1 by input case"), "cases_layer1", "layer 1 confusion by input case"
        )
    if metrics:
        pd.concat(metrics).to_csv(folder / "tables" / "metrics_all.csv")
    aucs = [a for a in all_aucs if a is not None]
    if aucs:
        pd.concat(aucs).to_csv(folder / "tables" / "auc_all.csv")
    compared = [c for c in comparisons if c is not None]
    if compared:
        pd.concat(compared).to_csv(folder / "tables" / "comparison_all.csv")
    gate_tables = [g for g in gates if g is not None]
    if gate_tables:
        pd.concat(gate_tables).to_csv(folder / "tables" / "gate_all.csv")
    (folder / "report.json").write_text(
        json.dumps(
            {"command": command, "cases": list(scored), "dataset_fingerprint": first.get("dataset_fingerprint")},
            indent=1,
        )
    )
    return report.write()
