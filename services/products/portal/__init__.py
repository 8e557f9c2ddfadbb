"""The web portal room: server-rendered pages, search, and the static assets built from npm."""
