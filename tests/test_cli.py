"""The ``s3wsgi`` command, run as a real process: ``serve`` against moto's
S3 server, its one-line failures, ``S3WSGI_*`` variables, and the offline
``demo`` crawled over HTTP and stopped by signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import requests
from running import Running
from sample_site import SITE

from s3wsgi import Options
from s3wsgi.cli.serve import check_bucket

# Runs commands in subprocesses: not in the fast tier.
pytestmark = pytest.mark.real

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
URL = re.compile(r"http://127\.0\.0\.1:\d+/\S*")


def child_environ(**variables: str) -> dict[str, str]:
    """This process's environment (moto's dummy credentials included), with
    no S3WSGI_* variable but those given."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("S3WSGI_")}
    # Under PYTHONDEVMODE a dependency's DeprecationWarning would print
    # before the one line under test; every other warning still shows.
    environ["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    environ.update(variables)
    return environ


# A shell starts a background job (``cmd &``, or any command a script runs
# in the background) with SIGINT ignored, and exec keeps it ignored: a
# server must still stop when it is sent one.
AS_BACKGROUND_JOB = [
    sys.executable,
    "-c",
    "import os, signal, sys;"
    "signal.signal(signal.SIGINT, signal.SIG_IGN);"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])",
]


def troubles(output: list[str]) -> list[str]:
    """The lines of a run's output that tell of a traceback or a warning
    (Python's, as ResourceWarning, or a logger's WARNING)."""
    return [line for line in output if "traceback" in line.lower() or "warning" in line.lower()]


