"""Tests for victron_balance."""
