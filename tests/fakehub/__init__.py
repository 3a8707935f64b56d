"""A loopback model hub for tests: the real modelscope and huggingface_hub clients talk to it.

    from tests.fakehub import FakeHub, Fault, repo_from_folder
    hub = FakeHub().start(); hub.add(repo_from_folder("org/tiny", folder))
    env = {"HF_ENDPOINT": hub.url, "MODELSCOPE_ENDPOINT": hub.url, ...}
Fixtures for pytest are in tests.fakehub.fixtures.
"""

from .repo import FakeFile, FakeRepo, Fault, repo_from_folder
from .server import FakeHub

__all__ = ["FakeFile", "FakeHub", "FakeRepo", "Fault", "repo_from_folder"]
