import os
import signal

import pytest

from jewel_vision.analysis.soft_limit import SOFT_LIMIT_SIGNAL, soft_limit_held


class Limit(Exception):
    pass


@pytest.fixture
def limit_handler():
    def raise_limit(signum, frame):
        raise Limit()

    previous = signal.signal(SOFT_LIMIT_SIGNAL, raise_limit)
    yield raise_limit
    signal.signal(SOFT_LIMIT_SIGNAL, previous)


def test_a_limit_during_the_block_is_raised_once_the_block_ends(limit_handler):
    done = []
    with pytest.raises(Limit):
        with soft_limit_held():
            os.kill(os.getpid(), SOFT_LIMIT_SIGNAL)
            os.kill(os.getpid(), SOFT_LIMIT_SIGNAL)
            done.append("loaded")  # not cut short
    assert done == ["loaded"]
    assert signal.getsignal(SOFT_LIMIT_SIGNAL) is limit_handler


def test_without_a_limit_the_block_runs_and_the_handler_is_back(limit_handler):
    with soft_limit_held():
        pass
    assert signal.getsignal(SOFT_LIMIT_SIGNAL) is limit_handler
    with pytest.raises(Limit):  # and it stops work again outside the block
        os.kill(os.getpid(), SOFT_LIMIT_SIGNAL)


def test_an_error_in_the_block_propagates_and_the_handler_is_back(limit_handler):
    with pytest.raises(ValueError):
        with soft_limit_held():
            raise ValueError("bad weights")
    assert signal.getsignal(SOFT_LIMIT_SIGNAL) is limit_handler
