# The README's two commands. Windows users without make: python packaging/bootstrap.py run|test
PYTHON ?= python3

.PHONY: run test
run:
	$(PYTHON) packaging/bootstrap.py run

test:
	$(PYTHON) packaging/bootstrap.py test
