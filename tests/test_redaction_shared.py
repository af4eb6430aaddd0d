"""What one scrubber found clean is shared with the others (a sweep's records come from several hosts):
never where the text holds another record's own host, user or home."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations import scrub
from procrecord.operations.redaction import redact
from procrecord.operations.scrub import Scrubber


def _on(record: dict, host: str, user: str) -> dict:
    record = copy.deepcopy(record)
    record["host"].update(hostname=f"{host}.lab.example.org", user=user, home=f"/home/{user}")
    return record


def test_a_text_clean_for_one_scrubber_is_scrubbed_for_the_one_it_names():
    first, second = Scrubber({"host": "gpu-a01", "user": "mkowalski"}), Scrubber({"host": "gpu-b07", "user": "tnguyen"})
    texts = ["ssh tnguyen@gpu-b07", "run by tnguyen on gpu-b07-x", "/opt/x/tnguyen.log"]
    assert all(first.scrub(text) == (text, {}) for text in texts)
    assert all(text in scrub._SHARED_TEXT for text in texts)
    assert second.scrub("ssh tnguyen@gpu-b07")[0] == "ssh <user>@<host>"
    assert second.scrub("run by tnguyen on gpu-b07-x")[0] == "run by <user> on <host>-x"
    assert second.scrub_argv(["--log", "/opt/x/tnguyen.log"])[0] == ["--log", "/opt/x/<user>.log"]


def test_a_clean_text_is_taken_from_the_shared_table_without_a_pass():
    Scrubber({"user": "mkowalski"}).scrub("--epochs=12 data/train")
    other = Scrubber({"user": "tnguyen"})
    other._scrub = None  # type: ignore[assignment]  # the shared table must answer: a pass would fail
    assert other.scrub("--epochs=12 data/train") == ("--epochs=12 data/train", {})


def test_a_mapping_clean_on_one_host_is_scrubbed_on_the_host_it_names(gpu_record):
    config = {"data": {"root": "/data/shared", "owner": "tnguyen", "note": "made on gpu-b07"}}
    for host, user in (("gpu-a01", "mkowalski"), ("gpu-a01", "mkowalski")):
        record = _on(gpu_record, host, user)
        record["invocation"]["config"] = copy.deepcopy(config)
        assert redact(record, "most")["invocation"]["config"] == config
    record = _on(gpu_record, "gpu-b07", "tnguyen")
    record["invocation"]["config"] = copy.deepcopy(config)
    out = redact(record, "most")
    assert out["invocation"]["config"] == {"data": {"root": "/data/shared", "owner": "<user>", "note": "made on <host>"}}


def test_a_package_list_clean_on_one_host_is_scrubbed_on_the_host_it_names(gpu_record):
    packages = [{"name": "numpy", "version": "2.1.0"}, {"name": "tnguyen-tools", "version": "0.1"}]
    record = _on(gpu_record, "gpu-a01", "mkowalski")
    record["python"]["packages"] = copy.deepcopy(packages)
    for _ in range(2):
        assert redact(record, "most")["python"]["packages"] == packages
    record = _on(gpu_record, "gpu-b07", "tnguyen")
    record["python"]["packages"] = copy.deepcopy(packages)
    assert redact(record, "most")["python"]["packages"][1]["name"] == "<user>-tools"


words = st.sampled_from(["tnguyen", "TNGUYEN", "Tnguyen", "gpu-b07", "/home/tnguyen", "run", "x", "-", "/", "@", " ", "="])


@settings(max_examples=150, deadline=None)
@given(st.lists(words, max_size=6).map("".join))
def test_sharing_never_changes_what_a_scrubber_finds(text):
    """Scrubbed first by a scrubber of other values, then by one whose values the text may hold: the
    second finds what a fresh scrubber with no shared table finds."""
    Scrubber({"host": "gpu-a01", "user": "mkowalski", "home": "/home/mkowalski"}).scrub(text)
    ids = {"host": "gpu-b07", "user": "tnguyen", "home": "/home/tnguyen"}
    shared = Scrubber(ids).scrub(text)
    saved = set(scrub._SHARED_TEXT)
    scrub._SHARED_TEXT.clear()
    try:
        assert shared == Scrubber(ids).scrub(text)
    finally:
        scrub._SHARED_TEXT.update(saved)


def test_the_value_after_a_secret_flag_is_hidden_without_being_remembered():
    scrubber = Scrubber({"user": "tnguyen"})
    secret = "Zq81xVb2Lm0pTr7w"
    out, counts = scrubber.scrub_argv(["fit.py", "--api-key", secret, "--host", "gpu-a", "--cudnn-version", "9.1.0.70"])
    assert out == ["fit.py", "--api-key", "<redacted:api_key>", "--host", "gpu-a", "--cudnn-version", "9.1.0.70"]
    assert counts == {"secret-argument": 1}
    # the secret is replaced unread: no table of the (long-lived, per-host) scrubber holds it
    assert secret not in scrubber.cache and secret not in scrubber.unchanged and secret not in scrubber._args
    assert secret not in scrub._SHARED_TEXT


@settings(max_examples=200, deadline=None)
@given(st.uuids().map(str), st.sampled_from(["gpu-a01", "cafe", "dead-beef", "0a1b", "train"]),
       st.sampled_from(["mkowalski", "face", "ab", "root"]))
def test_a_uuid_takes_the_short_way_only_where_the_rules_agree(text, host, user):
    # The short way (no pass over a UUID) must give what every rule gives, and must not be taken where the
    # record's own name is made of hexadecimal digits (a UUID may hold it as a whole token).
    scrubber = Scrubber({"host": host, "user": user, "home": f"/home/{user}"})
    assert scrubber.scrub(text) == scrubber._scrub(text)
    hexadecimal = {"cafe", "dead-beef", "0a1b", "face", "ab"}
    assert scrubber._uuids_clean == (host not in hexadecimal and user not in hexadecimal)


def test_a_uuid_that_holds_a_hexadecimal_user_name_is_still_scrubbed():
    scrubber = Scrubber({"user": "cafe"})
    assert scrubber.scrub("0e2f8a41-cafe-4b1d-9c3e-5a6b7c8d9e0f")[0] == "0e2f8a41-<user>-4b1d-9c3e-5a6b7c8d9e0f"
    # a capitalised UUID is not the form Python writes: it goes through the rules (Square's EAAA... tokens)
    assert Scrubber().scrub("EAAA1B2C-3D4E-5F60-7182-93A4B5C6D7E8")[1]


def test_a_package_list_unlike_the_last_clean_one_at_its_place_is_scrubbed(gpu_record):
    packages = [{"name": "numpy", "version": "2.1.0"}, {"name": "torch", "version": "2.4.1"}]
    record = _on(gpu_record, "gpu-a01", "mkowalski")
    for _ in range(3):  # the list becomes the last clean one at /python/packages
        record["python"]["packages"] = copy.deepcopy(packages)
        assert redact(record, "most")["python"]["packages"] == packages
    planted = copy.deepcopy(packages) + [{"name": "ghp_" + "a1B2" * 9, "version": "1.0"}]
    record["python"]["packages"] = planted
    assert redact(record, "most")["python"]["packages"][2]["name"].startswith("<redacted")
    record["python"]["packages"] = copy.deepcopy(packages)
    assert redact(record, "most")["python"]["packages"] == packages