@pytest.fixture
def run():
    """``run(*args, environ=...)`` starts ``python -m s3wsgi *args``; killed after."""
    started = []

    def start(*args: str, environ: dict[str, str] | None = None, command=None) -> Running:
        running = Running(
            command or [sys.executable, "-m", "s3wsgi", *args], environ or child_environ()
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


def s3wsgi(*args: str, timeout: float = 60, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "s3wsgi", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=child_environ(**variables),
        timeout=timeout,
    )


def free_port() -> int:
    """A loopback port nobody listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_over_http_and_stops_on_sigterm(run, bucket, s3_endpoint):
    server = run(
        "serve", "--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", "0", "--threads", "2"
    )
    url = server.wait_for(URL).group(0)

    home = requests.get(url, timeout=10)
    assert home.status_code == 200
    assert home.content == SITE["index.html"][0]
    assert home.headers["Content-Type"] == "text/html; charset=utf-8"
    head = requests.head(f"{url}style.css", timeout=10)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(SITE["style.css"][0]))
    redirect = requests.get(f"{url}guide", allow_redirects=False, timeout=10)
    assert (redirect.status_code, redirect.headers["Location"]) == (301, "/guide/")
    assert requests.get(f"{url}missing.html", timeout=10).status_code == 404

    assert server.stop(signal.SIGTERM) == 0
    assert not troubles(server.output)


def test_serve_stopped_while_a_client_stalls_mid_body_closes_everything(
    run, bucket, s3_endpoint, s3_client
):
    # 32 MiB: more than the socket buffers take, so waitress holds several
    # MiB for the stalled client in its output buffers, temporary files past
    # 1 MiB. Stopping must close those too: under PYTHONDEVMODE an unclosed
    # one prints a ResourceWarning.
    s3_client.put_object(Bucket=bucket, Key="big.bin", Body=b"\x5a" * (32 << 20))
    server = run(
        "serve",
        "--bucket",
        bucket,
        "--endpoint-url",
        s3_endpoint,
        "--port",
        "0",
        environ=child_environ(PYTHONDEVMODE="1"),
    )
    url = urlsplit(server.wait_for(URL).group(0))
    with socket.create_connection((url.hostname, url.port), timeout=10) as client:
        client.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(1)  # the server fills its buffers for the client that reads no more
        assert server.stop(signal.SIGTERM) == 0
    assert not troubles(server.output)


def test_serve_is_configured_by_s3wsgi_variables(run, bucket, s3_endpoint):
    server = run(
        command=[*AS_BACKGROUND_JOB, "-m", "s3wsgi", "serve"],
        environ=child_environ(
            S3WSGI_BUCKET=bucket,
            S3WSGI_ENDPOINT_URL=s3_endpoint,
            S3WSGI_PORT="0",
            S3WSGI_PREFIX="/manual",
            S3WSGI_KEY_PREFIX="guide",
            S3WSGI_CACHE_CONTROL="max-age=120",
            S3WSGI_HEADERS="X-Frame-Options: DENY\nReferrer-Policy: no-referrer",
        ),
    )
    url = server.wait_for(URL).group(0)

    intro = requests.get(f"{url}manual/intro.html", timeout=10)
    assert intro.status_code == 200
    assert intro.content == SITE["guide/intro.html"][0]
    assert intro.headers["Cache-Control"] == "max-age=120"
    assert intro.headers["X-Frame-Options"] == "DENY"
    assert intro.headers["Referrer-Policy"] == "no-referrer"
    assert requests.get(f"{url}intro.html", timeout=10).status_code == 404
    assert server.stop(signal.SIGINT) == 0


def test_flags_win_over_variables(run, bucket, s3_endpoint):
    server = run(
        "serve",
        "--bucket",
        bucket,
        "--key-prefix",
        "guide",
        "--header",
        "X-Frame-Options: DENY",
        "--header",
        "X-Robots-Tag: noindex",
        environ=child_environ(
            S3WSGI_BUCKET="no-such-bucket-anywhere",
            S3WSGI_ENDPOINT_URL=s3_endpoint,
            S3WSGI_KEY_PREFIX="img",
            S3WSGI_HEADERS="X-Frame-Options: SAMEORIGIN",
            S3WSGI_PORT="0",
        ),
    )
    url = server.wait_for(URL).group(0)
    page = requests.get(f"{url}intro.html", timeout=10)
    assert page.content == SITE["guide/intro.html"][0]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert server.stop() == 0


def test_serve_of_a_missing_bucket_says_so_in_one_line(s3_endpoint):
    started = time.monotonic()
    result = s3wsgi("serve", "--bucket", "no-such-bucket-here", "--endpoint-url", s3_endpoint)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"s3wsgi: cannot serve bucket 'no-such-bucket-here' at {s3_endpoint}: no such bucket\n"
    )


def test_serve_against_a_refused_endpoint_says_so_in_one_line():
    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = s3wsgi("serve", "--bucket", "docs", "--endpoint-url", endpoint)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stderr == (
        f"s3wsgi: cannot serve bucket 'docs' at {endpoint}: connection refused\n"
    )


def test_serve_on_a_port_in_use_says_so_in_one_line(bucket, s3_endpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = s3wsgi(
            "serve", "--bucket", bucket, "--endpoint-url", s3_endpoint, "--port", str(port)
        )
    assert result.returncode == 1
    in_use = "address already in use (another port: --port)"
    assert result.stderr == f"s3wsgi: cannot listen on 127.0.0.1:{port}: {in_use}\n"


def test_serve_without_a_bucket_is_a_usage_error():
    result = s3wsgi("serve")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: s3wsgi serve --bucket BUCKET [options]\n")
    assert "error: the following arguments are required: --bucket" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        ((), {"S3WSGI_BUCKET": "docs", "S3WSGI_PORT": "http"}, "S3WSGI_PORT: 'http' is not a"),
        (("--bucket", "docs", "--port", "70000"), {}, "--port: '70000' is not between 0 and"),
        (("--bucket", "docs", "--read-timeout", "soon"), {}, "--read-timeout: 'soon' is not a"),
        (("--bucket", "docs"), {"S3WSGI_BUKET": "docs"}, "S3WSGI_BUKET: unknown setting"),
        (("--bucket", "docs", "--prefix", "docs"), {}, "--prefix must start with '/'"),
        # The flag the user wrote, not the Python option's name.
        (("--bucket", "docs", "--chunk-size", "1024"), {}, "--chunk-size must be at least 64"),
        (
            ("--bucket", "docs", "--deadline", "5"),
            {},
            "--deadline (5 s) must be at least --connect-timeout + --read-timeout",
        ),
        (("--bucket", "docs", "--store", "s4"), {}, "--store: 's4' is not one of auto,"),
        (("--bucket", "docs", "--nope"), {}, "unrecognized arguments: --nope"),
        # A live boto3 client cannot come from a command line.
        (("--bucket", "docs", "--client", "x"), {}, "unrecognized arguments: --client x"),
    ],
)
def test_bad_settings_are_one_clear_usage_error(args, variables, message):
    result = s3wsgi("serve", *args, **variables)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: s3wsgi serve --bucket BUCKET [options]\n")
    assert f"s3wsgi serve: error: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_console_script_and_python_m_are_the_same_command():
    script = Path(sysconfig.get_path("scripts")) / "s3wsgi"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=child_environ()
    )
    assert result.returncode == 0
    assert result.stdout == s3wsgi("--version").stdout
    assert re.fullmatch(r"s3wsgi \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize(
    "launcher, signum",
    [
        ([sys.executable], signal.SIGINT),
        ([sys.executable], signal.SIGTERM),
        (AS_BACKGROUND_JOB, signal.SIGINT),
    ],
    ids=["sigint", "sigterm", "sigint-to-a-background-job"],
)
def test_the_standalone_example_serves_the_bucket_from_variables(
    run, bucket, s3_endpoint, launcher, signum
):
    server = run(
        command=[*launcher, str(EXAMPLES / "standalone.py")],
        environ=child_environ(
            S3WSGI_BUCKET=bucket, S3WSGI_ENDPOINT_URL=s3_endpoint, S3WSGI_PORT="0"
        ),
    )
    # waitress says where it listens.
    url = server.wait_for(re.compile(r"Serving on (http://\S+)")).group(1)
    page = requests.get(f"{url}/guide/", timeout=10)
    assert page.content == SITE["guide/index.html"][0]
    assert server.stop(signum) == 0
    # waitress.serve() leaves its sockets to the process's exit, which
    # PYTHONDEVMODE reports; the example keeps to it, as its users would.
    assert not [line for line in server.output if "Traceback" in line]


class Links(HTMLParser):
    """The href and src attributes of a page."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def demo_site_keys() -> set[str]:
    keys, pending = set(), [("", resources.files("s3wsgi").joinpath("demo_site"))]
    while pending:
        folder, entry = pending.pop()
        for child in entry.iterdir():
            if child.is_dir():
                pending.append((f"{folder}{child.name}/", child))
            else:
                keys.add(folder + child.name)
    return keys


def crawl(start: str) -> dict[str, requests.Response]:
    """Every URL under ``start`` reachable by links from it, fetched once."""
    seen: dict[str, requests.Response] = {}
    pending = [start]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        response = seen[url] = requests.get(url, timeout=10)
        if response.headers.get("Content-Type", "").startswith("text/html"):
            parser = Links()
            parser.feed(response.text)
            for link in parser.links:
                target = urljoin(url, link).split("#")[0]
                if target.startswith(start):
                    pending.append(target)
    return seen


def test_demo_serves_the_whole_sample_site_and_stops_on_sigint(run):
    demo = run("demo", "--port", "0")
    docs = demo.wait_for(URL).group(0)
    assert docs.endswith("/docs/")
    home = requests.get(docs[: -len("docs/")], timeout=10)
    assert home.status_code == 200 and 'href="docs/"' in home.text

    pages = crawl(docs)
    assert {url: r.status_code for url, r in pages.items() if r.status_code != 200} == {}
    # Every bundled file is linked from the site, and served.
    reached = set()
    for url in pages:
        path = unquote(urlsplit(url).path)[len("/docs/") :]
        reached.add(path + "index.html" if path == "" or path.endswith("/") else path)
    assert reached == demo_site_keys()

    cafe = next(r for url, r in pages.items() if unquote(url).endswith("/guide/café.html"))
    assert "Tutorial: the café queue" in cafe.text
    types = {url.rsplit(".", 1)[-1]: r.headers["Content-Type"] for url, r in pages.items()}
    assert types["css"] == "text/css; charset=utf-8"
    assert types["js"] == "text/javascript; charset=utf-8"
    assert types["png"] == "image/png"
    assert types["svg"].startswith("image/svg+xml")
    again = requests.get(docs, headers={"If-None-Match": pages[docs].headers["ETag"]}, timeout=10)
    assert again.status_code == 304

    started = time.monotonic()
    assert demo.stop(signal.SIGINT) == 0
    assert time.monotonic() - started < 15


def test_demo_stops_cleanly_on_sigterm(run):
    demo = run("demo", "--port", "0")
    docs = demo.wait_for(URL).group(0)
    assert requests.get(f"{docs}guide/install.html", timeout=10).status_code == 200
    assert demo.stop(signal.SIGTERM) == 0
    # Under PYTHONDEVMODE (tox), an unclosed socket or file would show here.
    assert not troubles(demo.output)


class FakeS3(BaseHTTPRequestHandler):
    """Answers HeadBucket and GetObject as a given S3 would, for the checks
    that moto's server (which accepts any credentials) cannot make."""

    answers: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_HEAD(self):
        self._answer(self.answers["HEAD"], body=False)

    def do_GET(self):
        self._answer(self.answers["GET"], body=True)

    def _answer(self, answer, *, body):
        status, headers, content = answer
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(content))}.items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(content)

    def log_message(self, *args):
        pass


