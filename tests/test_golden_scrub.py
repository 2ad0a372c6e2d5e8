"""The import scrubber: every secret shape it claims is masked, ordinary text is kept, and its
cost grows linearly with the text (compared between a text and one four times longer: a
backtracking pattern costs sixteen times more), so a megabyte of hostile token imports. The
time a megabyte takes is measured in benchmarks/scrub_bench.py.

Every fake secret below is built by concatenation, so the repository's leak check, which greps
for key shapes, does not flag this file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytest_llmgate.cli import main
from pytest_llmgate.golden.scrub import clean_text, default_scrub, scrub_value

SK = "sk" + "-"
A40 = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd"

SECRETS = {
    "anthropic": (SK + "ant-" + "api03-" + "Q" * 40, "[api key]"),
    "openai": (SK + "abcdefghijklmnopqrstuvwx0123", "[api key]"),
    "openai project": (SK + "proj-" + "a1B2" * 12, "[api key]"),
    "github fine-grained": ("github" + "_pat_" + "11ABCDEFG0" + "x1Y2" * 15, "[api key]"),
    "github classic": ("ghp" + "_" + A40[:36], "[api key]"),
    "github oauth": ("gho" + "_" + A40[:36], "[api key]"),
    "github user-to-server": ("ghu" + "_" + A40[:36], "[api key]"),
    "github server-to-server": ("ghs" + "_" + A40[:36], "[api key]"),
    "github refresh": ("ghr" + "_" + A40[:36], "[api key]"),
    "aws access key id": ("AKIA" + "ABCDEFGHIJKLMNOP", "[api key]"),
    "aws session key id": ("ASIA" + "ABCDEFGHIJKLMNOP", "[api key]"),
    "aws secret key": ("wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY", "[api key]"),
    "stripe live": ("sk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "[api key]"),
    "stripe restricted": ("rk" + "_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "[api key]"),
    "stripe test": ("sk" + "_test_" + "4eC39HqLyjWDarjtT1zdp7dc", "[api key]"),
    "hugging face": ("hf" + "_" + A40[:34], "[api key]"),
    "slack": ("xoxb" + "-1234567890-abcdefghij", "[api key]"),
    "google": ("AIza" + "B" * 35, "[api key]"),
    "jwt": ("eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl", "[token]"),
}

IN_CONTEXT = [
    (
        "connect to postgres://bob:" + "CANARY123pass@db.internal:5432/app",
        "connect to postgres://[credentials]@db.internal:5432/app",
    ),
    (
        "GET https://api.example.com/v1/search?q=x&api_key=" + "abcd1234efgh&page=2",
        "GET https://api.example.com/v1/search?q=x&api_key=[secret]&page=2",
    ),
    (
        "callback https://hooks.example.com/cb?token=" + "zzzzyyyyxxxx",
        "callback https://hooks.example.com/cb?token=[secret]",
    ),
    ('{"client_secret": "' + "s3cr3t-value" + '"}', '{"client_secret": "[secret]"}'),
    (
        "export AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
        "export AWS_SECRET_ACCESS_KEY=[secret]",
    ),
    ("my db password: " + "hunter22, thanks", "my db password: [secret], thanks"),
    ("Authorization: Bearer " + "abcdefghijklmnopqrstuvwxyz012345", "Authorization: Bearer [token]"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- done", "[private key] done"),
    ("cut short: -----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkq", "cut short: [private key]"),
    ("mail ana.b+tag@mail.example.org.", "mail [email]."),
]

KEPT = [
    "sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709 and sha256 " + "e3b0c44298fc1c149afbf4c8996fb924" * 2,
    "path /usr/local/lib/python3.11/site-packages/pytest_llmgate/golden/scrub.py",
    "max_tokens=1024, total_tokens: 12, the token limit is 4096",
    "version 1.2.3 at build@1.1.1; call me at 555-0100, Ana Lopez, 12 Main St",
    "https://docs.example.com/guide?page=2&lang=en",
    "risk-assessment-for-new-vendors and sk-short",
]


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_every_secret_shape_is_masked_alone_and_in_a_sentence(name: str) -> None:
    secret, mask = SECRETS[name]
    assert default_scrub(secret) == mask
    assert default_scrub(f"my key is {secret}, please rotate it") == f"my key is {mask}, please rotate it"
    assert default_scrub(f'{{"key": "{secret}"}}') == f'{{"key": "{mask}"}}'


@pytest.mark.parametrize(("text", "expected"), IN_CONTEXT)
def test_credentials_in_urls_fields_and_headers_are_masked(text: str, expected: str) -> None:
    assert default_scrub(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_hashes_paths_and_counts_are_kept(text: str) -> None:
    assert default_scrub(text) == text


def test_lone_surrogates_become_replacement_characters_before_scrubbing() -> None:
    assert clean_text("cut emoji \ud83d") == "cut emoji \ufffd"
    assert clean_text("whole emoji \U0001f600") == "whole emoji \U0001f600"
    assert scrub_value({"a\udc00": ["x\ud83d", 3]}, default_scrub) == {"a\ufffd": ["x\ufffd", 3]}


#: Long runs that make a backtracking pattern retry from every position (the issue's `1.1.1...`
#: against the e-mail pattern, `a-a-...`), and one per rule family.
ADVERSARIAL = {
    "dotted digits": "1.",
    "dashed letters": "a-",
    "e-mail domain": "x@1.",
    "at signs": "a.a@",
    "key prefixes": SK + "!",
    "jwt prefixes": "eyJ-",
    "private key headers": "-----BEGIN PRIVATE KEY-----",
    "bearer words": "bearer ",
    "url schemes": "a://a:",
    "secret fields": "token=",
    "base64": "Ab1/",
}


def _seconds(text: str) -> float:
    """The least CPU time of at least two scrubs of `text` (more when they are quick).

    CPU time of this process, not wall time: on a busy machine the wall clock also counts the
    time other processes ran.
    """
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 2 or (spent < 0.1 and runs < 100):
        start = time.process_time()
        default_scrub(text)
        took = time.process_time() - start
        best, spent, runs = min(best, took), spent + took, runs + 1
    return best


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_the_scrubbers_cost_grows_linearly_with_hostile_input(name: str) -> None:
    unit = ADVERSARIAL[name]
    # Four times the text: about four times the work when linear, sixteen times when quadratic.
    # Both sizes are above the allocator's threshold for fresh pages (a smaller text is cheaper per
    # character for reasons that have nothing to do with the patterns), and the faster of two runs
    # keeps a busy machine from inflating the ratio.
    small = unit * (250_000 // len(unit))
    large = unit * (1_000_000 // len(unit))
    default_scrub(small)  # warm-up
    ratio = _seconds(large) / max(_seconds(small), 1e-4)
    assert ratio < 10, f"{name}: 4x the text took {ratio:.0f}x the time"


def test_a_megabyte_hostile_token_imports_and_its_secret_is_masked(tmp_path: Path) -> None:
    key = "ghp" + "_" + A40[:36]
    token = "1." * 500_000 + " " + "a-" * 200_000 + f" {key} end"
    (tmp_path / "log.jsonl").write_text(json.dumps({"input": token, "output": "x"}) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        result = CliRunner().invoke(main, ["import", "log.jsonl", "--format", "jsonl", "--to", "g.jsonl"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "g.jsonl").read_text(encoding="utf-8"))
    assert written["input"].endswith(" [api key] end") and key not in written["input"]
    assert len(written["input"]) > 1_000_000
