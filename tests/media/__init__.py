"""Tests of longvid.media: fetch, probe and segment."""
