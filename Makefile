# Two commands do everything on a fresh machine: `make plan` and `make test`.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
STACK   ?= prod
PLAN_OUT ?=
SDK_IMPORTS := import pulumi, pulumi.runtime.mocks, pulumi_aws as aws, pulumi_eks, pulumi_kubernetes as k8s; \
	aws.ec2.Vpc, aws.iam.Role, aws.eks.Addon, aws.kms.Key, aws.cloudwatch.LogGroup, pulumi_eks.Cluster, k8s.Provider

.PHONY: plan test bench clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

plan: $(VENV)/.installed  ## offline plan of $(STACK) (default prod): no Pulumi CLI or AWS account needed
	$(PYTHON) -m mercur plan $(STACK) $(if $(PLAN_OUT),--out $(PLAN_OUT))

test: $(VENV)/.installed  ## the whole suite: unit, component and whole-program tests over all stacks
	$(PYTHON) -m pytest -q -n 2

bench: $(VENV)/.installed  ## plan prod vs merely importing the SDK modules it uses (target: <= 1.5x)
	/usr/bin/time -f "sdk imports: %e s, %M KB" $(PYTHON) -c "$(SDK_IMPORTS)"
	/usr/bin/time -f "plan prod --json: %e s, %M KB" $(PYTHON) -m mercur plan prod --json > /dev/null
	/usr/bin/time -f "make test: %e s, %M KB" $(PYTHON) -m pytest -q -n 2 > /dev/null

clean:
	rm -rf $(VENV) .pytest_cache
