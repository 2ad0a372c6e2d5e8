"""Human labels from a spreadsheet: a CSV file turned into label lines against a results file.

The CSV has a header row; `case_id`, `label` and `labeler` are required, `rubric`, `suite`
and `stratum` optional (see `COLUMNS`). Each row is matched with the judged output of its
case in the results file, whose `output_hash` the label gets: a label applies to the exact
output the judge saw. Every row is checked before anything is written; one bad row and no
label is appended.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from pytest_llmgate.gate.records import JudgeVerdict, RunResults

from .labels import Label, LabelValue, append_label, labels_path, rubric_key
from .sampling import rubric_verdicts
from .scales import RubricInfo

#: Header names, exactly; the first three are required.
COLUMNS = ("case_id", "label", "labeler", "rubric", "suite", "stratum")
REQUIRED = ("case_id", "label", "labeler")


class ImportProblems(Exception):
    """Rows that cannot become labels; `problems` holds one `file:line: field '...': ...` line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Imported:
    """What an import appended."""

    counts: dict[str, int]
    """Labels appended per labels file."""


def _value(raw: str, info: RubricInfo) -> LabelValue | None:
    """A cell as a label on `info`'s scale, or None when it is not on it."""
    text = raw.strip()
    if info.kind == "pointwise":
        try:
            number = int(text)
        except ValueError:
            return None
        return number if info.scale_min <= number <= info.scale_max else None
    choices = {str(choice).lower(): choice for choice in info.label_choices}
    found = choices.get(text.lower())
    return found if isinstance(found, str) else None  # type: ignore[return-value]


def parse_rows(
    csv_path: Path,
    results: RunResults,
    rubric_infos: dict[str, RubricInfo],
    *,
    default_rubric: str | None,
    shown_results: str,
) -> list[Label]:
    """Every row of `csv_path` as a `Label`, or `ImportProblems` listing each bad row."""
    shown = csv_path.as_posix()
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportProblems([f"{shown}: cannot be read ({exc}); save it as UTF-8 CSV."]) from None
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        what = f"missing column(s) {', '.join(missing)}" if missing else f"unknown column(s) {', '.join(unknown)}"
        msg = f"{shown}:1: header: {what}; the columns are {', '.join(COLUMNS)} (the first three required)."
        raise ImportProblems([msg])
    if "rubric" not in header and default_rubric is None:
        raise ImportProblems([f"{shown}:1: header: no 'rubric' column; add one or pass --rubric."])
    judged: dict[str, dict[tuple[str, str], JudgeVerdict]] = {}
    problems: list[str] = []
    labels: list[Label] = []
    for line, row in enumerate(reader, start=2):
        cells = {key.strip(): (value or "").strip() for key, value in row.items() if key is not None}
        where = f"{shown}:{line}"
        rubric = rubric_key(cells.get("rubric") or default_rubric or "")
        if rubric not in rubric_infos:
            known = ", ".join(sorted(rubric_infos)) or "none"
            problems.append(f"{where}: field 'rubric': no judged output of rubric {rubric!r} (judged: {known}).")
            continue
        if rubric not in judged:
            judged[rubric] = {(s, c): v for s, c, v in rubric_verdicts(results, rubric)}
        case_id, suite = cells.get("case_id", ""), cells.get("suite", "")
        matches = [(s, c) for (s, c) in judged[rubric] if c == case_id and (not suite or s == suite)]
        if not matches:
            problems.append(
                f"{where}: field 'case_id': no judged output of rubric {rubric!r} for case {case_id!r} "
                f"in {shown_results}; fix the id or label a case of that run."
            )
            continue
        if len(matches) > 1:
            suites = ", ".join(s for s, _ in matches)
            problems.append(f"{where}: field 'suite': case {case_id!r} is in several suites ({suites}); name one.")
            continue
        info = rubric_infos[rubric]
        value = _value(cells.get("label", ""), info)
        if value is None:
            choices = ", ".join(str(choice) for choice in info.label_choices)
            problems.append(
                f"{where}: field 'label': {cells.get('label', '')!r} is not on the scale of rubric {rubric!r} ({choices})."
            )
            continue
        if not cells.get("labeler"):
            problems.append(f"{where}: field 'labeler': empty; name who gave the label.")
            continue
        suite_id, _ = matches[0]
        labels.append(
            Label(
                suite=suite_id,
                case_id=case_id,
                rubric=rubric,
                label=value,
                labeler=cells["labeler"],
                output_hash=judged[rubric][matches[0]].output_hash,
                stratum=cells.get("stratum") or "uniform",
            )
        )
    if problems:
        raise ImportProblems(problems)
    if not labels:
        raise ImportProblems([f"{shown}: no rows below the header; nothing to import."])
    return labels


def import_labels(labels: list[Label], labels_dir: Path) -> Imported:
    """Append checked labels to `<labels_dir>/<rubric>.jsonl` (each fsynced)."""
    counts: dict[str, int] = {}
    for label in labels:
        path = labels_path(label.rubric, labels_dir)
        append_label(path, label)
        counts[path.as_posix()] = counts.get(path.as_posix(), 0) + 1
    return Imported(counts=counts)
