"""Managed top balance (seed 003) as pure logic: presets, bounds, controller, report.

Nothing here imports Home Assistant. The controller takes one `Measurements` a second
and returns a `Decision` (CVL, CCL, AllowToCharge and what the sensors show); the Home
Assistant side publishes it through the virtual BMS or the DVCC settings.
"""
