# Pola: the two commands a newcomer needs (`make run`, `make test`), and the benchmarks.
# Every target installs what is missing from Debian's packages and keeps its state in ./var.

SHELL := /bin/bash
TEST_DB_PORT := 3317
# CI builds once from a fresh clone: incremental state would only take disk (4 GB of 11).
ifeq ($(CI),true)
export CARGO_INCREMENTAL := 0
endif
TEST_MQ_PORT := 5674
TEST_OPENSEARCH_PORT := 9250

.PHONY: run test bench lint deps stop clean-var

## Run the platform, both sites (DC MariaDB 127.0.0.1:3307, DR 3308), demo shop, API on http://127.0.0.1:8080
run: deps
	bash scripts/run.sh

## Run every test: formatting, lints, unit and integration tests against a private MariaDB
TEST_ENV := POLA_TEST_DATABASE_URL=mysql://root@127.0.0.1:$(TEST_DB_PORT) \
	POLA_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$(TEST_MQ_PORT)/%2f \
	POLA_TEST_OPENSEARCH_URL=http://127.0.0.1:$(TEST_OPENSEARCH_PORT)

test: deps
	bash scripts/mariadb.sh start test-mariadb $(TEST_DB_PORT) fast
	bash scripts/rabbitmq.sh start test-rabbitmq $(TEST_MQ_PORT)
	bash scripts/opensearch.sh start test-opensearch $(TEST_OPENSEARCH_PORT) # APM: a real node from Maven Central
	bash scripts/python.sh >/dev/null # aiosmtpd, the notification tests' SMTP server
	bash scripts/ansible.sh >/dev/null # the two-site playbooks the end-to-end tests run
	bash scripts/browser.sh >/dev/null # Chromium, ChromeDriver and axe-core: the storefront's browser tests
	bash scripts/fonts.sh >/dev/null # the storefront's fonts as WOFF2, for the two sites the end-to-end tests run
	$(MAKE) --no-print-directory lint
	@echo "Every test cargo test --workspace runs, one binary after another, and the API suite again through pola-edge and its WAF:"
	$(TEST_ENV) bash scripts/test-all.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cd ansible && ../var/ansible/bin/ansible-lint --offline --nocolor
# The playbooks against the on-prem inventory terraform/ generates (an unparsable inventory fails).
	cd ansible && ANSIBLE_INVENTORY_UNPARSED_FAILED=true ../var/ansible/bin/ansible-inventory -i inventories/onprem --graph >/dev/null
	cd ansible && ANSIBLE_INVENTORY_UNPARSED_FAILED=true ../var/ansible/bin/ansible-playbook -i inventories/onprem --syntax-check playbooks/*.yml >/dev/null

## Measure catalog reads and checkouts on a release build (see scripts/bench.sh)
bench:
	bash scripts/deps.sh --bench
	bash scripts/bench.sh

deps:
	bash scripts/deps.sh

## Stop the private MariaDB, RabbitMQ and OpenSearch instances, and both sites of `make run`
stop:
	-bash scripts/sites.sh stop
	-bash scripts/mariadb.sh stop mariadb
	-bash scripts/mariadb.sh stop test-mariadb
	-bash scripts/mariadb.sh stop bench-mariadb
	-bash scripts/mariadb.sh stop bench-replica
	-bash scripts/sinks.sh stop
	-bash scripts/rabbitmq.sh stop rabbitmq
	-bash scripts/rabbitmq.sh stop rabbitmq-dr
	-bash scripts/rabbitmq.sh stop test-rabbitmq
	-bash scripts/opensearch.sh stop opensearch
	-bash scripts/opensearch.sh stop test-opensearch
	-bash scripts/opensearch.sh stop bench-opensearch
