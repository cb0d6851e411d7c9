"""The examples as examples/README.rst runs them: beside a running
``s3wsgi demo`` (on a free port), each on a port of its own, reading the
demo's embedded S3. Real processes, real HTTP."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from paste.deploy import loadapp
from running import Running

from s3wsgi import S3App, S3Middleware
from s3wsgi.cli.settings import SERVER_DEFAULTS

# Runs commands in subprocesses: not in the fast tier.
pytestmark = pytest.mark.real

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STANDALONE_INI = EXAMPLES / "standalone.ini"
DEMO_PORT = SERVER_DEFAULTS["port"]
DEMO_URL = re.compile(r"the sample documentation is at (http://127\.0\.0\.1:\d+/)docs/")
DEMO_BANNER = re.compile(r"embedded S3 at (http://127\.0\.0\.1:\d+);")


class Demo(NamedTuple):
    url: str  # the demo's own, ending in "/"
    endpoint: str  # its embedded S3's


def demo_file(path: str) -> bytes:
    """A file of the sample site the demo uploads."""
    return resources.files("s3wsgi").joinpath("demo_site", *path.split("/")).read_bytes()


def environ(**variables: str) -> dict[str, str]:
    """This environment without S3WSGI_* variables, plus ``variables``: what
    a terminal set up as examples/README.rst says holds."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    # Under PYTHONDEVMODE a dependency's DeprecationWarning would clutter
    # the output read below; every other warning still shows.
    base["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    return {**base, **variables}


@pytest.fixture(scope="module")
def demo():
    """``s3wsgi demo`` as the README starts it (but on a free port): the
    embedded S3's endpoint, as it prints it."""
    # On a free port, so that the suite does not need 8080 free (a demo the
    # reader left running holds it); the examples still use their own.
    process = Running([sys.executable, "-m", "s3wsgi", "demo", "--port", "0"], environ(), cwd=ROOT)
    try:
        url = process.wait_for(DEMO_URL).group(1)
        yield Demo(url, process.wait_for(DEMO_BANNER).group(1))
        assert process.stop() == 0
    finally:
        process.close()


def example_environ(endpoint: str) -> dict[str, str]:
    """The second terminal of examples/README.rst."""
    return environ(
        S3WSGI_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_DEFAULT_REGION="us-east-1",
    )


def test_the_standalone_example_serves_beside_the_demo_on_a_port_of_its_own(demo):
    standalone = Running(
        [sys.executable, str(EXAMPLES / "standalone.py")], example_environ(demo.endpoint), cwd=ROOT
    )
    try:
        # waitress says where it listens: the example's default port.
        url = standalone.wait_for(re.compile(r"Serving on (http://\S+)")).group(1)
        assert url == "http://127.0.0.1:8081"
        for path in ("index.html", "guide/café.html", "_static/docs.css"):
            page = path.removesuffix("index.html")
            from_demo = requests.get(f"{demo.url}docs/{page}", timeout=10)
            from_example = requests.get(f"{url}/{page}", timeout=10)
            assert (from_demo.status_code, from_example.status_code) == (200, 200), path
            assert from_demo.content == from_example.content == demo_file(path)
        assert standalone.stop() == 0
    finally:
        standalone.close()
    assert not [line for line in standalone.output if "Traceback" in line]
    # Only waitress's and s3wsgi's own lines: no botocore chatter.
    assert not [line for line in standalone.output if "Found credentials" in line]


def test_the_paste_example_reads_the_s3_named_on_pserves_command_line(demo, serve):
    # pserve passes its command line's ``name=value`` to the file as
    # PasteDeploy's global_conf, as here.
    settings = {"s3_endpoint": demo.endpoint}
    main = loadapp(f"config:{STANDALONE_INI}", global_conf=settings)
    assert isinstance(main, S3App) and main.options.s3.endpoint_url == demo.endpoint
    url = serve(main)
    home = requests.get(f"{url}/", timeout=10)
    assert home.status_code == 200 and home.content == demo_file("index.html")
    assert home.headers["Cache-Control"] == "no-cache"  # as the demo stored it

    intranet = loadapp(f"config:{STANDALONE_INI}", name="intranet", global_conf=settings)
    assert isinstance(intranet, S3Middleware) and isinstance(intranet.app, S3App)
    url = serve(intranet)
    assert requests.get(f"{url}/docs/", timeout=10).content == demo_file("guide/index.html")
    reference = requests.get(f"{url}/reference/", timeout=10)
    assert reference.content == demo_file("api/reference/index.html")


def test_the_paste_example_reads_aws_itself_without_an_endpoint():
    main = loadapp(f"config:{STANDALONE_INI}")
    assert main.options.s3.endpoint_url is None


def test_no_two_examples_share_a_default_port():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(STANDALONE_INI, encoding="utf-8")
    standalone = re.search(r"^DEFAULT_PORT = (\d+)$", read("examples/standalone.py"), re.M)
    pyramid = re.search(r'"PORT", "(\d+)"', read("examples/pyramid_app.py"))
    ports = {
        "s3wsgi demo": DEMO_PORT,
        "flask run": 5000,  # Flask's own default
        "manage.py runserver": 8000,  # Django's own default
        "pyramid_app.py": int(pyramid.group(1)),
        "standalone.py": int(standalone.group(1)),
        **{name: int(ini[name]["port"]) for name in ini.sections() if name.startswith("server:")},
    }
    assert len(set(ports.values())) == len(ports), ports
    # The README's table says the same.
    table = read("examples/README.rst")
    for port in ports.values():
        assert re.search(rf"^\S.* {port}\b", table, re.M), port


def read(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def readme_laptop_block() -> list[str]:
    """The README's "on a laptop with no AWS account" commands, as written."""
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    block = text.split("On a laptop with no AWS account", 1)[1].split(".. code-block:: console", 1)[
        1
    ]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith(" "):
            break
        if line.strip():
            lines.append(line.strip())
    return lines


def command(line: str) -> list[str]:
    """A README line as argv: ``s3wsgi`` run by this Python."""
    words = shlex.split(line.split(" #")[0])
    assert words[0] == "s3wsgi"
    return [sys.executable, "-m", "s3wsgi", *words[1:]]


def test_the_readmes_laptop_path_publishes_and_serves_without_aws(demo, tmp_path):
    """Replayed as a reader would type it, beside a running demo: the
    endpoint the demo printed, a build folder of the reader's, a free port."""
    demo_line, export, publish_line, serve_line = readme_laptop_block()
    assert demo_line.startswith("s3wsgi demo --port ")
    variables = dict(word.split("=", 1) for word in shlex.split(export)[1:])
    variables["S3WSGI_ENDPOINT_URL"] = demo.endpoint
    site = tmp_path / "_build" / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<h1>My docs</h1>", encoding="utf-8")
    (site / ".buildinfo").write_text("leftover", encoding="utf-8")
    published = subprocess.run(
        command(publish_line),
        cwd=tmp_path,
        env=environ(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert published.returncode == 0, published.stderr
    assert "created bucket my-docs" in published.stdout and "skipped 1" in published.stdout
    serving = Running([*command(serve_line), "--port", "0"], environ(**variables), cwd=tmp_path)
    try:
        url = serving.wait_for(re.compile(r"on (http://127\.0\.0\.1:\d+/)")).group(1)
        page = requests.get(url, timeout=10)
        assert (page.status_code, page.text) == (200, "<h1>My docs</h1>")
        assert requests.get(url + ".buildinfo", timeout=10).status_code == 404
        assert serving.stop() == 0
    finally:
        serving.close()
