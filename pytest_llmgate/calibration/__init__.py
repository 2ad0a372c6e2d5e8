"""Calibration: human labels, judge-human agreement, calibrated (PPI++) estimates, labeling app.

The web app (`app`) and the click commands (`commands`) are not imported here, so
importing the package stays light.
"""

from .agreement import agreement_table, cohen_kappa, confusion_matrix, spearman
from .calibrate import calibrate, calibration_table, calibration_text, check_min_agreement
from .labels import Label, Undo, append_label, append_undo, labels_path, load_labels
from .ppi import PPIEstimate, ppi_mean
from .sampling import SampleItem, labels_needed, sample_for_labeling
from .scales import RubricInfo, load_rubric_info

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
