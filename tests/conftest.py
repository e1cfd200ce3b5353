import pytest

import fusegraph as fg


@pytest.fixture(autouse=True)
def _fresh_session():
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    yield
