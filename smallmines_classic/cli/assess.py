"""``smallmines assess``: accuracy and error-adjusted area, with intervals, from labelled sample points."""

import argparse

from . import options
from .output import print_assessment


def register(subparsers):
    p = options.add_command(subparsers, "assess", "accuracy and error-adjusted area with intervals from labelled "
                            "sample points",
                            ["smallmines assess map_2022.tif points_labels.csv --json assessment.json",
                             "smallmines assess map_2022.tif ceo-sample-data.csv --ceo-answer Yes=1 --ceo-answer No=0"])
    p.add_argument("map", help="the map the sample was drawn from")
    p.add_argument("labels", help="labelled points (.gpkg, .csv or .geojson from 'smallmines sample')")
    p.add_argument("--reference-column", default="reference",
                   help="column with the reference class (default: reference)")
    p.add_argument("--map-column", default="map_class", help="column with the map class (default: map_class)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default: 0.95)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--ceo-question", help="a Collect Earth Online export: the question column holding the answers "
                   "(default: the only question column)")
    p.add_argument("--ceo-answer", action="append", type=ceo_answer, metavar="TEXT=CLASS",
                   help="a Collect Earth Online export: what an answer means, e.g. 'Mining=1' 'Not mining=0' "
                   "'Cloudy=unsure'; repeat for each answer (default: Mining=1, Not mining=0, Unsure=unsure)")
    return p


def ceo_answer(text):
    """'Not mining=0' -> ('Not mining', '0'); the class is a number or 'unsure'."""
    answer, sep, value = text.rpartition("=")
    if not sep or not answer.strip() or not (value.strip().isdigit() or value.strip().lower() == "unsure"):
        raise argparse.ArgumentTypeError(f"expected ANSWER TEXT=CLASS with CLASS a number or 'unsure', got {text!r}")
    return answer.strip(), value.strip().lower()


def run(args):
    from .._guards import check_output_not_input
    from ..assessment import assess_map, write_json

    if args.json:
        check_output_not_input(args.json, args.map, args.labels)
    answers = dict(args.ceo_answer) if args.ceo_answer else None
    report = assess_map(args.map, args.labels, args.reference_column, args.map_column, args.confidence,
                        ceo_question=args.ceo_question, ceo_answers=answers)
    print_assessment(report, args.confidence)
    if args.json:
        print(f"json: {write_json(args.json, _json_payload(args, report))}")


def _json_payload(args, report):
    estimate = report["estimate"]
    mapped_m2 = report["mapped_area_m2"]
    return {"map": str(args.map), "labels": str(args.labels), "confidence": args.confidence,
            "classes": report["classes"], "counts": report["counts"].tolist(),
            "mapped_pixels": report["mapped_pixels"].tolist(), "mapped_area_ha": (mapped_m2 / 1e4).tolist(),
            "area_ha": (estimate.area / 1e4).tolist(), "area_ha_ci": (estimate.area_ci / 1e4).tolist(),
            "area_km2": (estimate.area / 1e6).tolist(), "area_km2_ci": (estimate.area_ci / 1e6).tolist(),
            "area_unit": "m2", "unsure": report["unsure"], **estimate.to_dict()}
