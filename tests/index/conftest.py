from tests.index.helpers import _type_head, catalog, jv_env  # noqa: F401
