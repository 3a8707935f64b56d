"""`run` downloads through the real modelscope and huggingface_hub clients from the loopback fake hub.

Every case goes through `python -m engine run` (a fresh process, as an operator runs it): clean
download, cache reuse, a cut connection, a corrupted body, too little disk, a missing and a gated
model, an unreachable hub with a verified cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.fakehub import FakeFile, Fault, fixtures, repo_from_folder
from tests.fakehub.fixtures import TINY_ID

fake_hub_server = fixtures.fake_hub_server  # the fixtures this module uses
hub_case = fixtures.hub_case

HUBS = ["modelscope", "huggingface"]
WEIGHTS = "model.safetensors"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("hub", HUBS)
def test_a_clean_download_fetches_only_the_needed_files_and_records_their_checksums(hub_case, hub):
    repo = hub_case.hub.repos[TINY_ID]
    for extra in ("pytorch_model.bin", "model.gguf", "onnx/model.onnx", "original/consolidated.pth"):
        repo.files[extra] = FakeFile(extra, b"not needed " * 100)
    result = hub_case.run(hub_case.job("clean", hub, TINY_ID))
    assert result.returncode == 0, result.stderr
    manifest = hub_case.manifest("clean")
    expected = {p: f.sha256 for p, f in repo.files.items() if p not in
                ("pytorch_model.bin", "model.gguf", "onnx/model.onnx", "original/consolidated.pth")}
    assert manifest["files"] == expected
    folder = Path(manifest["path"])
    assert all(sha((folder / p).read_bytes()) == digest for p, digest in expected.items())
    fetched = {e["file"] for e in hub_case.hub.requests("GET") if e.get("file")}
    assert fetched == set(expected), "a file no stage needs was downloaded"
    state = json.loads((hub_case.root / "jobs" / "clean" / "state.json").read_text())
    assert state["stages"]["download"]["outputs"]["path"] == str(folder)
    progress = [e for e in hub_case.events("clean") if e["kind"] == "progress" and e.get("unit") == "B"
                and "rate_bps" in e]
    assert progress and progress[-1]["step"] == progress[-1]["total"] == sum(repo.files[p].size for p in expected)
    assert manifest["model"]["architecture"] == "LlamaForCausalLM" and manifest["model"]["chat_template"] == "chatml"


@pytest.mark.parametrize("hub", HUBS)
def test_a_second_job_reuses_the_verified_cache_and_fetches_nothing(hub_case, hub):
    assert hub_case.run(hub_case.job("first", hub, TINY_ID)).returncode == 0
    hub_case.hub.reset_log()
    second = hub_case.run(hub_case.job("second", hub, TINY_ID))
    assert second.returncode == 0, second.stderr
    assert hub_case.body_requests(WEIGHTS) == []
    assert "already downloaded and verified" in second.stdout
    assert hub_case.manifest("second")["files"] == hub_case.manifest("first")["files"]


def test_modelscope_resumes_a_cut_download_with_a_range_request(hub_case):
    hub_case.hub.faults.arm(TINY_ID, WEIGHTS, Fault("cut", after=0.4))
    result = hub_case.run(hub_case.job("cut", "modelscope", TINY_ID))
    assert result.returncode == 0, result.stderr
    gets = hub_case.body_requests(WEIGHTS)
    assert len(gets) == 2 and gets[0]["status"] < 0, gets  # the first body was cut
    size = hub_case.hub.repos[TINY_ID].files[WEIGHTS].size
    start = int(gets[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= int(size * 0.4) + 1, "the second attempt started from zero"
    assert hub_case.manifest("cut")["files"][WEIGHTS] == hub_case.hub.repos[TINY_ID].files[WEIGHTS].sha256


def test_modelscope_resumes_in_the_next_run_when_the_first_one_gives_up(hub_case):
    hub_case.hub.faults.arm(TINY_ID, WEIGHTS, Fault("cut", after=0.5))
    job = hub_case.job("rerun", "modelscope", TINY_ID)
    first = hub_case.run(job, env={"MODELSCOPE_DOWNLOAD_MAX_RETRIES": "0"})
    assert first.returncode == 2, first.stderr
    assert "run the same command again" in first.stderr and "Traceback" not in first.stderr
    second = hub_case.run(job)
    assert second.returncode == 0, second.stderr
    gets = hub_case.body_requests(WEIGHTS)
    assert gets[-1]["range"] and gets[-1]["range"] != "bytes=0-", gets
    assert hub_case.manifest("rerun")["files"][WEIGHTS] == hub_case.hub.repos[TINY_ID].files[WEIGHTS].sha256


def test_huggingface_recovers_from_a_cut_connection(hub_case):
    hub_case.hub.faults.arm(TINY_ID, WEIGHTS, Fault("cut", after=0.4))
    result = hub_case.run(hub_case.job("cut", "huggingface", TINY_ID))
    assert result.returncode == 0, result.stderr
    assert len(hub_case.body_requests(WEIGHTS)) >= 2
    assert hub_case.manifest("cut")["files"][WEIGHTS] == hub_case.hub.repos[TINY_ID].files[WEIGHTS].sha256


@pytest.mark.parametrize("hub", HUBS)
def test_a_corrupted_body_is_detected_and_fetched_again(hub_case, hub):
    hub_case.hub.faults.arm(TINY_ID, WEIGHTS, Fault("corrupt"))
    result = hub_case.run(hub_case.job("corrupt", hub, TINY_ID))
    assert result.returncode == 0, result.stderr
    assert len(hub_case.body_requests(WEIGHTS)) == 2
    good = hub_case.hub.repos[TINY_ID].files[WEIGHTS].sha256
    folder = Path(hub_case.manifest("corrupt")["path"])
    assert sha((folder / WEIGHTS).read_bytes()) == good == hub_case.manifest("corrupt")["files"][WEIGHTS]


def test_a_body_that_stays_corrupted_is_refused_with_the_mismatch(hub_case):
    hub_case.hub.faults.arm(TINY_ID, WEIGHTS, Fault("corrupt", times=10))
    result = hub_case.run(hub_case.job("bad", "huggingface", TINY_ID))
    assert result.returncode == 2
    assert "still do not match the hub's checksums" in result.stderr and f"{WEIGHTS}: sha256" in result.stderr
    assert not (hub_case.root / "jobs" / "bad" / "model.json").exists()


@pytest.mark.parametrize("hub", HUBS)
def test_the_disk_check_refuses_a_model_larger_than_the_free_space_before_downloading(hub_case, hub):
    repo = hub_case.serve(repo_from_folder("org/huge", _tiny(hub_case)))
    repo.files[WEIGHTS].claimed_size = 10**15  # the listing says 1 PB; the real disk is checked
    result = hub_case.run(hub_case.job("huge", hub, "org/huge"))
    assert result.returncode == 2
    assert "org/huge needs 1000000.0 GB" in result.stderr and "GB free at" in result.stderr
    assert hub_case.body_requests(WEIGHTS) == []


@pytest.mark.parametrize(("hub", "hint"), [("modelscope", "modelscope.cn/models"), ("huggingface", "check the ID")])
def test_a_missing_model_id_says_so_and_what_to_check(hub_case, hub, hint):
    result = hub_case.run(hub_case.job("missing", hub, "org/no-such-model"))
    assert result.returncode == 2
    assert "org/no-such-model" in result.stderr and hint in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("hub", "token_var"), [("modelscope", "MODELSCOPE_API_TOKEN"), ("huggingface", "HF_TOKEN")])
def test_a_gated_model_gives_the_hubs_message_and_how_to_get_access(hub_case, hub, token_var):
    repo = hub_case.serve(repo_from_folder("org/gated", _tiny(hub_case), gated=True, accepted_tokens=("good-token",)))
    job = hub_case.job("gated", hub, "org/gated")
    refused = hub_case.run(job)
    assert refused.returncode == 2
    assert "restricted" in refused.stderr or "requires approval" in refused.stderr  # the hub's own words
    assert token_var in refused.stderr and "request access" in refused.stderr
    allowed = hub_case.run(job, env={token_var: "good-token"})
    assert allowed.returncode == 0, allowed.stderr
    assert hub_case.manifest("gated")["files"][WEIGHTS] == repo.files[WEIGHTS].sha256


@pytest.mark.parametrize("hub", HUBS)
def test_an_unreachable_hub_falls_back_to_the_copy_verified_earlier(hub_case, hub):
    assert hub_case.run(hub_case.job("online", hub, TINY_ID)).returncode == 0
    dead = {"HF_ENDPOINT": "http://127.0.0.1:9", "MODELSCOPE_ENDPOINT": "http://127.0.0.1:9",
            "MODELSCOPE_DOWNLOAD_MAX_RETRIES": "0", "MODELSCOPE_REPO_TREE_PAGE_MAX_ATTEMPTS": "1",
            "MODELSCOPE_API_MAX_RETRIES": "0"}  # fail fast instead of the client's patient backoff
    offline = hub_case.run(hub_case.job("offline", hub, TINY_ID), env=dead)
    assert offline.returncode == 0, offline.stderr
    assert "not reachable" in offline.stdout
    assert hub_case.manifest("offline")["path"] == hub_case.manifest("online")["path"]


def test_a_catalogue_id_is_fetched_under_its_modelscope_name(hub_case):
    hub_case.serve(repo_from_folder("LLM-Research/Llama-3.2-1B-Instruct", _tiny(hub_case)))
    result = hub_case.run(hub_case.job("mapped", "modelscope", "meta-llama/Llama-3.2-1B-Instruct"))
    assert result.returncode == 0, result.stderr
    manifest = hub_case.manifest("mapped")
    assert manifest["hub_id"] == "LLM-Research/Llama-3.2-1B-Instruct"
    assert manifest["model"]["family"] == "Llama 3" and manifest["model"]["gated"] == ["huggingface"]


def _tiny(hub_case) -> Path:
    """The tiny model folder the fake hub serves as org/tiny (written back out for a second repo)."""
    folder = hub_case.root / "tiny-copy"
    if not folder.exists():
        for path, f in hub_case.hub.repos[TINY_ID].files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(f.data)
    return folder
