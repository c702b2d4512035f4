"""jewel-vision picks no settings by itself: --settings or DJANGO_SETTINGS_MODULE, else a clear error."""

import pytest

from jewel_vision import cli


def test_no_settings_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    with pytest.raises(SystemExit) as exc:
        cli._setup_django(None)
    assert "DJANGO_SETTINGS_MODULE" in str(exc.value) and "--settings" in str(exc.value)


def test_a_settings_module_that_cannot_be_imported_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "nosuchshop.settings")
    with pytest.raises(SystemExit) as exc:
        cli._setup_django(None)
    assert "'nosuchshop.settings' cannot be imported" in str(exc.value)