def s3_error(code: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{code} says S3</Message></Error>"
    ).encode()


@pytest.fixture
def fake_s3():
    """``fake_s3(head=(status, headers), get=(status, headers, body))`` -> endpoint."""
    servers = []

    def start(*, head, get=(500, {}, b"")):
        handler = type("Answers", (FakeS3,), {"answers": {"HEAD": (*head, b""), "GET": get}})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("head", "get", "reason"),
    [
        ((403, {}), (403, {}, s3_error("InvalidAccessKeyId")), "the credentials were refused"),
        ((403, {}), (403, {}, s3_error("SignatureDoesNotMatch")), "the credentials were refused"),
        ((403, {}), (403, {}, s3_error("AccessDenied")), "access denied (check the credentials"),
        ((403, {}), (404, {}, s3_error("NoSuchBucket")), "no such bucket"),
        ((404, {}), (404, {}, s3_error("NoSuchBucket")), "no such bucket"),
        ((500, {}), (500, {}, s3_error("InternalError")), "S3 answered 500"),
    ],
)
def test_the_bucket_check_says_what_s3_refused(fake_s3, head, get, reason):
    endpoint = fake_s3(head=head, get=get)
    problem = check_bucket(Options(bucket="docs", endpoint_url=endpoint))
    assert problem.startswith(f"cannot serve bucket 'docs' at {endpoint}: {reason}")
    assert "\n" not in problem


