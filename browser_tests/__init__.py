"""Browser tests: the dashboard and the cells card in a real Chromium against the demo."""
