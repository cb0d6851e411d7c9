"""What ``s3wsgi publish`` does to what the bucket already holds, run for
real against moto's S3 server: ``--delete`` removes only what a manifest
of ours names (``--force`` for the rest), originals changed behind its back
are sent again with their variants, and ``--create-bucket``."""

from __future__ import annotations

import gzip
import json
import os
import uuid

import brotli
import pytest
from boto3.s3.transfer import TransferConfig
from test_publish import SITE, Recorder, s3wsgi_publish, stored_keys, write_site

from s3wsgi.publish import publish

OTHER_SITE = {"other/index.html": b"<p>another team's site</p>", "other/app.css": b"p{}"}


@pytest.fixture
def site(tmp_path):
    return write_site(tmp_path / "html", SITE)


def body(s3_client, bucket, key) -> bytes:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()


# -- 4. --delete deletes only what a manifest of ours names ------------------------


def test_delete_at_the_root_keeps_keys_no_manifest_of_ours_names(
    site, tmp_path, s3_endpoint, s3_client, empty_bucket
):
    for key, data in OTHER_SITE.items():  # uploaded by another tool, beside ours
        s3_client.put_object(Bucket=empty_bucket, Key=key, Body=data)
    common = (site, "--bucket", empty_bucket, "--endpoint-url", s3_endpoint, "--delete")
    assert s3wsgi_publish(*common).returncode == 0
    (site / "robots.txt").unlink()

    result = s3wsgi_publish(*common)
    assert (result.returncode, result.stderr) == (0, "")
    kept, summary = result.stdout.splitlines()
    assert kept == (
        "kept 2 keys under the prefix that the previous manifest does not name, "
        "e.g. other/app.css (--force deletes them too)"
    )
    assert " · deleted 1 · " in summary  # robots.txt: the manifest named it
    keys = stored_keys(s3_client, empty_bucket)
    assert set(OTHER_SITE) <= set(keys) and "robots.txt" not in keys

    forced = s3wsgi_publish(*common, "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["deleted_keys"] == sorted(OTHER_SITE)
    assert not set(OTHER_SITE) & set(stored_keys(s3_client, empty_bucket))


def test_a_first_delete_without_a_manifest_deletes_nothing(site, client, s3_client, empty_bucket):
    s3_client.put_object(Bucket=empty_bucket, Key="docs/legacy.html", Body=b"<p>old</p>")
    result = publish(site, bucket=empty_bucket, key_prefix="docs", client=client, delete=True)
    assert (result.deleted, result.kept) == ([], ["docs/legacy.html"])
    assert body(s3_client, empty_bucket, "docs/legacy.html") == b"<p>old</p>"


def test_force_needs_delete(site, empty_bucket):
    result = s3wsgi_publish(site, "--bucket", empty_bucket, "--force")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "s3wsgi publish: error: --force needs --delete"


# -- 5. originals changed behind publish's back -------------------------------------


def test_an_original_replaced_by_hand_is_sent_again_with_its_variants(
    site, s3_endpoint, s3_client, empty_bucket
):
    common = (site, "--bucket", empty_bucket, "--endpoint-url", s3_endpoint)
    assert s3wsgi_publish(*common).returncode == 0
    key = "assets/app.3f9a1c2e.js"
    # The same size, other bytes: only the ETag can tell.
    by_hand = SITE[key].replace(b"run", b"RUN")
    assert len(by_hand) == len(SITE[key]) and by_hand != SITE[key]
    s3_client.put_object(Bucket=empty_bucket, Key=key, Body=by_hand)

    result = s3wsgi_publish(*common, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["changed_outside_keys"] == [key]
    assert summary["uploaded_keys"] == [key, key + ".br", key + ".gz"]
    assert body(s3_client, empty_bucket, key) == SITE[key]
    assert gzip.decompress(body(s3_client, empty_bucket, key + ".gz")) == SITE[key]
    assert brotli.decompress(body(s3_client, empty_bucket, key + ".br")) == SITE[key]

    s3_client.put_object(Bucket=empty_bucket, Key=key, Body=by_hand + b"// more\n")
    text = s3wsgi_publish(*common)
    assert text.stdout.splitlines()[0] == (
        f"changed outside publish, sent again from DIR with their variants: {key}"
    )
    assert body(s3_client, empty_bucket, key) == SITE[key]


def test_changes_are_told_from_the_listing_without_a_request_per_file(
    tmp_path, client, s3_client, empty_bucket
):
    """Large files too: the ETag of publish's own multipart upload is known."""
    site = write_site(tmp_path / "big", {"video/clip.mp4": os.urandom(9 << 20), **SITE})
    publish(site, bucket=empty_bucket, client=client)
    recorder = Recorder(client)
    assert publish(site, bucket=empty_bucket, client=client).uploaded == []
    assert recorder.operations() == {"ListObjectsV2": 1, "GetObject": 1}

    # The same bytes, in parts of another size: no digest metadata either.
    s3_client.upload_file(
        str(site / "video/clip.mp4"),
        empty_bucket,
        "video/clip.mp4",
        Config=TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20),
    )
    recorder.clear()
    result = publish(site, bucket=empty_bucket, client=client)
    assert (result.changed_outside, result.uploaded) == (["video/clip.mp4"], ["video/clip.mp4"])
    assert recorder.operations()["HeadObject"] == 1
    head = s3_client.head_object(Bucket=empty_bucket, Key="video/clip.mp4")
    assert head["Metadata"]["s3wsgi-sha256"]


# -- 6. a missing bucket ------------------------------------------------------------


def test_create_bucket_creates_a_missing_bucket(site, s3_endpoint, s3_client):
    bucket = f"new-{uuid.uuid4().hex[:12]}"
    common = (site, "--bucket", bucket, "--endpoint-url", s3_endpoint, "--region", "eu-west-1")
    missing = s3wsgi_publish(*common)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == (
        f"s3wsgi: publish failed: no such bucket {bucket!r} at {s3_endpoint}"
        " (--create-bucket creates it)\n"
    )
    dry = s3wsgi_publish(*common, "--create-bucket", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"would create bucket {bucket}" in dry.stdout.splitlines()

    created = s3wsgi_publish(*common, "--create-bucket")
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines()[0] == f"created bucket {bucket}"
    location = s3_client.get_bucket_location(Bucket=bucket)["LocationConstraint"]
    assert location == "eu-west-1"
    assert body(s3_client, bucket, "index.html") == SITE["index.html"]
    again = s3wsgi_publish(*common, "--create-bucket")
    assert again.returncode == 0 and "created" not in again.stdout


def test_a_bucket_that_cannot_be_created_is_one_clear_line(site, s3_endpoint):
    result = s3wsgi_publish(
        site, "--bucket", "ab", "--endpoint-url", s3_endpoint, "--create-bucket"
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"s3wsgi: publish failed: cannot create bucket 'ab' at {s3_endpoint} in us-east-1: "
        "InvalidBucketName"
    )
    assert len(result.stderr.splitlines()) == 1


def test_a_bucket_key_is_shown_escaped_never_raw_on_the_terminal(
    site, s3_endpoint, s3_client, empty_bucket
):
    """A key is bucket data: an escape sequence in one must not reach the
    operator's terminal as one."""
    hostile = "other/\x1b]0;owned\x07\x1b[31mred.html"
    s3_client.put_object(Bucket=empty_bucket, Key=hostile, Body=b"x")
    common = (site, "--bucket", empty_bucket, "--endpoint-url", s3_endpoint, "--delete")
    assert s3wsgi_publish(*common).returncode == 0
    for extra in ((), ("--force", "--dry-run")):
        result = s3wsgi_publish(*common, *extra)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "\x07" not in result.stdout
        assert repr(hostile) in result.stdout
