"""Test session set-up: the real Kafka broker and PostgreSQL come from tests.fixtures.infra."""

pytest_plugins = ["tests.fixtures.infra", "tests.fixtures.kubernetes", "tests.fixtures.docker"]