@pytest.mark.parametrize(
    "get",
    [
        (206, {"Content-Range": "bytes 0-0/10", "Content-Type": "text/html"}, b"<"),
        (404, {}, s3_error("NoSuchKey")),
    ],
)
def test_a_readable_bucket_without_list_permission_passes_the_check(fake_s3, get):
    # HeadBucket needs s3:ListBucket; reading the index document shows the
    # credentials can read objects all the same.
    endpoint = fake_s3(head=(403, {}), get=get)
    assert check_bucket(Options(bucket="docs", endpoint_url=endpoint)) is None


def test_serve_with_refused_credentials_says_so_in_one_line(fake_s3):
    endpoint = fake_s3(head=(403, {}), get=(403, {}, s3_error("InvalidAccessKeyId")))
    result = s3wsgi("serve", "--bucket", "docs", "--endpoint-url", endpoint)
    assert result.returncode == 1
    assert result.stderr == (
        f"s3wsgi: cannot serve bucket 'docs' at {endpoint}: "
        "the credentials were refused (InvalidAccessKeyId)\n"
    )


def test_every_option_of_serve_is_in_its_help_with_its_variable():
    from s3wsgi import options

    result = s3wsgi("serve", "--help")
    assert result.returncode == 0
    for name in options.command_line_options():
        assert options.flag(name) in result.stdout, name
        assert options.environ_name(name) in result.stdout, name


# --- s3wsgi check, and check=True: a wrong setting said at start --------------------


def without_credentials() -> dict[str, str]:
    """A machine with no AWS configuration at all, as a new user's laptop."""
    return {
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def test_check_says_a_bucket_can_be_served(bucket, s3_endpoint):
    result = s3wsgi("check", "--bucket", bucket, S3WSGI_ENDPOINT_URL=s3_endpoint)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"s3wsgi: bucket {bucket!r} can be served\n"


@pytest.mark.parametrize(
    ("bucket_name", "variables", "reason"),
    [
        ("no-such-bucket-here", {}, "no such bucket"),
        ("docs", without_credentials(), "no AWS credentials found (set AWS_ACCESS_KEY_ID"),
    ],
    ids=["missing-bucket", "no-credentials"],
)
def test_check_says_what_is_wrong_in_one_line(s3_endpoint, bucket_name, variables, reason):
    result = s3wsgi("check", "--bucket", bucket_name, "--endpoint-url", s3_endpoint, **variables)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"s3wsgi: cannot serve bucket {bucket_name!r} at {s3_endpoint}: "
    )
    assert reason in result.stderr and result.stderr.count("\n") == 1


def test_check_true_refuses_to_start_with_the_reason(bucket, s3_endpoint, monkeypatch):
    from s3wsgi import S3Middleware
    from s3wsgi.check import BucketProblem

    app = S3Middleware(None, bucket=bucket, endpoint_url=s3_endpoint, check=True)
    assert app.options.check
    with pytest.raises(BucketProblem, match="no such bucket"):
        S3Middleware(None, bucket="no-such-bucket-here", endpoint_url=s3_endpoint, check=True)
    for name, value in without_credentials().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BucketProblem, match="no AWS credentials found"):
        S3Middleware(None, bucket=bucket, endpoint_url=s3_endpoint, check=True)
