"""Area you can report: sample design, stratified estimators, point files, and bootstrap intervals.

- :mod:`.design`: sample size, allocation and the stratified sample of a map;
- :mod:`.estimators`: Olofsson et al. (2014) and Stehman (2014) estimators of
  accuracy and area, with intervals;
- :mod:`.points`: the sample's point files, written for labelling and read back;
- :mod:`.assess`: a map and its labelled sample -> accuracy and area;
- :mod:`.label` (with :mod:`.session`, :mod:`.chips`, :mod:`.labels`): ``smallmines label``,
  a local page that shows each point on the scenes and writes the labels file;
- :mod:`.ceo`: Collect Earth Online's plot file and sample exports;
- :mod:`.bootstrap`: intervals of benchmark scores over test patches.

:mod:`smallmines_classic.metrics` counts pixels; this package does the statistics.
"""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "estimators": ["AreaEstimate", "estimate_area", "estimate_area_stehman"],
    "design": ["sample_size", "allocate_sample", "map_class_counts", "map_class_areas", "stratified_sample"],
    "points": ["write_points", "read_points"],
    "assess": ["assess_map", "write_json"],
    "bootstrap": ["bootstrap_scores"],
    "labels": ["LABEL_COLUMNS", "NonResponseWarning", "unsure_rows"],
    "chips": ["CHIP_KINDS", "ChipScene", "stretch"],
    "session": ["LabelSession", "default_labels_path", "labels_lock"],
    "label": ["SessionLockedError", "labelling_server", "make_server"],
    "ceo": ["DEFAULT_CEO_ANSWERS", "is_ceo_export", "read_ceo_answers", "write_ceo_plots"],
})
