"""Calibration: human labels, judge-human agreement, calibrated (PPI++) estimates, labeling app.

The web app (`app`) and the click commands (`commands`) are not imported here, and the names
below load their module on first use (PEP 562), so importing `calibration.labels` for a
gated session does not pull in scipy through `agreement`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .agreement import agreement_table, cohen_kappa, confusion_matrix, spearman
    from .calibrate import calibrate, calibration_table, calibration_text, check_min_agreement
    from .labels import Label, Undo, append_label, append_undo, labels_path, load_labels
    from .ppi import PPIEstimate, ppi_mean
    from .sampling import SampleItem, labels_needed, sample_for_labeling
    from .scales import RubricInfo, load_rubric_info

_MODULE_OF = {
    "agreement_table": "agreement",
    "cohen_kappa": "agreement",
    "confusion_matrix": "agreement",
    "spearman": "agreement",
    "calibrate": "calibrate",
    "calibration_table": "calibrate",
    "calibration_text": "calibrate",
    "check_min_agreement": "calibrate",
    "Label": "labels",
    "Undo": "labels",
    "append_label": "labels",
    "append_undo": "labels",
    "labels_path": "labels",
    "load_labels": "labels",
    "PPIEstimate": "ppi",
    "ppi_mean": "ppi",
    "SampleItem": "sampling",
    "labels_needed": "sampling",
    "sample_for_labeling": "sampling",
    "RubricInfo": "scales",
    "load_rubric_info": "scales",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)


__all__ = [
    "Label",
    "PPIEstimate",
    "RubricInfo",
    "SampleItem",
    "Undo",
    "agreement_table",
    "append_label",
    "append_undo",
    "calibrate",
    "calibration_table",
    "calibration_text",
    "check_min_agreement",
    "cohen_kappa",
    "confusion_matrix",
    "labels_path",
    "labels_needed",
    "load_labels",
    "load_rubric_info",
    "ppi_mean",
    "sample_for_labeling",
    "spearman",
]
