# promote: build, test, demo.
#
#   make demo    the whole flow on a throwaway copy of the bundled example (the checkout is not touched)
#   make test    every test: unit, integration, `promote check` on the example, Kubernetes schema validation
#
# The promote/* and diff/* targets are what a config repository's own Makefile looks like with promote:
# `make promote/prod REPO=path/to/config-repo`.

CARGO   ?= cargo
PROMOTE ?= target/release/promote
REPO    ?= .
VENV    ?= target/venv
KUBEVAL := $(VENV)/bin/kubernetes-validate

.PHONY: all build test lint demo bench promote/staging promote/prod diff/staging diff/prod status validate

all: build

build:
	$(CARGO) build --release --locked

$(PROMOTE): build

test: $(KUBEVAL)
	$(CARGO) test --locked
	# The integration suite again with every git read and write through the `git` binary.
	PROMOTE_GIT=cli $(CARGO) test --locked --test cli
	$(CARGO) run --quiet --locked -- check
	$(CARGO) run --quiet --locked -- render --check
	KUBERNETES_VALIDATE=$(KUBEVAL) scripts/validate-manifests.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

validate: $(KUBEVAL)
	KUBERNETES_VALIDATE=$(KUBEVAL) scripts/validate-manifests.sh

# The Kubernetes schema validator, in a venv of its own (schemas bundled: no network at run time).
$(KUBEVAL):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0

demo: build
	scripts/demo.sh $(PROMOTE)

bench: build
	scripts/bench.sh $(PROMOTE)
	scripts/bench-backends.sh $(PROMOTE)

promote/staging: $(PROMOTE)
	$(PROMOTE) -C $(REPO) to staging

promote/prod: $(PROMOTE)
	$(PROMOTE) -C $(REPO) to prod

diff/staging: $(PROMOTE)
	$(PROMOTE) -C $(REPO) diff staging

diff/prod: $(PROMOTE)
	$(PROMOTE) -C $(REPO) diff prod

status: $(PROMOTE)
	$(PROMOTE) -C $(REPO) status
