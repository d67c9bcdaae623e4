"""Tests of the Venus OS simulator."""
