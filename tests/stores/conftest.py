"""Every store test runs on both engines: a SQLite file and a database on a real PostgreSQL server."""

import pytest


@pytest.fixture
def target(store_target):
    return store_target
