# The two commands a newcomer needs: `make run` and `make test`.
PORT ?= 5000
HOST ?= 127.0.0.1
DATA_DIR ?= ./data

.PHONY: run test lint install bench

install:
	scripts/install.sh

run: install
	.venv/bin/portside serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

test:
	scripts/install.sh --test
	scripts/test.sh

lint:
	scripts/install.sh --test
	scripts/lint.sh

# Portside and the reference registry side by side (see docs/benchmarks.md); SCALE=tiny for a
# quick check.
SCALE ?= full
bench:
	scripts/install.sh --test
	.venv/bin/python -m benchmarks.run --scale $(SCALE)
