"""Browser tests of the web portal (Playwright driving the system Chromium)."""
