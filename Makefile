# pacslab: `make run` starts the platform on a demo archive; `make test` runs every test.
# Both set everything up on a fresh machine (a .venv, the Python packages, and as root the Debian peers).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ROOT ?= demo-archive
DEMO_INPUT ?= demo-input
JUPYTER_PORT ?= 8888
DICOM_PORT ?= 11112
TEST_WORKERS ?= 2
DEBIAN_PACKAGES := dcmtk orthanc orthanc-dicomweb dicom3tools chromium postgresql

.PHONY: run test venv system-deps demo clean bench lint bytecode

venv: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt extensions/jupyterlab-pacslab/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[all,test]"
	# the JupyterLab extension, prebuilt: no node needed to install it
	$(PY) -m pip install -q extensions/jupyterlab-pacslab
	touch $(STAMP)

# Debian peers the tests talk to (dcmtk, Orthanc, dciodvfy). Installed when missing and we are root.
system-deps:
	@missing=""; \
	command -v storescu >/dev/null || missing="$$missing dcmtk"; \
	command -v Orthanc >/dev/null || missing="$$missing orthanc"; \
	test -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so || missing="$$missing orthanc-dicomweb"; \
	command -v dciodvfy >/dev/null || missing="$$missing dicom3tools"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	  else echo "warning: missing$$missing (run as root or apt-get install them); tests needing them skip"; fi; \
	fi

# pacslab's own modules compiled ahead (an editable install has no .pyc, and where PYTHONDONTWRITEBYTECODE
# is set Python compiles them again at every start: ~0.1 s of each command); only changed files are redone
bytecode: $(STAMP)
	$(PY) -m compileall -q pacslab

demo: $(STAMP) bytecode
	test -d $(DEMO_ROOT) || ($(VENV)/bin/pacslab demo $(DEMO_INPUT) && \
	  $(VENV)/bin/pacslab init $(DEMO_ROOT) && $(VENV)/bin/pacslab ingest $(DEMO_ROOT) $(DEMO_INPUT))

run: system-deps demo
	mkdir -p $(VENV)/share/jupyter/lab/settings
	echo '{"@jupyterlab/apputils-extension:notification": {"checkForUpdates": false, "fetchNews": "false"}}' \
	  > $(VENV)/share/jupyter/lab/settings/overrides.json
	PACSLAB_ARCHIVE=$(abspath $(DEMO_ROOT)) $(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 \
	  --port=$(JUPYTER_PORT) --allow-root --LabApp.extension_manager=readonly \
	  --ServerApp.root_dir=$(abspath notebooks) --LabApp.default_url=/lab/tree/00_quickstart.ipynb \
	  --PacslabConfig.role=admin --PacslabExtension.start_dicom=True --PacslabExtension.dicom_port=$(DICOM_PORT)

test: system-deps $(STAMP) bytecode
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup -q

bench: $(STAMP) system-deps
	$(PY) benchmarks/run.py

lint: $(STAMP)
	$(PY) -m pip install -q ruff && $(VENV)/bin/ruff check pacslab

clean:
	rm -rf $(VENV) $(DEMO_ROOT) $(DEMO_INPUT)
