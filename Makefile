# Two commands do everything on a fresh machine: `make plan` and `make test`.
VENV     ?= .venv
PYTHON   := $(VENV)/bin/python
STACK    ?= prod
PLAN_OUT ?=

.DEFAULT_GOAL := help
.PHONY: help plan test bench checkov diagram lock clean

help:  ## list the targets (this)
	@echo "make plan [STACK=dev|staging|prod] [PLAN_OUT=dir]   make test   (first run installs into $(VENV))"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## (.*)/  \1\t\2/' | expand -t 12

# The venv is filled from the locks (exact versions, every file's hash) by uv when it is on PATH or installs
# from PyPI (about 3x faster than pip, compiling bytecode on both cores), else by pip, which checks the same
# hashes by itself. `make plan` installs only the plan's lock. The installer's own version does not matter:
# the lock alone decides what lands in the venv.
define fill_venv
	@echo "make: installing $(1) into $(2) (once; about 15 s with uv, longer with pip alone)" >&2
	@test -x $(2)/bin/python || python3 -m venv $(2)
	@if command -v uv >/dev/null 2>&1 || $(2)/bin/python -m pip install --quiet --disable-pip-version-check uv >/dev/null 2>&1; then \
		uv=$$(command -v uv || echo $(2)/bin/uv); \
		$$uv pip install --quiet --require-hashes --compile-bytecode --python $(2)/bin/python -r $(1); \
	else \
		$(2)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(1); \
	fi
endef

$(VENV)/.plan-deps: requirements.txt
	$(call fill_venv,requirements.txt,$(VENV))
	@touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt
	$(call fill_venv,requirements-dev.txt,$(VENV))
	@touch $(VENV)/.plan-deps $@

# Byte-compile the package when it changed: Python skips that itself where PYTHONDONTWRITEBYTECODE is set,
# and would then recompile every module on every run (about 30 ms of each plan).
COMPILE := $(PYTHON) -m compileall -q -j 0 mercur > /dev/null

plan: $(VENV)/.plan-deps  ## offline plan of STACK (default prod): no Pulumi CLI or AWS account needed
	@$(COMPILE)
	@$(PYTHON) -m mercur plan $(STACK) $(if $(PLAN_OUT),--out $(PLAN_OUT))

# The suite caches bytecode (its own and pytest's rewritten test modules) even where PYTHONDONTWRITEBYTECODE
# is set: three processes (two workers and the controller) import every module, and a run then takes ~1 s less.
test: $(VENV)/.dev-deps  ## the whole suite: unit, component and whole-program tests over all stacks
	env -u PYTHONDONTWRITEBYTECODE $(PYTHON) -m pytest -q -n 2 --dist worksteal

bench: $(VENV)/.dev-deps  ## plan vs importing its SDK classes, synthetic stacks, the suite (writes nothing here)
	$(PYTHON) -m mercur.offline.bench

# Checkov lives in a venv of its own (its pins would move the program's); the fill is the same hash-checked one.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.deps: requirements-checkov.txt
	$(call fill_venv,requirements-checkov.txt,$(CHECKOV_VENV))
	@touch $@

checkov: $(VENV)/.plan-deps $(CHECKOV_VENV)/.deps  ## Checkov over every stack's plan and manifests (exit 1 on a new failure)
	@$(COMPILE)
	$(PYTHON) -m mercur.offline.checkov --checkov $(CHECKOV_VENV)/bin/checkov

# The README shows docs/prod-diagram.png; a test holds docs/prod-diagram.mmd to what `plan prod --out` writes
# and the PNG to that .mmd (through the hash beside it).
MERMAID_CLI := @mermaid-js/mermaid-cli@11.17.0
diagram: $(VENV)/.plan-deps  ## redraw docs/prod-diagram.{mmd,png} (needs npm and Debian's chromium)
	@rm -rf $(VENV)/diagram && $(PYTHON) -m mercur plan prod --out $(VENV)/diagram > /dev/null
	cp $(VENV)/diagram/diagram.mmd docs/prod-diagram.mmd
	PUPPETEER_SKIP_DOWNLOAD=1 npx --yes $(MERMAID_CLI) --puppeteerConfigFile docs/puppeteer.json \
		--input docs/prod-diagram.mmd --output docs/prod-diagram.png --width 1600 --backgroundColor white --quiet
	cd docs && sha256sum prod-diagram.mmd > prod-diagram.png.sha256  # which .mmd the PNG shows (a test reads it)

# The three locks come from one resolution: the dev lock (a superset) first, then the program's and the policy
# pack's constrained to its pins, so a package has one version everywhere. `uv pip compile` keeps existing pins;
# to move one, add e.g. `--upgrade-package pulumi-aws` (Dependabot does this through the pip ecosystem).
LOCK = $$(command -v uv || echo $(VENV)/bin/uv) pip compile --quiet --generate-hashes --universal --python-version 3.11
lock: $(VENV)/.plan-deps  ## re-lock requirements*.txt and policy/requirements.txt from their .in files
	$(LOCK) requirements-dev.in -o requirements-dev.txt
	$(LOCK) requirements.in -c requirements-dev.txt -o requirements.txt
	$(LOCK) policy/requirements.in -c requirements-dev.txt -o policy/requirements.txt
	$(LOCK) requirements-checkov.in -o requirements-checkov.txt

clean:  ## remove the venvs
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache
