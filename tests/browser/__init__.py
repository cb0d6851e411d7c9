"""Tests in a real browser (tox env browser)."""
