# Developer shortcuts; the README's two commands are scripts/serve.sh and scripts/test.sh.
PY := .venv/bin/python

.PHONY: serve test unit lint bench
serve:
	bash scripts/serve.sh
test:
	bash scripts/test.sh
unit:
	$(PY) -m pytest tests/unit tests/contract -q
lint:
	$(PY) -m ruff check src tests bench
	$(PY) -m mypy
	.venv/bin/lint-imports
bench:
	$(PY) bench/seafhttp_throughput.py
