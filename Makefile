# Two commands do everything on a fresh machine: `make plan` and `make test`.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
STACK   ?= prod
PLAN_OUT ?=
# `make bench` compares `plan prod` with merely importing the SDK modules a plan loads (target: <= 1.5x).
SDK_PACKAGES := pulumi pulumi_aws pulumi_eks pulumi_kubernetes pulumi_policy
LIST_SDK_MODULES := import sys; from mercur import compliance, synth; \
	compliance.evaluate(synth.synthesize('prod'), 'prod'); \
	print('\n'.join(m for m in sys.modules if m.split('.')[0] in '$(SDK_PACKAGES)'.split()))
IMPORT_SDK_MODULES := import importlib; [importlib.import_module(m) for m in open('.bench-modules').read().split()]

.PHONY: plan test bench clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

plan: $(VENV)/.installed  ## offline plan of $(STACK) (default prod): no Pulumi CLI or AWS account needed
	$(PYTHON) -m mercur plan $(STACK) $(if $(PLAN_OUT),--out $(PLAN_OUT))

test: $(VENV)/.installed  ## the whole suite: unit, component and whole-program tests over all stacks
	$(PYTHON) -m pytest -q -n 2

bench: $(VENV)/.installed  ## plan prod vs importing the SDK modules it loads (target <= 1.5x); the suite
	$(PYTHON) -c "$(LIST_SDK_MODULES)" > .bench-modules
	/usr/bin/time -f "sdk imports: %e s, %M KB" $(PYTHON) -c "$(IMPORT_SDK_MODULES)"
	/usr/bin/time -f "plan prod --json: %e s, %M KB" $(PYTHON) -m mercur plan prod --json > /dev/null
	/usr/bin/time -f "make test: %e s, %M KB" $(PYTHON) -m pytest -q -n 2 > /dev/null
	rm -f .bench-modules

clean:
	rm -rf $(VENV) .pytest_cache
