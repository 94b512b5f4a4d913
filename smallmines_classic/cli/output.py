"""The tables the commands print: areas, scores, the per-band scene check, the sample, the assessment, monitor's."""

__all__ = ["monitor_table", "print_areas", "print_assessment", "print_sample_counts", "print_scores",
           "scene_check_table"]


def print_areas(label, areas):
    """One line: the mined (or change class) area in pixels, ha and km2, and the no-data area when there is one."""
    line = f"{label:<18} {areas['pixels']:>12d} px  {areas['ha']:>14.2f} ha  {areas['km2']:>12.4f} km2"
    if "nodata" in areas:
        nodata = areas["nodata"]
        line += f"   no data: {nodata['pixels']:>10d} px  {nodata['ha']:>12.2f} ha  {nodata['km2']:>10.4f} km2"
    print(line)


def print_scores(models, test):
    """Score fitted models on a loaded split and print the Table-I-style table with its intervals; returns the rows."""
    from ..tables import format_table
    from ..workflows import evaluate_models

    rows, _ = evaluate_models(models, test)
    print(format_table(rows))
    print("Intervals: 95 % bootstrap over test patches (1000 resamples).")
    return rows


def scene_check_table(checks):
    """The text table of :func:`~smallmines_classic.mapping.check_scene`'s checks, one row per band."""
    from ..tables import text_table

    verdicts = {True: "ok", False: "OUT OF RANGE", None: "no valid pixels"}
    header = ["band", "train q01", "train median", "train q99", "scene q01", "scene median", "scene q99", "verdict",
              "likely cause"]
    rows = [[c.band, *(f"{v:.4g}" for v in (*c.training, *c.input)), verdicts[c.ok], c.cause or "-"] for c in checks]
    return text_table(header, rows)


def print_sample_counts(class_pixels, drawn):
    """Per map class: its mapped pixels and the points drawn in it."""
    for code, (pixels, n) in enumerate(zip(class_pixels, drawn)):
        print(f"class {code}: {pixels:>12d} px mapped, {n:>5d} points")


def print_assessment(report, confidence):
    """:func:`~smallmines_classic.assessment.assess_map`'s report: the error matrices (counts and area proportions),
    the points left out as unsure, the accuracies and the areas, with their intervals at ``confidence``."""
    names, counts, estimate = report["classes"], report["counts"], report["estimate"]
    mapped_m2 = report["mapped_area_m2"]
    width = max(len(n) for n in names) + 2
    print(f"Error matrix, sample counts (rows: map, columns: reference; {counts.sum()} points)")
    _print_matrix(names, counts, width, "d")
    print("\nError matrix, estimated area proportions")
    _print_matrix(names, estimate.proportions, width, ".4f")
    unsure = report["unsure"]
    if unsure["count"]:
        per_class = ", ".join(f"{n} {name}" for name, n in zip(names, unsure["per_map_class"]) if n)
        print(f"\nNot interpreted (unsure), left out: {unsure['count']} point(s) ({per_class} on the map); "
              f"ids {', '.join(unsure['ids'])}")
    level = f"{confidence:.0%}"
    print(f"\nAccuracy ({level} intervals)")
    for i, name in enumerate(names):
        print(f"{name:<{width}} user's {estimate.users_accuracy[i]:.3f} ± {estimate.users_accuracy_ci[i]:.3f}   "
              f"producer's {estimate.producers_accuracy[i]:.3f} ± {estimate.producers_accuracy_ci[i]:.3f}")
    print(f"overall {estimate.overall_accuracy:.3f} ± {estimate.overall_accuracy_ci:.3f}")
    print(f"\nArea: mapped (pixel count) and error-adjusted ({level} interval)")
    for i, name in enumerate(names):
        area, ci = estimate.area[i], estimate.area_ci[i]
        print(f"{name:<{width}} mapped {mapped_m2[i] / 1e4:>12.2f} ha   estimated {area / 1e4:>12.2f} ± "
              f"{ci / 1e4:.2f} ha  ({area / 1e6:.4f} ± {ci / 1e6:.4f} km2)")


def _print_matrix(names, matrix, width, number):
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, matrix):
        print(f"{name:<{width}}" + "".join(f"{v:>{width}{number}}" for v in row))


def monitor_table(rows):
    """``smallmines monitor``'s table in short: the mined area (ha) of each region (rows) in each year (columns), with
    the error-adjusted area and its 95 % interval where a labelled sample was given."""
    from ..tables import text_table

    years = sorted({row["year"] for row in rows})
    regions = list(dict.fromkeys(row["region"] for row in rows))
    cells = {(row["region"], row["year"]): _mined_cell(row) for row in rows}
    table = text_table(["mined ha", *map(str, years)], [[name, *(cells.get((name, year), "") for year in years)]
                                                        for name in regions])
    if any(row.get("adjusted_ha") is not None for row in rows):
        table += "[error-adjusted ha ± 95 % interval, from the labelled sample]\n"
    return table


def _mined_cell(row):
    text = "–" if row["mined_ha"] is None else f"{row['mined_ha']:.1f}"
    if row.get("adjusted_ha") is not None:
        text += f" [{row['adjusted_ha']:.1f} ± {row['adjusted_ha_ci']:.1f}]"
    return text
