"""Tests of the top-balance pure logic."""
