# Two commands do everything on a fresh machine: `make plan` and `make test`.
VENV    ?= .venv
PYTHON  := $(VENV)/bin/python
STACK   ?= prod
PLAN_OUT ?=
# The SDK modules `plan` uses: `make bench` compares the plan with merely importing them (target <= 1.5x).
SDK_IMPORTS := import pulumi.runtime.mocks, pulumi_policy, pulumi_eks; \
	import pulumi_aws.ec2, pulumi_aws.iam, pulumi_aws.eks, pulumi_aws.kms, pulumi_aws.cloudwatch, \
	pulumi_aws.backup, pulumi_aws.dlm, pulumi_aws.sns, pulumi_aws.route53, pulumi_aws.lb; \
	import pulumi_kubernetes.core.v1, pulumi_kubernetes.apps.v1, pulumi_kubernetes.autoscaling.v2, \
	pulumi_kubernetes.policy.v1, pulumi_kubernetes.networking.v1, pulumi_kubernetes.storage.v1

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
