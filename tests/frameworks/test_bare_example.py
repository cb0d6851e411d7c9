"""Plain WSGI: a framework-free host app wrapped with S3Middleware, through
the scenario (runs in every environment: it needs no framework)."""

from __future__ import annotations

import pytest
from bare_app import make_application
from scenario import Example, FrameworkScenario


@pytest.fixture
def example(docs_env):
    application = make_application()
    return Example(application, application, framework="bare")


class TestBareWSGI(FrameworkScenario):
    pass
